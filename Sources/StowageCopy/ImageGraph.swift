import StowageLayout
import StowageModel

/// Everything an image (or index) in a layout reaches, in push order: blobs
/// (configs and layers) first, then child manifests, then the root, so a
/// registry never sees a manifest before what it references.
///
/// Built from the layout's shared walk (`ContentGraph`), the one verify, gc and
/// export use.
public struct ImageGraph: Sendable {
    /// The image or index itself.
    public var root: Descriptor
    /// Child manifests (and nested indexes), children before their parents; never the root.
    public var manifests: [Descriptor]
    /// Configs and layers, each once.
    public var blobs: [Descriptor]

    /// The new index a platform filter made for the root, which is not in the layout:
    /// its bytes are pushed from here.
    public var filtered: FilteredIndex?
    /// The index the root was narrowed from by a platform filter (its image for one
    /// platform, or `filtered`); its referrers go with the root.
    public var narrowedFrom: Digest?

    /// All the bytes of blobs.
    public var blobBytes: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// Walks from `root` through the layout's stored documents; fails on any document
    /// that is missing or unreadable.
    public init(root: Descriptor, layout: Layout) throws {
        try self.init(root: root, layout: layout, filtered: nil)
    }

    /// The graph of an entry narrowed to `platforms` by `Layout.narrow` (the entry as
    /// it is when there is nothing to narrow).
    public init(narrowing entry: Descriptor, to platforms: [Platform], preserveDigests: Bool, layout: Layout) throws {
        guard !platforms.isEmpty else {
            try self.init(root: entry, layout: layout)
            return
        }
        var (root, filtered) = try layout.narrow(entry, to: platforms, preserveDigests: preserveDigests)
        root.annotations = nil
        root.platform = nil
        try self.init(root: root, layout: layout, filtered: filtered)
        if root.digest != entry.digest { narrowedFrom = entry.digest }
    }

    private init(root: Descriptor, layout: Layout, filtered: FilteredIndex?) throws {
        let documents = filtered.map { [$0.descriptor.digest: $0.bytes] } ?? [:]
        let graph = ContentGraph.walk(
            layout.blobs, roots: [ReachabilityRoot(label: root.digest.string, descriptor: root)], documents: documents)
        if let (edge, issue) = graph.blockingIssues.first {
            throw StowageError(.invalidLayout, "\(edge.summary) \(issue.explanation); run `stowage verify`")
        }
        var seen: Set<Digest> = [root.digest]
        var manifests: [Descriptor] = []
        var blobs: [Descriptor] = []
        for edge in graph.edges where seen.insert(edge.descriptor.digest).inserted {
            switch edge.role {
            case .manifest, .index: manifests.append(edge.descriptor)
            case .config, .layer:
                // Foreign layers live at their URLs, not in the layout.
                if edge.mayBeAbsent, try !layout.blobs.contains(edge.descriptor.digest) { continue }
                blobs.append(edge.descriptor)
            case .entry, .subject: break
            }
        }
        self.root = root
        self.filtered = filtered
        // The walk meets parents before their children: reversed, children come first.
        self.manifests = manifests.reversed()
        self.blobs = blobs
    }
}
