/// What a descriptor is to the document that lists it.
public enum ContentRole: String, Sendable, Codable, Equatable {
    /// An entry of the layout's `index.json`.
    case entry
    /// A manifest listed by an index.
    case manifest
    /// An index listed by another index.
    case index
    /// A manifest's config.
    case config
    /// A manifest's layer.
    case layer
    /// The `subject` of a manifest or index (the image a referrer refers to).
    case subject
}

/// A manifest or index, parsed for what it references.
///
/// This is the one definition of a document's children: every walk of a content
/// graph (import, verify, gc, export, push, pull, index building) asks a
/// `ContentDocument` what a manifest or index references. Anything else (configs,
/// layers, artifact blobs of any media type) is opaque bytes with no children.
public enum ContentDocument: Sendable, Equatable {
    /// An OCI image index or a Docker manifest list.
    case index(Index)
    /// An OCI image manifest (artifacts included) or a Docker schema 2 manifest.
    case manifest(Manifest)
    /// An OCI 1.1-rc artifact manifest (`blobs`, no config).
    case artifact(ArtifactManifest)

    /// The largest manifest, index or config Stowage reads into memory, from anywhere.
    public static let maxSize = 16 * 1024 * 1024

    /// How deep indexes may nest below a root: deeper graphs are refused everywhere alike.
    public static let maxDepth = 8

    /// Whether a descriptor of this media type points at a document with children.
    public static func isDocument(_ mediaType: MediaType) -> Bool {
        mediaType.isIndex || mediaType.isManifest || mediaType == .ociArtifactManifest
    }

    /// Fields through which a JSON document may reference other content: a document of
    /// a media type Stowage does not know that has one of them cannot be walked, and
    /// what it references must not be taken for unreferenced.
    public static let referencingFields: Set<String> = [
        "manifests", "config", "layers", "blobs", "subject", "fsLayers",
    ]

    /// Whether `bytes` is a JSON object with a field that may reference other content
    /// (`manifests`, `config`, `layers`, `blobs`, `subject`, Docker schema 1 `fsLayers`).
    /// False for anything that is not a JSON object.
    public static func mayReferenceContent(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
            first == UInt8(ascii: "{"),
            let object = try? JSONCoding.decode([String: JSONValue].self, from: bytes, what: "document")
        else { return false }
        return !referencingFields.isDisjoint(with: object.keys)
    }

    /// Parses the document that a descriptor of media type `mediaType` points at.
    ///
    /// The document must be what its descriptor says: its own `mediaType` field, or,
    /// when it has none, its shape (`manifests` for an index, `config` for a manifest)
    /// must agree with `mediaType`. A mislabelled document is refused, since walking it
    /// as the other kind would lose what it references. `what` names it in errors
    /// ("ARCHIVE: blob sha256:…").
    public init(_ bytes: [UInt8], mediaType: MediaType, what: String) throws {
        // Most documents are manifests that agree with their descriptor: one fast read.
        // Anything else takes the checks below, which word every refusal.
        if mediaType.isManifest, let manifest = Manifest.readFast(bytes, what: what),
            DocumentShape(of: manifest).agrees(with: mediaType)
        {
            self = .manifest(manifest)
            return
        }
        let shape = try DocumentShape(bytes, what: what)
        guard let own = shape.mediaType else {
            throw StowageError(.invalidJSON, "\(what) is labelled \(mediaType) but is neither a manifest nor an index")
        }
        guard shape.agrees(with: mediaType) else {
            throw StowageError(
                .invalidJSON, "\(what) is labelled \(mediaType) by its descriptor, but the document is \(own)")
        }
        if mediaType.isIndex {
            self = .index(try JSONCoding.decode(Index.self, from: bytes, what: what))
        } else if mediaType == .ociArtifactManifest {
            self = .artifact(try JSONCoding.decode(ArtifactManifest.self, from: bytes, what: what))
        } else {
            self = .manifest(try JSONCoding.decode(Manifest.self, from: bytes, what: what))
        }
    }

    /// The `subject` this document refers to, if any.
    public var subject: Descriptor? {
        switch self {
        case .index(let index): index.subject
        case .manifest(let manifest): manifest.subject
        case .artifact(let artifact): artifact.subject
        }
    }

    /// The artifact type, if the document declares one.
    public var artifactType: String? {
        switch self {
        case .index(let index): index.artifactType
        case .manifest(let manifest): manifest.artifactType ?? manifest.configArtifactType
        case .artifact(let artifact): artifact.artifactType
        }
    }

    /// The document's annotations.
    public var annotations: [String: String]? {
        switch self {
        case .index(let index): index.annotations
        case .manifest(let manifest): manifest.annotations
        case .artifact(let artifact): artifact.annotations
        }
    }

    /// Everything the document references, in order, with what each is to it: an
    /// index's manifests and nested indexes, a manifest's config and layers, then
    /// the subject of either.
    public var references: [(descriptor: Descriptor, role: ContentRole)] {
        var out: [(Descriptor, ContentRole)]
        switch self {
        case .index(let index):
            out = index.manifests.map { ($0, $0.mediaType.isIndex ? .index : .manifest) }
        case .manifest(let manifest):
            out = [(manifest.config, .config)] + manifest.layers.map { ($0, .layer) }
        case .artifact(let artifact):
            out = artifact.blobs.map { ($0, .layer) }
        }
        if let subject { out.append((subject, .subject)) }
        return out
    }

    /// What the document references, without its subject: what must be present for
    /// the document to be whole (a referrer's subject may be elsewhere).
    public var requiredReferences: [(descriptor: Descriptor, role: ContentRole)] {
        references.filter { $0.role != .subject }
    }
}
