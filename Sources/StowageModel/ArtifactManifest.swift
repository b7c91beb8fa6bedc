/// An OCI artifact manifest (`application/vnd.oci.artifact.manifest.v1+json`): the
/// short-lived artifact format of the OCI 1.1 release candidates, still written by
/// older oras and found in archives. It has `blobs` instead of a config and layers.
///
/// As with `Manifest`, the stored bytes are what Stowage keeps and copies; this type
/// only finds what they reference.
public struct ArtifactManifest: Hashable, Sendable, Codable {
    /// The manifest's media type (always the artifact manifest type).
    public var mediaType: MediaType?
    /// The type of the artifact.
    public var artifactType: String?
    /// The artifact's blobs, of any media type, opaque to Stowage.
    public var blobs: [Descriptor]
    /// The manifest this one refers to, if any.
    public var subject: Descriptor?
    /// Arbitrary metadata.
    public var annotations: [String: String]?
    /// Fields this version of Stowage does not model, kept as they were.
    public var unknownFields: [String: JSONValue] = [:]

    private static let known: Set<String> = ["mediaType", "artifactType", "blobs", "subject", "annotations"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        mediaType = try c.decodeIfPresent(MediaType.self, "mediaType")
        artifactType = try c.decodeIfPresent(String.self, "artifactType")
        blobs = try c.decodeIfPresent([Descriptor].self, "blobs") ?? []
        subject = try c.decodeIfPresent(Descriptor.self, "subject")
        annotations = try c.decodeIfPresent([String: String].self, "annotations")
        unknownFields = try c.unknownFields(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encodeIfPresent(mediaType, "mediaType")
        try c.encodeIfPresent(artifactType, "artifactType")
        try c.encode(blobs, "blobs")
        try c.encodeIfPresent(subject, "subject")
        try c.encodeIfPresent(annotations, "annotations")
        try c.encodeUnknown(unknownFields)
    }
}
