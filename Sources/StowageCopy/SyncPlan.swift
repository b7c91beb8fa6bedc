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
        /// The referrers (signatures, SBOMs, attestations) that go with the image: their
        /// cosign tag, or digest for a referrer by subject, subjects first.
        public var referrers: [String] = []
        /// After checking the registry: how many of `referrers` it lacks.
        public var missingReferrers: Int?
        /// When a platform filter made a new index for the image: its platforms and the index it replaces.
        public var filtered: FilteredIndexReport?

        /// The item for the layout name `reference`, going to `destination`.
        init(reference: String, destination: RegistryReference, graph: ImageGraph, upToDate: Bool? = nil) {
            self.reference = reference
            self.destination = destination.description
            digest = graph.root.digest.string
            manifests = graph.manifests.count + 1
            blobs = graph.blobs.count
            bytes = graph.blobBytes
            filtered = graph.filtered?.report
            self.upToDate = upToDate
        }
    }

    /// Layout names that map to one destination but hold different images: pushing
    /// them would let the last one overwrite the others, so a sync with any is refused.
    public struct Collision: Sendable, Codable, Equatable, CustomStringConvertible {
        /// `HOST[/PREFIX]/REPO:TAG`.
        public var destination: String
        /// The layout names going there, in `index.json` order.
        public var references: [String]
        /// The digest of each name's image, in the same order.
        public var digests: [String]

        /// `DEST <- NAME (sha256:0123456789ab), NAME (…)`, on one line.
        public var description: String {
            let sources = zip(references, digests).map { "\($0) (\($1.prefix(19)))" }
            return "\(destination) <- \(sources.joined(separator: ", "))"
        }
    }

    /// The images, in `index.json` order; a colliding name is not among them.
    public var items: [Item]
    /// Names left out by `--ref`, unnamed images, and names whose image another
    /// name already sends to the same destination.
    public var skipped: [String]
    /// Destinations that several names with different images map to.
    public var collisions: [Collision] = []

    /// The error a sync with collisions fails with: one line naming every destination and its names.
    public static func conflict(_ collisions: [Collision]) -> StowageError {
        let list = collisions.map { "\($0.destination) <- \($0.references.joined(separator: ", "))" }.joined(separator: "; ")
        return StowageError(
            .conflict,
            "\(collisions.count) destination\(collisions.count == 1 ? "" : "s") would get different images from several layout names, and the last push would win (\(list)); keep registry hosts apart with --keep-registry-host, or leave names out with --ref")
    }
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
    /// Keep a name's registry host as the first component of its repository
    /// (`quay.io/team/app:v1` goes to `HOST/PREFIX/quay.io/team/app:v1`).
    public let keepRegistryHost: Bool
    /// Push only these platforms of each index (`--platform`, repeatable): one platform's
    /// image, or a new index of several, under the index's name; empty means all.
    public var platforms: [Platform] = []
    /// Refuse a new index made by `platforms` (`--preserve-digests`).
    public var preserveDigests = false

    /// Parses the target `HOST[:PORT][/PREFIX]`.
    public init(layout: Layout, target: String, repository: String?, globs: [String], keepRegistryHost: Bool = false) throws {
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
        self.keepRegistryHost = keepRegistryHost
    }

    /// The target as `HOST[:PORT][/PREFIX]`.
    public var target: String { prefix.isEmpty ? host : "\(host)/\(prefix)" }

    /// The destination of a layout name, or nil for a tag-only name without `--repository`.
    public func destination(for name: String) throws -> RegistryReference? {
        let lastSlash = name.lastIndex(of: "/")
        let hasTag = name.lastIndex(of: ":").map { colon in lastSlash.map { colon > $0 } ?? true } ?? false
        var path: String
        var tag: String?
        var digest: Digest?
        if hasTag || lastSlash != nil {
            let reference = try Reference(parsing: name).withDefaultTag
            path = reference.path
            // `HOST/REPO@DIGEST` (an image a mirror set lists by digest) goes by digest alone.
            digest = reference.digest
            tag = digest == nil ? reference.tag ?? "latest" : nil
            if keepRegistryHost, let domain = reference.domain {
                path = "\(domain)/\(path)"
                // A host with a port or capitals is no repository component.
                guard (try? Reference(parsing: "\(host)/\(path)")) != nil else {
                    throw StowageError(.invalidReference, "--keep-registry-host cannot keep '\(domain)' of '\(name)': a repository component holds only lowercase letters, digits and '.', '_', '-'; rename the image with `stowage tag`, or leave it out with --ref")
                }
            }
        } else {
            // A bare tag, as other tools write ref.name.
            guard let repository else { return nil }
            path = try Reference(parsing: repository).path
            tag = name
            guard Reference.isValidTag(name) else {
                throw StowageError(.invalidReference, "'\(name)' is not a valid tag")
            }
        }
        if !prefix.isEmpty { path = "\(prefix)/\(path)" }
        return RegistryReference(host: host, repository: path, tag: tag, digest: digest)
    }

    /// The images to push, each with its graph, and the collisions, whose names are
    /// not among the targets; throws for tag-only names without `--repository`.
    /// Of several names sending one image to one destination, only the first is a target.
    public func targets() throws -> (
        targets: [(name: String, destination: RegistryReference, graph: ImageGraph)], skipped: [String], collisions: [SyncPlan.Collision]
    ) {
        let planned = try plannedTargets()
        return (planned.targets, planned.skipped, planned.collisions)
    }

    /// `targets()`, with the layout's referrer entries found on the same read of `index.json`.
    public func plannedTargets() throws -> (
        targets: [(name: String, destination: RegistryReference, graph: ImageGraph)], skipped: [String],
        collisions: [SyncPlan.Collision], referrers: LayoutReferrers
    ) {
        var (selected, skipped, referrers) = try select()
        let collisions = Self.collisions(in: selected)
        let colliding = Set(collisions.map(\.destination))
        var sent = Set<String>()
        selected.removeAll { name, destination, _ in
            if colliding.contains(destination.description) { return true }
            if sent.insert(destination.description).inserted { return false }
            skipped.append(name)
            return true
        }
        // Names of one image share its graph: walked once, kept once.
        var graphs: [String: ImageGraph] = [:]
        let targets = try selected.map { name, destination, entry in
            var root = entry
            root.annotations = nil
            let key = "\(root.mediaType.rawValue) \(root.digest)"
            var graph = try graphs[key] ?? ImageGraph(narrowing: root, to: platforms, preserveDigests: preserveDigests, layout: layout)
            graphs[key] = graph
            if graph.narrowedFrom == nil && graph.filtered == nil { graph.root = root }
            return (name: name, destination: destination, graph: graph)
        }
        return (targets, skipped, collisions, referrers)
    }

    /// The destinations that names with different images map to; reads `index.json` only.
    public func collisions() throws -> [SyncPlan.Collision] {
        Self.collisions(in: try select().selected)
    }

    private static func collisions(in selected: [(name: String, destination: RegistryReference, entry: Descriptor)]) -> [SyncPlan.Collision] {
        var order: [String] = []
        var byDestination: [String: [(name: String, destination: RegistryReference, entry: Descriptor)]] = [:]
        for item in selected {
            let key = item.destination.description
            if byDestination[key] == nil { order.append(key) }
            byDestination[key, default: []].append(item)
        }
        return order.compactMap { key in
            let items = byDestination[key]!
            guard Set(items.map(\.entry.digest)).count > 1 else { return nil }
            return SyncPlan.Collision(destination: key, references: items.map(\.name), digests: items.map(\.entry.digest.string))
        }
    }

    /// The named entries `--ref` selects, each with its destination, and the names left out.
    private func select() throws -> (
        selected: [(name: String, destination: RegistryReference, entry: Descriptor)], skipped: [String], referrers: LayoutReferrers
    ) {
        var selected: [(name: String, destination: RegistryReference, entry: Descriptor)] = []
        var skipped: [String] = []
        var tagOnly: [String] = []
        let index = try layout.readIndex()
        let referrers = LayoutReferrers(index: index, blobs: layout.blobs, keepRoots: false)
        for entry in index.manifests {
            // Referrers travel with their subjects, not as images of their own.
            if referrers.isReferrer(entry) { continue }
            guard let name = entry.refName else {
                skipped.append(entry.digest.string)
                continue
            }
            guard globs.isEmpty || globs.contains(where: { fnmatch($0, name, 0) == 0 }) else {
                skipped.append(name)
                continue
            }
            guard (try? RefName(stored: name)) != nil else {
                throw StowageError(
                    .invalidReference,
                    "index.json of \(layout.root) names an image '\(UserText.clean(name, limit: 100))', which is not a valid name "
                        + "(\(RefName.grammar)); nothing was sent: remove it with `stowage rm`, or leave it out with --ref")
            }
            guard let destination = try destination(for: name) else {
                tagOnly.append(name)
                continue
            }
            // Annotations stay behind (the name is kept apart): they are not sent, and a large
            // index.json is let go of as soon as the plan has what it needs.
            var image = entry
            image.annotations = nil
            selected.append((name, destination, image))
        }
        guard tagOnly.isEmpty else {
            throw StowageError(.usage, "the names \(tagOnly.joined(separator: ", ")) are tags without a repository; give one with --repository NAME, or leave them out with --ref")
        }
        return (selected, skipped, referrers)
    }
}
