/// The platform fields of an image config; the rest of the config is never re-encoded.
public struct ImageConfig: Hashable, Sendable, Decodable {
    /// The CPU architecture the image's binaries are built for.
    public var architecture: String
    /// The operating system the image runs on.
    public var os: String
    /// The CPU variant, when set by the builder.
    public var variant: String?
    /// The operating system version (`os.version`).
    public var osVersion: String?
    /// Required operating system features (`os.features`).
    public var osFeatures: [String]?

    /// The platform this config declares.
    public var platform: Platform {
        Platform(os: os, architecture: architecture, variant: variant, osVersion: osVersion, osFeatures: osFeatures)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        architecture = try c.decodeIfPresent(String.self, "architecture") ?? ""
        os = try c.decodeIfPresent(String.self, "os") ?? ""
        variant = try c.decodeIfPresent(String.self, "variant")
        osVersion = try c.decodeIfPresent(String.self, "os.version")
        osFeatures = try c.decodeIfPresent([String].self, "os.features")
    }
}
