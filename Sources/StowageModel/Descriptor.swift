/// An OCI content descriptor: what a piece of content is, its digest and its size.
public struct Descriptor: Hashable, Sendable, Codable {
    /// The media type of the referenced content.
    public var mediaType: MediaType
    /// The digest of the referenced content; always a validated sha256.
    public var digest: Digest
    /// The size of the referenced content in bytes; never negative.
    public var size: Int64
    /// URLs the content may be downloaded from (non-distributable layers).
    public var urls: [String]?

    /// A foreign layer: non-distributable and fetched from its `urls`, so neither a layout
    /// nor a registry need hold it, and no copy moves it.
    public var isForeignLayer: Bool {
        mediaType.isNonDistributable && !(urls ?? []).isEmpty
    }
    /// Arbitrary metadata; `org.opencontainers.image.ref.name` names an image in `index.json`.
    public var annotations: [String: String]?
    /// The platform an image manifest runs on, when the descriptor is an index entry.
    public var platform: Platform?
    /// The type of an artifact, when the descriptor points at one.
    public var artifactType: String?
    /// The content itself, base64-encoded, when embedded.
    public var data: String?
    /// Fields this version of Stowage does not model, kept as they were.
    public var unknownFields: [String: JSONValue]

    /// The annotation that names an image in an OCI layout's `index.json`.
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
    /// The annotation containerd and newer `docker save` use for the full image name.
    public static let containerdNameAnnotation = "io.containerd.image.name"

    /// Creates a descriptor.
    public init(
        mediaType: MediaType, digest: Digest, size: Int64,
        annotations: [String: String]? = nil, platform: Platform? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
        self.unknownFields = [:]
    }

    /// The reference this descriptor carries in `org.opencontainers.image.ref.name`, if any.
    public var refName: String? {
        get { annotations?[Self.refNameAnnotation] }
        set {
            var updated = annotations ?? [:]
            updated[Self.refNameAnnotation] = newValue
            annotations = updated.isEmpty ? nil : updated
        }
    }

    private static let known: Set<String> = [
        "mediaType", "digest", "size", "urls", "annotations", "platform", "artifactType", "data",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        mediaType = try c.decode(MediaType.self, "mediaType")
        digest = try c.decode(Digest.self, "digest")
        size = try c.decode(Int64.self, "size")
        guard size >= 0 else {
            throw StowageError(.invalidJSON, "descriptor \(digest) has a negative size \(size)")
        }
        urls = try c.decodeIfPresent([String].self, "urls")
        annotations = try c.decodeIfPresent([String: String].self, "annotations")
        platform = try c.decodeIfPresent(Platform.self, "platform")
        artifactType = try c.decodeIfPresent(String.self, "artifactType")
        data = try c.decodeIfPresent(String.self, "data")
        unknownFields = try c.unknownFields(excluding: Self.known)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(mediaType, "mediaType")
        try c.encode(digest, "digest")
        try c.encode(size, "size")
        try c.encodeIfPresent(urls, "urls")
        try c.encodeIfPresent(annotations, "annotations")
        try c.encodeIfPresent(platform, "platform")
        try c.encodeIfPresent(artifactType, "artifactType")
        try c.encodeIfPresent(data, "data")
        try c.encodeUnknown(unknownFields)
    }
}
