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

    /// All the bytes of blobs.
    public var blobBytes: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// Walks from `root` through the layout's stored documents; fails on any document
    /// that is missing or unreadable.
    public init(root: Descriptor, layout: Layout) throws {
        let graph = ContentGraph.walk(layout.blobs, roots: [ReachabilityRoot(label: root.digest.string, descriptor: root)])
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
        // The walk meets parents before their children: reversed, children come first.
        self.manifests = manifests.reversed()
        self.blobs = blobs
    }
}
