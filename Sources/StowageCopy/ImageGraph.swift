import StowageLayout
import StowageModel

/// Everything an image (or index) in a layout reaches, in push order: blobs
/// (configs and layers) first, then child manifests, then the root, so a
/// registry never sees a manifest before what it references.
public struct ImageGraph: Sendable {
    /// The image or index itself.
    public var root: Descriptor
    /// Child manifests (and nested indexes), deepest first; never the root.
    public var manifests: [Descriptor]
    /// Configs and layers, each once.
    public var blobs: [Descriptor]

    /// All the bytes of blobs.
    public var blobBytes: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// Walks from `root` through the layout's stored documents.
    public init(root: Descriptor, layout: Layout) throws {
        self.root = root
        var manifests: [Descriptor] = []
        var blobs: [Descriptor] = []
        var seen = Set<Digest>()
        func visit(_ descriptor: Descriptor, depth: Int, isRoot: Bool) throws {
            guard depth <= 8 else {
                throw StowageError(.invalidLayout, "index \(descriptor.digest) nests more than 8 levels deep")
            }
            guard seen.insert(descriptor.digest).inserted else { return }
            if descriptor.mediaType.isIndex {
                let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
                let index = try JSONCoding.decode(Index.self, from: bytes, what: "index \(descriptor.digest)")
                for child in index.manifests { try visit(child, depth: depth + 1, isRoot: false) }
            } else if descriptor.mediaType.isManifest || Self.looksLikeManifest(descriptor, layout: layout) {
                let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
                let manifest = try JSONCoding.decode(Manifest.self, from: bytes, what: "manifest \(descriptor.digest)")
                for child in [manifest.config] + manifest.layers where seen.insert(child.digest).inserted {
                    // Foreign layers live at their URLs, not in the layout.
                    if child.mediaType.isNonDistributable, try !layout.blobs.contains(child.digest) { continue }
                    blobs.append(child)
                }
            } else if !isRoot {
                blobs.append(descriptor)
                return
            }
            if !isRoot { manifests.append(descriptor) }
        }
        try visit(root, depth: 0, isRoot: true)
        self.manifests = manifests
        self.blobs = blobs
    }

    /// Artifact manifests may use their own media types: go by shape, not name.
    private static func looksLikeManifest(_ descriptor: Descriptor, layout: Layout) -> Bool {
        descriptor.mediaType.rawValue.hasSuffix("manifest.v1+json") || descriptor.mediaType.rawValue.hasSuffix("manifest.v2+json")
    }
}
