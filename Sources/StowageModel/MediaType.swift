/// A media type string, with the OCI and Docker schema 2 types Stowage knows by name.
///
/// Unknown media types are kept as they are: Stowage copies what it does not
/// understand byte for byte.
public struct MediaType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The media type string as it appears in JSON.
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// OCI image manifest.
    public static let ociManifest: MediaType = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex: MediaType = "application/vnd.oci.image.index.v1+json"
    /// OCI image config.
    public static let ociConfig: MediaType = "application/vnd.oci.image.config.v1+json"
    /// OCI layer, uncompressed tar.
    public static let ociLayer: MediaType = "application/vnd.oci.image.layer.v1.tar"
    /// OCI layer, gzip-compressed tar.
    public static let ociLayerGzip: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    /// OCI layer, zstd-compressed tar.
    public static let ociLayerZstd: MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// OCI empty descriptor (`{}`), used by artifacts.
    public static let ociEmpty: MediaType = "application/vnd.oci.empty.v1+json"
    /// OCI 1.1-rc artifact manifest (`blobs`, no config), still written by older oras.
    public static let ociArtifactManifest: MediaType = "application/vnd.oci.artifact.manifest.v1+json"
    /// Docker schema 2 manifest.
    public static let dockerManifest: MediaType = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker schema 2 manifest list.
    public static let dockerManifestList: MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker image config.
    public static let dockerConfig: MediaType = "application/vnd.docker.container.image.v1+json"
    /// Docker layer, gzip-compressed tar.
    public static let dockerLayerGzip: MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    /// Docker foreign (non-distributable) layer.
    public static let dockerForeignLayer: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    /// The media type of a manifest or index document: its own `mediaType` field, else
    /// guessed from its shape (`manifests` → OCI index, `config` → OCI manifest); nil
    /// for a JSON document that is neither. Throws for bytes that are not JSON.
    public init?(ofDocument bytes: [UInt8], what: String) throws {
        guard let guessed = try DocumentShape(bytes, what: what).mediaType else { return nil }
        self = guessed
    }

    /// An image index or a manifest list: a document whose children are manifests.
    public var isIndex: Bool { self == .ociIndex || self == .dockerManifestList }

    /// An image manifest (OCI or Docker schema 2).
    public var isManifest: Bool { self == .ociManifest || self == .dockerManifest }

    /// An image config (OCI or Docker).
    public var isImageConfig: Bool { self == .ociConfig || self == .dockerConfig }

    /// A Docker schema 2 type.
    public var isDocker: Bool { rawValue.hasPrefix("application/vnd.docker.") }

    /// A layer whose bytes may legitimately be absent because it is fetched from `urls`.
    public var isNonDistributable: Bool {
        self == .dockerForeignLayer || rawValue.hasPrefix("application/vnd.oci.image.layer.nondistributable.")
    }
}

/// What a document's top level says it is: its own `mediaType`, and whether it has
/// `manifests` or `config`. Read in one pass of `JSONReader`, building nothing below
/// the top level but what it skips.
struct DocumentShape {
    /// The document's own `mediaType` field, if it has one.
    var stated: MediaType?
    var hasManifests = false
    var hasConfig = false

    /// The shape of a document already read as a manifest: it has a config, and any
    /// `manifests` it carries is among its unknown fields.
    init(of manifest: Manifest) {
        stated = manifest.mediaType
        hasManifests = (manifest.unknownFields["manifests"] ?? .null) != .null
        hasConfig = true
    }

    init(_ bytes: [UInt8], what: String) throws {
        let reader = JSONReader(what: what, bytes: bytes)
        try reader.readObject { key in
            let value = try reader.readValue()
            switch (key, value) {
            case ("mediaType", .string(let text)): stated = MediaType(text)
            case ("mediaType", .null): break
            case ("mediaType", _): throw StowageError(.invalidJSON, "\(what) has a field of the wrong type at 'mediaType'")
            case ("manifests", let found): hasManifests = found != .null
            case ("config", let found): hasConfig = found != .null
            default: break
            }
        }
        try reader.expectEnd()
    }

    /// The stated media type, else the one the shape implies (`manifests` → OCI index,
    /// `config` → OCI manifest); nil for a document that is neither.
    var mediaType: MediaType? {
        stated ?? (hasManifests ? .ociIndex : hasConfig ? .ociManifest : nil)
    }

    /// Whether a document of this shape is what a descriptor of `labelled` says: its
    /// own media type when it states one, else the kind its fields imply, and a kind
    /// with children (`ContentDocument.isDocument`).
    func agrees(with labelled: MediaType) -> Bool {
        guard let own = mediaType, ContentDocument.isDocument(labelled) else { return false }
        return stated != nil
            ? own == labelled
            : (own.isIndex == labelled.isIndex && own.isManifest == labelled.isManifest)
    }
}
