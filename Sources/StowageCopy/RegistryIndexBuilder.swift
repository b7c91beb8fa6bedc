import Foundation
import NIOCore
import StowageLayout
import StowageModel
import StowageRegistry

/// What `index create` is asked to do when the images are in a registry.
public struct RegistryIndexRequest: Sendable {
    /// Where the index goes, each by tag: `HOST/REPO:TAG`.
    public var targets: [RegistryReference]
    /// The SOURCEs as given: `docker://HOST/REPO:TAG` or `docker://HOST/REPO@sha256:…`, in order.
    public var sources: [String]
    /// Annotations of the index itself.
    public var annotations: [String: String] = [:]
    /// The format; by default the children's.
    public var format: IndexFormat?
    /// Platforms given explicitly for SOURCEs (`--platform-of SOURCE=os/arch[/variant]`).
    public var platformOverrides: [String: Platform] = [:]
    /// A later source replaces an earlier one of the same platform instead of failing.
    public var replace = false

    /// Creates a request.
    public init(targets: [RegistryReference], sources: [String]) {
        self.targets = targets
        self.sources = sources
    }
}

/// Builds a multi-platform index in a registry from images already there, under the
/// merge rules of `IndexMerge`, as `IndexBuilder` does in a layout.
///
/// Only manifests and configs are read (configs to learn a platform). An image from
/// another repository than a target's is made available there first: its blobs are
/// mounted when the registry is the same (no bytes move), copied otherwise (streamed
/// through a temporary file, the one case layers move); then its manifests are PUT
/// by digest. The index is PUT to every target tag last, so nothing is written when a
/// SOURCE is missing or the merge fails.
///
/// With a layout, the index is also kept there under each target's `HOST/REPO:TAG`, as
/// `pull` names it, whole: a layout never names an image it lacks blobs of (`verify`
/// would fail), so layers the layout lacks are fetched for it.
public struct RegistryIndexBuilder: Sendable {
    /// The registry clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress
    /// The layout that keeps a copy of the index, if any.
    public let layout: Layout?

    /// A builder within `session`; with `layout`, the index is kept there too.
    public init(session: TransferSession, progress: TransferProgress, layout: Layout? = nil) {
        self.session = session
        self.progress = progress
        self.layout = layout
    }

    /// Builds the index from `request.sources` and PUTs it to every target tag.
    public func create(_ request: RegistryIndexRequest) async throws -> IndexReport {
        let (targets, origins) = try check(request)
        // Named before anything is written: a target that makes no layout name fails here.
        let layoutNames = try layout.map { _ in try targets.compactMap(RegistryPuller.defaultName(of:)) }
        for target in targets { try await session.client(for: target.host).preparePush(to: target.repository) }

        var resolution = try await resolve(request, origins: origins)
        var merge = IndexMerge()
        try resolution.sources.apply(to: &merge, replace: request.replace)
        let (index, format) = try merge.newIndex(format: request.format, annotations: request.annotations)
        let indexBytes = try JSONCoding.encode(index)
        let stored = Descriptor(mediaType: format.mediaType, digest: ContentHasher.digest(of: indexBytes), size: Int64(indexBytes.count))
        var warnings: [String] = []
        if let warning = IndexMerge.differentRegistriesWarning(resolution.registries) { warnings.append(warning) }
        let plans = try await plan(merge, targets: targets, origins: origins, documents: &resolution.documents, warnings: &warnings)

        let scratch = try TemporaryLayout()
        defer { scratch.remove() }
        for (target, needed) in plans where !needed.isEmpty {
            try await sendBlobs(of: needed, to: target, scratch: scratch)
            let client = try await session.client(for: target.host)
            var sent = Set<Digest>()
            for graph in needed {
                for (manifest, bytes) in graph.manifests where sent.insert(manifest.digest).inserted {
                    try await client.putManifest(bytes, mediaType: manifest.mediaType, digest: manifest.digest, to: target.repository, reference: manifest.digest.string)
                    await session.recordManifest()
                }
            }
        }
        for target in targets {
            let client = try await session.client(for: target.host)
            try await client.putManifest(indexBytes, mediaType: stored.mediaType, digest: stored.digest, to: target.repository, reference: target.tag!)
            await session.recordManifest()
        }

        var report = IndexReport(tags: targets.map(\.description), index: stored, merge: merge, warnings: warnings)
        if let layout, let layoutNames {
            try await keep(stored, from: targets[0], in: layout, names: layoutNames)
            report.layoutNames = layoutNames.map(\.value)
        }
        return report
    }

