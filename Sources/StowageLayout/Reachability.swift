#if canImport(Glibc)
import Glibc
#endif
import StowageModel

/// Where a walk of a layout's content starts: an `index.json` entry.
public struct ReachabilityRoot: Sendable, Equatable {
    /// How messages name the root: its reference, or its digest when it has none.
    public var label: String
    /// The entry's descriptor.
    public var descriptor: Descriptor

    /// A root named `label`.
    public init(label: String, descriptor: Descriptor) {
        self.label = label
        self.descriptor = descriptor
    }

    /// A root for an `index.json` entry, labelled by its reference (or digest when unnamed).
    public init(entry: Descriptor) {
        self.init(label: entry.refName ?? entry.digest.string, descriptor: entry)
    }

    /// One root per entry of `index`, in its order.
    public static func entries(of index: Index) -> [ReachabilityRoot] {
        index.manifests.map(ReachabilityRoot.init(entry:))
    }
}

/// One descriptor met during a walk: what it points at, from where, and which root led there.
public struct ContentEdge: Sendable, Equatable {
    /// The descriptor as its parent states it (digest, declared size, media type).
    public var descriptor: Descriptor {
        get { box.value }
        set { box = DescriptorBox(newValue) }
    }
    /// What the descriptor is to its parent.
    public var role: ContentRole
    /// The manifest or index that lists it; nil for `index.json`.
    public var parent: Digest?
    /// The label of the root that led here.
    public var root: String
    /// The descriptor, shared by the edges of every root that reaches it through the
    /// same parent: a layout with a hundred thousand names keeps one copy of each.
    var box: DescriptorBox

    /// An edge for `descriptor`.
    public init(descriptor: Descriptor, role: ContentRole, parent: Digest?, root: String) {
        self.init(box: DescriptorBox(descriptor), role: role, parent: parent, root: root)
    }

    init(box: DescriptorBox, role: ContentRole, parent: Digest?, root: String) {
        self.box = box
        self.role = role
        self.parent = parent
        self.root = root
    }

    public static func == (lhs: ContentEdge, rhs: ContentEdge) -> Bool {
        lhs.descriptor == rhs.descriptor && lhs.role == rhs.role && lhs.parent == rhs.parent && lhs.root == rhs.root
    }

    /// `layer sha256:… of manifest sha256:… (reached from team/app:v1)`: names the blob,
    /// its place and the reference that leads to it, for one-line messages.
    public var summary: String {
        let digest = descriptor.digest
        let place: String
        switch role {
        case .entry: place = "\(descriptor.mediaType.isIndex ? "index" : descriptor.mediaType.isManifest ? "manifest" : "blob") \(digest) of index.json"
        case .manifest: place = "manifest \(digest) of index \(parent.map(\.string) ?? "index.json")"
        case .index: place = "index \(digest) of index \(parent.map(\.string) ?? "index.json")"
        case .config: place = "config \(digest) of manifest \(parent.map(\.string) ?? "?")"
        case .layer: place = "layer \(digest) of manifest \(parent.map(\.string) ?? "?")"
        case .subject: place = "subject \(digest) of \(parent.map(\.string) ?? "?")"
        }
        return "\(place) (reached from \(root))"
    }

    /// Whether the blob may be absent: a non-distributable layer fetched from its `urls`.
    public var mayBeAbsent: Bool {
        descriptor.isForeignLayer
    }
}

/// Why a manifest or index met during a walk could not be read.
public enum DocumentIssue: Sendable, Equatable {
    /// No file `blobs/sha256/<hex>`.
    case missing
    /// Something other than a regular file is there.
    case notRegularFile
    /// Larger than `BlobStore.maxDocumentSize`.
    case tooLarge(size: Int64)
    /// The bytes hash to another digest.
    case corrupt(actual: Digest)
    /// The bytes are not a manifest or index (the parser's message).
    case invalid(String)
    /// Reading failed (the system's message).
    case unreadable(String)
    /// Indexes nest deeper than a walk follows.
    case tooDeep
    /// Listed as a manifest, of a media type Stowage cannot walk, and its JSON has
    /// fields that may reference other content: what it references is unknown.
    case unwalkable(MediaType)

