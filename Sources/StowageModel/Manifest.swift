/// An image manifest (OCI or Docker schema 2): a config and an ordered list of layers.
///
/// Decoding a manifest never replaces its stored bytes: Stowage keeps and copies
/// the original bytes, and uses this type only to find what they reference.
public struct Manifest: Hashable, Sendable, Codable {
    /// Always 2 for the formats Stowage handles.
    public var schemaVersion: Int
    /// The manifest's own media type, when it states one.
    public var mediaType: MediaType?
    /// The type of an artifact manifest.
    public var artifactType: String?
    /// The image config (or artifact config) descriptor.
    public var config: Descriptor
    /// The layers, base first.
    public var layers: [Descriptor]
    /// The manifest this one refers to (referrers API), if any.
    public var subject: Descriptor?
    /// Arbitrary metadata.
    public var annotations: [String: String]?
    /// Fields this version of Stowage does not model, kept as they were.
    public var unknownFields: [String: JSONValue] = [:]

    /// Creates an OCI image manifest.
    public init(
        mediaType: MediaType? = .ociManifest, config: Descriptor, layers: [Descriptor],
        annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// The artifact type an OCI 1.1 manifest without `artifactType` implies: its config's
    /// media type, unless that is an image config or the empty descriptor.
    public var configArtifactType: String? {
        guard !config.mediaType.isImageConfig, config.mediaType != .ociEmpty else { return nil }
        return config.mediaType.rawValue
    }

    private static let known: Set<String> = [
        "schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        schemaVersion = try c.decode(Int.self, "schemaVersion")
        mediaType = try c.decodeIfPresent(MediaType.self, "mediaType")
        artifactType = try c.decodeIfPresent(String.self, "artifactType")
        config = try c.decode(Descriptor.self, "config")
        layers = try c.decodeIfPresent([Descriptor].self, "layers") ?? []
        subject = try c.decodeIfPresent(Descriptor.self, "subject")
        annotations = try c.decodeIfPresent([String: String].self, "annotations")
        unknownFields = try c.unknownFields(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(schemaVersion, "schemaVersion")
        try c.encodeIfPresent(mediaType, "mediaType")
        try c.encodeIfPresent(artifactType, "artifactType")
        try c.encode(config, "config")
        try c.encode(layers, "layers")
        try c.encodeIfPresent(subject, "subject")
        try c.encodeIfPresent(annotations, "annotations")
        try c.encodeUnknown(unknownFields)
    }
}