    // MARK: - Sources and targets

    /// What resolving the SOURCEs learnt.
    private struct Resolution {
        /// The entries each SOURCE gives, in order, and the repeated ones.
        var sources = ResolvedSources()
        /// The documents fetched, by digest.
        var documents: [Digest: [UInt8]] = [:]
        /// The first SOURCE of each registry host.
        var registries: [String: String] = [:]
    }

    /// Reads every SOURCE, in order: its manifest or index, and an image's config when
    /// its platform is needed. Nothing is written.
    private func resolve(_ request: RegistryIndexRequest, origins: [String: RegistryReference]) async throws -> Resolution {
        var resolution = Resolution()
        for source in request.sources where resolution.sources.admit(source) {
            let origin = origins[source]!
            let client = try await session.client(for: origin.host, side: .source)
            let (root, bytes) = try await fetchSource(origin, named: source, client: client)
            resolution.documents[root.digest] = bytes
            let host = RegistryHost.canonical(origin.host)
            resolution.registries[host] = resolution.registries[host] ?? source
            switch try IndexMerge.sourceEntries(of: root, source: source, override: request.platformOverrides[source], bytes: { bytes }) {
            case .entries(let entries):
                resolution.sources.add(entries, source: source)
            case .image(var image, let config):
                let configBytes = try await RegistryDocuments(client: client, repository: origin.repository).smallBlob(config)
                image.platform = try IndexMerge.platform(ofConfig: configBytes, config: config, source: source)
                resolution.sources.add([image], source: source)
            }
        }
        return resolution
    }

    /// What each target repository lacks: for every SOURCE of the index from another
    /// repository, what its entries reach there, with a warning saying how it is brought.
    private func plan(
        _ merge: IndexMerge, targets: [RegistryReference], origins: [String: RegistryReference], documents: inout [Digest: [UInt8]],
        warnings: inout [String]
    ) async throws -> [(target: RegistryReference, graphs: [RemoteGraph])] {
        let repositories = Self.unique(targets.map { RegistryReference(host: $0.host, repository: $0.repository) })
        var graphs: [String: RemoteGraph] = [:]
        var plans: [(target: RegistryReference, graphs: [RemoteGraph])] = []
        for repository in repositories {
            var needed: [RemoteGraph] = []
            var kept = Set<String>()
            for source in merge.entries.map(\.source) where kept.insert(source).inserted {
                let origin = origins[source]!
                guard !Self.sameRepository(origin, repository) else { continue }
                let sameHost = RegistryHost.canonical(origin.host) == RegistryHost.canonical(repository.host)
                warnings.append(
                    "\(source) is not in \(repository), the target repository: "
                        + (sameHost ? "its blobs are mounted there from \(origin.repository)"
                            : "its blobs, layers included, are copied there from \(origin.host)"))
                if graphs[source] == nil {
                    var graph = RemoteGraph(origin: origin)
                    let client = try await session.client(for: origin.host, side: .source)
                    for entry in merge.entries where entry.source == source {
                        try await graph.walk(entry.descriptor, client: client, documents: &documents, depth: 0)
                    }
                    graphs[source] = graph
                }
                needed.append(graphs[source]!)
            }
            plans.append((repository, needed))
        }
        return plans
    }

    /// Checks the request; returns the targets (with `latest` when no tag is given) and
    /// each SOURCE's reference.
    private func check(_ request: RegistryIndexRequest) throws -> ([RegistryReference], [String: RegistryReference]) {
        guard !request.targets.isEmpty else { throw StowageError(.usage, "give the index a name with --tag docker://HOST/REPO:TAG") }
        guard !request.sources.isEmpty else {
            throw StowageError(.usage, "give at least one SOURCE: docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…")
        }
        try IndexMerge.checkPlatformOverrides(request.platformOverrides, sources: request.sources)
        let targets = try request.targets.map { target in
            guard target.digest == nil else {
                throw StowageError(.usage, "--tag docker://\(target) names a digest; an index goes to a tag, docker://HOST/REPO:TAG")
            }
            return target.withDefaultTag
        }
        var origins: [String: RegistryReference] = [:]
        for source in request.sources {
            guard source.hasPrefix("docker://") else {
                throw StowageError(
                    .usage,
                    "SOURCE '\(source)' is not docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…: an index built in a registry takes images of a registry; push layout images first, or give layout --tag names")
            }
            origins[source] = try RegistryReference(parsing: source).withDefaultTag
        }
        return (targets, origins)
    }

