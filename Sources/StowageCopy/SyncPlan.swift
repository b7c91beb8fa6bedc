#if canImport(Glibc)
import Glibc
#endif
import StowageLayout
import StowageModel
import StowageRegistry

/// What `stowage sync` will do: every named image of the layout and where it goes.
public struct SyncPlan: Sendable, Codable {
    /// One image and its destination.
    public struct Item: Sendable, Codable {
        /// The name in the layout.
        public var reference: String
        /// `HOST[/PREFIX]/REPO:TAG`.
        public var destination: String
        /// The manifest or index digest.
        public var digest: String
        /// Manifests to write (children and the root).
        public var manifests: Int
        /// Blobs the image reaches, and their bytes.
        public var blobs: Int
        public var bytes: Int64
        /// After checking the registry (`--dry-run` or a run): the registry has this exact image under this tag.
        public var upToDate: Bool?
        /// After checking the registry: blobs and bytes it lacks.
        public var missingBlobs: Int?
        public var missingBytes: Int64?

        /// The item for the layout name `reference`, going to `destination`.
        init(reference: String, destination: RegistryReference, graph: ImageGraph, upToDate: Bool? = nil) {
            self.reference = reference
            self.destination = destination.description
            digest = graph.root.digest.string
            manifests = graph.manifests.count + 1
            blobs = graph.blobs.count
            bytes = graph.blobBytes
            self.upToDate = upToDate
        }
    }

    /// The images, in `index.json` order.
    public var items: [Item]
    /// Names left out by `--ref`, and unnamed images.
    public var skipped: [String]
}

/// Works out where each named image of a layout goes for `stowage sync HOST[:PORT][/PREFIX]`.
public struct SyncPlanner: Sendable {
    /// The layout to sync.
    public let layout: Layout
    /// `HOST[:PORT]`.
    public let host: String
    /// A repository prefix on the registry, possibly empty.
    public let prefix: String
    /// Where tag-only names (`v1.0.0`) go.
    public let repository: String?
    /// Shell globs on layout names (`team/*`); empty means all.
    public let globs: [String]

    /// Parses the target `HOST[:PORT][/PREFIX]`.
    public init(layout: Layout, target: String, repository: String?, globs: [String]) throws {
        var text = target
        if text.hasPrefix("docker://") { text.removeFirst("docker://".count) }
        while text.hasSuffix("/") { text.removeLast() }
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, !first.isEmpty else {
            throw StowageError(.usage, "sync needs a target HOST[:PORT][/PREFIX]")
        }
        self.layout = layout
        host = first
        prefix = parts.count > 1 ? parts[1] : ""
        if !prefix.isEmpty {
            _ = try Reference(parsing: "\(host)/\(prefix)/x")
        }
        if let repository { _ = try Reference(parsing: repository) }
        self.repository = repository
        self.globs = globs
    }

    /// The destination of a layout name, or nil for a tag-only name without `--repository`.
    public func destination(for name: String) throws -> RegistryReference? {
        let lastSlash = name.lastIndex(of: "/")
        let hasTag = name.lastIndex(of: ":").map { colon in lastSlash.map { colon > $0 } ?? true } ?? false
        var path: String
        var tag: String
        if hasTag || lastSlash != nil {
            let reference = try Reference(parsing: name).withDefaultTag
            path = reference.path
            tag = reference.tag ?? "latest"
        } else {
            // A bare tag, as other tools write ref.name.
            guard let repository else { return nil }
            path = try Reference(parsing: repository).path
            tag = name
            guard Reference.isValidTag(tag) else {
                throw StowageError(.invalidReference, "'\(name)' is not a valid tag")
            }
        }
        if !prefix.isEmpty { path = "\(prefix)/\(path)" }
        return RegistryReference(host: host, repository: path, tag: tag)
    }

    /// The images to push, each with its graph; throws for tag-only names without `--repository`.
    public func targets() throws -> (targets: [(name: String, destination: RegistryReference, graph: ImageGraph)], skipped: [String]) {
        var targets: [(String, RegistryReference, ImageGraph)] = []
        var skipped: [String] = []
        var tagOnly: [String] = []
        for entry in try layout.readIndex().manifests {
            guard let name = entry.refName else {
                skipped.append(entry.digest.string)
                continue
            }
            guard globs.isEmpty || globs.contains(where: { fnmatch($0, name, 0) == 0 }) else {
                skipped.append(name)
                continue
            }
            guard let destination = try destination(for: name) else {
                tagOnly.append(name)
                continue
            }
            var root = entry
            root.annotations = nil
            targets.append((name, destination, try ImageGraph(root: root, layout: layout)))
        }
        guard tagOnly.isEmpty else {
            throw StowageError(.usage, "the names \(tagOnly.joined(separator: ", ")) are tags without a repository; give one with --repository NAME, or leave them out with --ref")
        }
        return (targets, skipped)
    }
}