    /// What is wrong, to follow the document's name in a sentence ("is missing").
    public var explanation: String {
        switch self {
        case .missing: "is missing"
        case .notRegularFile: "is not a regular file"
        case .tooLarge(let size): "is \(size) bytes, too large for a manifest or index"
        case .corrupt(let actual): "is corrupt (its content hashes to \(actual))"
        case .invalid(let reason): "cannot be parsed (\(reason))"
        case .unreadable(let reason): "cannot be read (\(reason))"
        case .tooDeep: "nests indexes more than \(ContentGraph.maxDepth) levels deep"
        case .unwalkable(let mediaType): "has the media type \(mediaType), which Stowage cannot walk"
        }
    }
}

/// Everything the roots of a layout reach, found by reading manifests and indexes
/// (nested indexes, configs, layers and subjects included).
///
/// Shared by `verify` (which reports every problem), `gc` (which keeps every
/// reachable blob, and stops when a document it must read is unreadable) and
/// `export` (which writes exactly the reachable blobs). The walk never throws:
/// unreadable documents are recorded in `documentIssues`, and their children
/// stay unknown.
public struct ContentGraph: Sendable {
    /// Every descriptor met, in walk order. A document reached from several roots is
    /// listed once per root, so each root's blobs can be named in messages.
    public private(set) var edges: [ContentEdge] = []
    /// Manifests and indexes that could not be read or parsed.
    public private(set) var documentIssues: [Digest: DocumentIssue] = [:]
    /// The actual sizes of the manifests and indexes read (hashed as they were read).
    public private(set) var documentSizes: [Digest: Int64] = [:]

    /// How deep nested indexes are followed.
    public static let maxDepth = ContentDocument.maxDepth

    /// Every digest some edge points at.
    public var reachable: Set<Digest> {
        grouped.map { Set($0.keys) } ?? Set(edges.map(\.descriptor.digest))
    }

    /// The edges grouped by digest, each group in walk order; digests sorted.
    public var edgesByDigest: [(digest: Digest, edges: [ContentEdge])] {
        if let grouped { return grouped.keys.sorted().map { ($0, grouped[$0]!) } }
        var groups: [Digest: [ContentEdge]] = [:]
        for edge in edges { groups[edge.descriptor.digest, default: []].append(edge) }
        return groups.keys.sorted().map { ($0, groups[$0]!) }
    }

    /// With `walk(…, groupedByDigest: true)`: the edges kept only by digest, never
    /// also in walk order, so a layout of a hundred thousand names holds them once.
    private var grouped: [Digest: [ContentEdge]]?

    private mutating func record(_ edge: ContentEdge) {
        if grouped != nil {
            grouped![edge.descriptor.digest, default: []].append(edge)
        } else {
            edges.append(edge)
        }
    }

    /// Document issues that matter: every one except a missing subject, which a
    /// referrer may legitimately point at without the layout holding it.
    /// Each comes with the first edge that leads to it.
    public var blockingIssues: [(edge: ContentEdge, issue: DocumentIssue)] {
        blockingIssues(in: edgesByDigest)
    }

    /// `blockingIssues`, from `edgesByDigest` computed once by a caller that needs it too.
    public func blockingIssues(in groups: [(digest: Digest, edges: [ContentEdge])]) -> [(edge: ContentEdge, issue: DocumentIssue)] {
        groups.compactMap { digest, edges in
            guard let issue = documentIssues[digest] else { return nil }
            let nonSubject = edges.filter { $0.role != .subject }
            if issue == .missing && nonSubject.isEmpty { return nil }
            return (nonSubject.first ?? edges[0], issue)
        }
    }

    /// Walks everything `roots` reach in `blobs`. With `followSubjects: false` a
    /// document's `subject` is listed as an edge but not walked: a referrer does not
    /// keep its subject alive (gc), while verify checks subjects too. An unfollowed
    /// subject is no edge of the graph.
    /// `documents` are manifests or indexes that are not in the layout (an index made by
    /// a platform filter), walked as if they were stored there.
    public static func walk(
        _ blobs: BlobStore, roots: [ReachabilityRoot], followSubjects: Bool = true, documents: [Digest: [UInt8]] = [:]
    ) -> ContentGraph {
        walk(blobs, followSubjects: followSubjects, documents: documents, from: roots.lazy.map { ($0.descriptor, $0.label) })
    }