    /// The root document of a SOURCE (one GET), with a one-line error naming it when it
    /// does not exist or names a blob rather than a manifest.
    private func fetchSource(_ origin: RegistryReference, named source: String, client: RegistryClient) async throws -> (Descriptor, [UInt8]) {
        let fetched: FetchedManifest
        do {
            fetched = try await client.fetchManifest(origin.repository, reference: origin.manifestReference, expected: origin.digest)
        } catch let error as StowageError where error.code == .registry {
            // A digest the registry cannot serve as a manifest (distribution answers 404 or
            // 500 for a layer's) but has as a blob names a layer or config.
            if let digest = origin.digest, try await client.blobSize(digest, in: origin.repository) != nil {
                throw StowageError(.unsupported, "SOURCE '\(source)' is a blob (a layer or config) of \(origin.host)/\(origin.repository), not an image manifest or index")
            }
            // Only a manifest the registry does not have is explained; any other failure stands.
            guard try await client.manifestDigest(origin.repository, reference: origin.manifestReference) == nil else { throw error }
            let missing = origin.digest.map { "\(origin.repository)@\($0)" } ?? "\(origin.repository):\(origin.manifestReference)"
            throw StowageError(.notFound, "SOURCE '\(source)' does not exist: registry \(origin.host) has no manifest \(missing)")
        }
        return (Descriptor(mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.bytes.count)), fetched.bytes)
    }

    private static func sameRepository(_ one: RegistryReference, _ other: RegistryReference) -> Bool {
        RegistryHost.canonical(one.host) == RegistryHost.canonical(other.host) && one.repository == other.repository
    }

    private static func unique(_ repositories: [RegistryReference]) -> [RegistryReference] {
        var seen = Set<String>()
        return repositories.filter { seen.insert("\(RegistryHost.canonical($0.host))/\($0.repository)").inserted }
    }

    // MARK: - Transfers

    /// Makes the blobs of `graphs` available in `target`'s repository, `jobs` at a time:
    /// already there, mounted from their repository on the same registry, or copied.
    private func sendBlobs(of graphs: [RemoteGraph], to target: RegistryReference, scratch: TemporaryLayout) async throws {
        var seen = Set<Digest>()
        var transfers: [(blob: Descriptor, origin: RegistryReference)] = []
        for graph in graphs {
            for blob in graph.blobs where seen.insert(blob.digest).inserted { transfers.append((blob, graph.origin)) }
        }
        let session = self.session
        let progress = self.progress
        let client = try await session.client(for: target.host)
        try await forEachConcurrently(transfers, limit: session.options.jobs) { blob, origin in
            let sameHost = RegistryHost.canonical(origin.host) == RegistryHost.canonical(target.host)
            let source = try await session.client(for: origin.host, side: .source)
            let copy = RemoteBlobCopy(client: source, origin: origin, blob: blob, scratch: scratch, session: session)
            let transfer = try await client.pushBlob(
                blob.digest, size: blob.size, content: .reader(copy), to: target.repository,
                mountFrom: sameHost ? origin.repository : nil, onBytes: { progress.advance($0) })
            await session.record(transfer, host: target.host, repository: target.repository, digest: blob.digest, size: blob.size)
        }
    }

    /// Keeps the index in `layout`, whole, under `names`: pulled from `target` by digest,
    /// so what the layout has already is not fetched again.
    private func keep(_ index: Descriptor, from target: RegistryReference, in layout: Layout, names: [RefName]) async throws {
        var puller = RegistryPuller(layout: layout, session: session, progress: progress)
        puller.referrers = .none
        let source = RegistryReference(host: target.host, repository: target.repository, digest: index.digest)
        let entry = try await puller.pull(source, name: names[0], platform: nil)
        if names.count > 1 {
            var unnamed = entry
            unnamed.refName = nil
            try layout.addEntries([(unnamed, Array(names.dropFirst()))], purpose: "index create")
        }
    }
}

