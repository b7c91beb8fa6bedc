/// An image index (OCI) or manifest list (Docker); also the shape of a layout's `index.json`.
public struct Index: Hashable, Sendable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The index's own media type, when it states one.
    public var mediaType: MediaType?
    /// The type of an artifact index.
    public var artifactType: String?
    /// The manifests (or nested indexes) this index lists, in order.
    public var manifests: [Descriptor]
    /// The manifest this one refers to (referrers API), if any.
    public var subject: Descriptor?
    /// Arbitrary metadata.
    public var annotations: [String: String]?
    /// Fields this version of Stowage does not model, kept as they were.
    public var unknownFields: [String: JSONValue] = [:]

    /// Creates an index.
    public init(mediaType: MediaType? = .ociIndex, manifests: [Descriptor] = [], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    private static let known: Set<String> = [
        "schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        schemaVersion = try c.decode(Int.self, "schemaVersion")
        mediaType = try c.decodeIfPresent(MediaType.self, "mediaType")
        artifactType = try c.decodeIfPresent(String.self, "artifactType")
        manifests = try c.decodeIfPresent([Descriptor].self, "manifests") ?? []
        subject = try c.decodeIfPresent(Descriptor.self, "subject")
        annotations = try c.decodeIfPresent([String: String].self, "annotations")
        unknownFields = try c.unknownFields(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(schemaVersion, "schemaVersion")
        try c.encodeIfPresent(mediaType, "mediaType")
        try c.encodeIfPresent(artifactType, "artifactType")
        try c.encode(manifests, "manifests")
        try c.encodeIfPresent(subject, "subject")
        try c.encodeIfPresent(annotations, "annotations")
        try c.encodeUnknown(unknownFields)
    }
}
