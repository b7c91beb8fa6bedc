/// The platform an image runs on, as in an index entry or an image config.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The CPU architecture, in Go's `GOARCH` names (`amd64`, `arm64`, `ppc64le`).
    public var architecture: String
    /// The operating system, in Go's `GOOS` names (`linux`, `windows`).
    public var os: String
    /// The CPU variant (`v7`, `v8`), when the architecture has several.
    public var variant: String?
    /// The operating system version (`os.version`), used by Windows images.
    public var osVersion: String?
    /// Required operating system features (`os.features`).
    public var osFeatures: [String]?
    /// Fields this version of Stowage does not model, kept as they were.
    public var unknownFields: [String: JSONValue] = [:]

    /// Creates a platform.
    public init(
        os: String, architecture: String, variant: String? = nil,
        osVersion: String? = nil, osFeatures: [String]? = nil
    ) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
        self.osVersion = osVersion
        self.osFeatures = osFeatures
    }

    /// Parses `os/arch[/variant]`, as users write it on the command line.
    public init(parsing string: String) throws {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let valid = (2...3).contains(parts.count) && parts.allSatisfy { part in
            !part.isEmpty && part.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || $0 == "_" || $0 == "-" || $0 == "."
            }
        }
        guard valid else {
            throw StowageError(.invalidPlatform, "invalid platform '\(Digest.printable(string))': expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// `os/arch[/variant]`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "/")
    }

    private static let known: Set<String> = ["architecture", "os", "variant", "os.version", "os.features"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        architecture = try c.decode(String.self, "architecture")
        os = try c.decode(String.self, "os")
        variant = try c.decodeIfPresent(String.self, "variant")
        osVersion = try c.decodeIfPresent(String.self, "os.version")
        osFeatures = try c.decodeIfPresent([String].self, "os.features")
        unknownFields = try c.unknownFields(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(architecture, "architecture")
        try c.encode(os, "os")
        try c.encodeIfPresent(variant, "variant")
        try c.encodeIfPresent(osVersion, "os.version")
        try c.encodeIfPresent(osFeatures, "os.features")
        try c.encodeUnknown(unknownFields)
    }
}