/// What a SOURCE's entries reach in their repository: child manifests (children
/// before their parents, with their bytes) and blobs (configs and layers, each once).
struct RemoteGraph: Sendable {
    /// Where the documents are.
    let origin: RegistryReference
    private(set) var manifests: [(Descriptor, [UInt8])] = []
    private(set) var blobs: [Descriptor] = []
    private var seen = Set<Digest>()

    init(origin: RegistryReference) {
        self.origin = origin
    }

    /// Walks `descriptor` (a manifest or index) and all it reaches; `documents` holds
    /// the documents already fetched and gets those fetched here.
    mutating func walk(_ descriptor: Descriptor, client: RegistryClient, documents: inout [Digest: [UInt8]], depth: Int) async throws {
        guard seen.insert(descriptor.digest).inserted else { return }
        guard depth <= ContentDocument.maxDepth else {
            throw StowageError(.invalidJSON, "\(origin) nests indexes more than \(ContentDocument.maxDepth) levels deep")
        }
        let bytes: [UInt8]
        if let known = documents[descriptor.digest] {
            bytes = known
        } else {
            bytes = try await RegistryDocuments(client: client, repository: origin.repository).document(descriptor)
            documents[descriptor.digest] = bytes
        }
        guard Int64(bytes.count) == descriptor.size else {
            throw StowageError(.digestMismatch, "registry \(origin.host) served \(descriptor.digest) of \(origin.repository) as \(bytes.count) bytes, not the \(descriptor.size) its descriptor declares")
        }
        let document = try ContentDocument(bytes, mediaType: descriptor.mediaType, what: "registry \(origin.host): \(descriptor.digest) of \(origin.repository)")
        if case .index(let index) = document {
            for child in index.manifests { try await walk(child, client: client, documents: &documents, depth: depth + 1) }
        } else {
            // Foreign layers live at their URLs, not in the registry.
            for (blob, _) in document.requiredReferences where !blob.isForeignLayer && seen.insert(blob.digest).inserted {
                blobs.append(blob)
            }
        }
        manifests.append((descriptor, bytes))
    }
}

/// A blob of another repository, read for an upload: fetched from there into a
/// temporary layout at the first read (digest-checked), then read from that file.
/// A mount that the registry accepts reads nothing, so nothing is fetched.
actor RemoteBlobCopy: BlobReader {
    private let client: RegistryClient
    private let origin: RegistryReference
    private let blob: Descriptor
    private let scratch: TemporaryLayout
    private let session: TransferSession
    private var file: FileHandle?
    private var fetching: Task<String, Error>?

    init(client: RegistryClient, origin: RegistryReference, blob: Descriptor, scratch: TemporaryLayout, session: TransferSession) {
        self.client = client
        self.origin = origin
        self.blob = blob
        self.scratch = scratch
        self.session = session
    }

    deinit {
        try? file?.close()
    }

    func read(at offset: Int64, maxLength: Int) async throws -> ByteBuffer {
        let file = try await opened()
        try file.seek(toOffset: UInt64(offset))
        let data = try file.read(upToCount: maxLength) ?? Data()
        return ByteBuffer(bytes: data)
    }

    private func opened() async throws -> FileHandle {
        if let file { return file }
        // Reads wait for one fetch: an actor lets a second read in while the first awaits.
        let fetch = fetching ?? Task { [client, origin, blob, scratch, session] in
            let layout = try scratch.layout()
            if try !layout.blobs.contains(blob.digest) {
                let what = "blob \(blob.digest) of \(origin.host)/\(origin.repository)"
                let sink = BlobSink(store: layout.blobs, expectedSize: blob.size, what: what)
                defer { sink.discard() }
                try await client.fetchBlob(blob.digest, from: origin.repository, restart: { try sink.restart() }) { chunk in
                    try sink.write(chunk)
                }
                try sink.commit(expecting: blob.digest, size: blob.size, what: what)
                await session.recordReceived(size: blob.size)
            }
            return layout.blobs.path(of: blob.digest)
        }
        fetching = fetch
        let path = try await fetch.value
        if let file { return file }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StowageError(.io, "cannot read \(path), the copy of blob \(blob.digest)")
        }
        file = handle
        return handle
    }
}