    /// Walks everything the `index.json` entries `entries` reach, each a root labelled
    /// by its reference (or digest), without building the roots first.
    /// With `groupedByDigest`, `edges` stays empty and only `edgesByDigest` (and
    /// `reachable`) tell what was met. `documents` are walked as if stored in the layout.
    public static func walk(
        _ blobs: BlobStore, entries: [Descriptor], followSubjects: Bool = true, groupedByDigest: Bool = false,
        documents: [Digest: [UInt8]] = [:]
    ) -> ContentGraph {
        walk(blobs, followSubjects: followSubjects, groupedByDigest: groupedByDigest, documents: documents,
             from: entries.lazy.map { ($0, $0.refName ?? $0.digest.string) })
    }

    private static func walk(
        _ blobs: BlobStore, followSubjects: Bool, groupedByDigest: Bool = false, documents: [Digest: [UInt8]],
        from starts: some Sequence<(Descriptor, String)>
    ) -> ContentGraph {
        var walker = Walker(blobs: blobs, followSubjects: followSubjects, documents: documents)
        var graph = ContentGraph()
        if groupedByDigest { graph.grouped = [:] }
        walker.prefetch(starts.lazy.map(\.0), graph: &graph)
        for (descriptor, label) in starts {
            var visited = Set<Digest>()
            walker.visit(
                ContentEdge(descriptor: descriptor, role: .entry, parent: nil, root: label),
                depth: 0, visited: &visited, graph: &graph)
        }
        return graph
    }

    private init() {}

    /// Reads each document once however many roots reach it.
    private struct Walker {
        let blobs: BlobStore
        let followSubjects: Bool
        /// Documents held in memory rather than in the layout.
        let documents: [Digest: [UInt8]]
        /// Parsed documents; nil for one that could not be read.
        var cache: [Digest: ContentDocument?] = [:]
        /// What each parsed document references, boxed once for every root's edges.
        var children: [Digest: [(box: DescriptorBox, role: ContentRole)]] = [:]

        mutating func visit(_ edge: ContentEdge, depth: Int, visited: inout Set<Digest>, graph: inout ContentGraph) {
            // An unfollowed subject is not reached: what a referrer points at is not kept by it.
            if edge.role == .subject && !followSubjects { return }
            graph.record(edge)
            let descriptor = edge.descriptor
            guard ContentDocument.isDocument(descriptor.mediaType) else {
                if [.entry, .manifest, .index].contains(edge.role) { checkOpaque(descriptor, graph: &graph) }
                return
            }
            // Content addressing rules out cycles; this keeps a root's walk from repeating work.
            guard visited.insert(descriptor.digest).inserted else { return }
            guard depth <= ContentGraph.maxDepth else {
                graph.documentIssues[descriptor.digest] = .tooDeep
                return
            }
            let references: [(box: DescriptorBox, role: ContentRole)]
            if let known = children[descriptor.digest] {
                references = known
            } else {
                let parsed = cache[descriptor.digest] ?? Self.read(descriptor, blobs: blobs, documents: documents).record(in: &graph)
                cache[descriptor.digest] = parsed
                references = parsed.map { $0.references.map { (DescriptorBox($0.descriptor), $0.role) } } ?? []
                children[descriptor.digest] = references
            }
            for (box, role) in references {
                visit(ContentEdge(box: box, role: role, parent: descriptor.digest, root: edge.root),
                      depth: depth + 1, visited: &visited, graph: &graph)
            }
        }

        /// A descriptor listed where a manifest belongs but of a media type that is no
        /// known document: if its bytes look like a document that references content,
        /// the walk cannot tell what it keeps alive, which must not pass for "nothing".
        func checkOpaque(_ descriptor: Descriptor, graph: inout ContentGraph) {
            let path = blobs.path(of: descriptor.digest)
            guard graph.documentIssues[descriptor.digest] == nil,
                case .bytes(let bytes)? = try? FileSystem.readSmallRegularFile(path, limit: BlobStore.maxDocumentSize),
                ContentDocument.mayReferenceContent(bytes)
            else { return }
            graph.documentIssues[descriptor.digest] = .unwalkable(descriptor.mediaType)
        }

        /// Reads every document the walk will parse, level by level from `roots`, on
        /// several threads: with the page cache cold, one document after the other
        /// would wait for the disk each time, and a layout of tens of thousands of
        /// images has as many manifests. What is read is recorded as the walk would
        /// record it; the walk then finds every document in `cache`.
        mutating func prefetch(_ roots: some Sequence<Descriptor>, graph: inout ContentGraph) {
            var level: [Descriptor] = []
            var queued = Set<Digest>()
            for root in roots where ContentDocument.isDocument(root.mediaType) && queued.insert(root.digest).inserted {
                level.append(root)
            }
            var depth = 0
            while !level.isEmpty && depth <= ContentGraph.maxDepth {
                let blobs = self.blobs
                let documents = self.documents
                let results = parallelMap(level, width: Self.readers) { Self.read($0, blobs: blobs, documents: documents) }
                var next: [Descriptor] = []
                for (descriptor, result) in zip(level, results) {
                    let parsed = result.record(in: &graph)
                    cache[descriptor.digest] = parsed
                    for (child, role) in parsed?.references ?? [] where role != .subject || followSubjects {
                        if ContentDocument.isDocument(child.mediaType) && queued.insert(child.digest).inserted {
                            next.append(child)
                        }
                    }
                }
                level = next
                depth += 1
            }
        }

        /// Threads reading documents: more than cores, since they mostly wait for the disk.
        static let readers = 8

        /// A document read from the layout, or why it could not be.
        struct ReadDocument: Sendable {
            var digest: Digest
            var document: ContentDocument? = nil
            var size: Int64? = nil
            var issue: DocumentIssue? = nil

            /// Records the size read and the issue found in `graph`; returns the document.
            func record(in graph: inout ContentGraph) -> ContentDocument? {
                if let size { graph.documentSizes[digest] = size }
                if let issue { graph.documentIssues[digest] = issue }
                return document
            }
        }

        /// Reads, hashes and decodes a document, saying why when it cannot.
        static func read(_ descriptor: Descriptor, blobs: BlobStore, documents: [Digest: [UInt8]]) -> ReadDocument {
            let digest = descriptor.digest
            let path = blobs.path(of: digest)
            var bytes: [UInt8] = []
            if let held = documents[digest] {
                bytes = held
            } else {
                do {
                    switch try FileSystem.readSmallRegularFile(path, limit: BlobStore.maxDocumentSize) {
                    case .bytes(let read): bytes = read
                    case .missing: return ReadDocument(digest: digest, issue: .missing)
                    case .notRegularFile: return ReadDocument(digest: digest, issue: .notRegularFile)
                    case .tooLarge(let size): return ReadDocument(digest: digest, issue: .tooLarge(size: size))
                    }
                } catch {
                    return ReadDocument(digest: digest, issue: .unreadable("\(error)"))
                }
            }
            let size = Int64(bytes.count)
            let actual = ContentHasher.digest(of: bytes)
            guard actual == digest else {
                // Untrusted content: its children are not followed.
                return ReadDocument(digest: digest, size: size, issue: .corrupt(actual: actual))
            }
            do {
                return ReadDocument(
                    digest: digest, document: try ContentDocument(bytes, mediaType: descriptor.mediaType, what: "blob \(digest)"), size: size)
            } catch let error as StowageError {
                return ReadDocument(digest: digest, size: size, issue: .invalid(error.message))
            } catch {
                return ReadDocument(digest: digest, size: size, issue: .invalid("\(error)"))
            }
        }
    }
}

/// A descriptor on the heap, so that many edges can share one.
final class DescriptorBox: Sendable {
    let value: Descriptor

    init(_ value: Descriptor) {
        self.value = value
    }
}
