import Foundation
import NIOCore
import StowageLayout
import StowageModel
import StowageRegistry

/// What `stowage pull` brought in.
public struct PullReport: Sendable, Codable {
    /// The registry reference pulled.
    public var source: String
    /// The name given in the layout, if any.
    public var reference: String?
    /// The digest of what the name points at.
    public var digest: String
    /// Its media type.
    public var mediaType: String
    /// Its platforms.
    public var platforms: [String]
    /// What moved.
    public var summary: TransferSummary
    /// When a platform filter made a new index: its digest, platforms and the index it replaces.
    public var filtered: FilteredIndexReport?

    /// Creates a report.
    public init(
        source: String, reference: String?, digest: String, mediaType: String, platforms: [String], summary: TransferSummary,
        filtered: FilteredIndexReport? = nil
    ) {
        self.source = source
        self.reference = reference
        self.digest = digest
        self.mediaType = mediaType
        self.platforms = platforms
        self.summary = summary
        self.filtered = filtered
    }
}

/// What `RegistryPuller.pull` wrote.
public struct PullResult: Sendable {
    /// The entry written to `index.json`, its name in `refName`.
    public var entry: Descriptor
    /// The new index made from the source's by a platform filter, if one was.
    public var filtered: FilteredIndex?
}

/// Copies an image or index from a registry into a layout: every manifest
/// stored byte for byte, every blob hashed while streamed and checked before
/// it becomes visible; blobs the layout has are not fetched.
public struct RegistryPuller: Sendable {
    /// The layout images go to.
    public let layout: Layout
    /// The clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress
    /// Which referrers (signatures, SBOMs, attestations) come along: all by default.
    public var referrers: ReferrerPolicy = .all
    /// Whether a single image is taken as it is when platforms are asked for (an image
    /// set's platform filter narrows indexes only); by default it is refused, as for `pull --platform`.
    public var singleImagesPassPlatformFilter = false

    /// A puller into `layout` within `session`.
    public init(layout: Layout, session: TransferSession, progress: TransferProgress) {
        self.layout = layout
        self.session = session
        self.progress = progress
    }

    /// Pulls `source`; with `platform`, only the entry of an index for that platform
    /// (named in place of the index). `name` defaults to the source's `HOST/REPO:TAG`.
    /// With `keepName: false` and no `name`, the image stays unnamed. Returns the entry
    /// written to `index.json`, its name in `refName`.
    public func pull(_ source: RegistryReference, name: RefName?, platform: Platform?, keepName: Bool = true) async throws -> Descriptor {
        try await pull(source, name: name, platforms: platform.map { [$0] } ?? [], keepName: keepName).entry
    }

    /// Pulls `source`, narrowed to `platforms` when it is an index: with one platform its
    /// image stands for the index, with several a new index of just those replaces it
    /// (`PullResult.filtered` says which, and the source's digest); refused with
    /// `preserveDigests`. A platform the index lacks fails before any blob is fetched.
    /// Referrers of the kept images and of the source index come along; those of the
    /// images left out do not. `name` defaults to the source's `HOST/REPO:TAG`; with
    /// `keepName: false` and no `name`, the image stays unnamed.
    public func pull(
        _ source: RegistryReference, name: RefName?, platforms: [Platform], preserveDigests: Bool = false, keepName: Bool = true
    ) async throws -> PullResult {
        // Checked before anything is fetched: a host such as `[::1]:5000` makes no valid ref.name.
        let defaultName = keepName && name == nil ? try Self.defaultName(of: source) : nil
        let blobLock = try layout.lockBlobs(.shared, purpose: "pull \(source)")
        defer { blobLock.unlock() }
        let client = try await session.client(for: source.host, side: .source)
        let fetched = try await client.fetchManifest(source.repository, reference: source.manifestReference, expected: source.digest)
        var root = Descriptor(mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.bytes.count))
        var rootBytes = fetched.bytes
        var filtered: FilteredIndex?
        if !platforms.isEmpty && (root.mediaType.isIndex || !singleImagesPassPlatformFilter) {
            guard root.mediaType.isIndex, case .index(let index) = try ContentDocument(fetched.bytes, mediaType: root.mediaType, what: "index \(source)") else {
                throw StowageError(.usage, "\(source) is a single image, not an index; pull it without --platform")
            }
            switch try index.selecting(platforms, source: root, what: "\(source)", preserveDigests: preserveDigests) {
            case .whole:
                break
            case .image(let child):
                let childFetched = try await client.fetchManifest(source.repository, reference: child.digest.string, expected: child.digest)
                try Self.checkServedType(childFetched, as: child, from: source)
                root = Descriptor(mediaType: child.mediaType, digest: child.digest, size: Int64(childFetched.bytes.count), platform: child.platform)
                rootBytes = childFetched.bytes
            case .filtered(let narrowed):
                filtered = narrowed
                root = narrowed.descriptor
                rootBytes = narrowed.bytes
            }
        }
        try await store(root, bytes: rootBytes, from: source, client: client, depth: 0)
        let entry = Descriptor(mediaType: root.mediaType, digest: root.digest, size: root.size)
        let finalName = name ?? defaultName
        // Whose referrers come along: the root (for a filtered index, the source index:
        // the new one has none yet) and every entry it lists, so not the images left out.
        var subjects = [filtered?.source.digest ?? root.digest]
        if case .index(let index)? = try? ContentDocument(rootBytes, mediaType: root.mediaType, what: "index \(source)") {
            subjects += index.manifests.map(\.digest)
        }
        let repository = finalName.flatMap { CosignTag.repositoryPart(of: $0.value) } ?? "\(source.host)/\(source.repository)"
        let carried = try await pullReferrers(of: subjects, from: source, client: client, namingCosignTagsIn: repository)
        // One edit, spliced into a large index.json where it can be (as imports name).
        try layout.addEntries(
            [(entry, finalName.map { [$0] } ?? [])] + carried.map { ($0.entry, $0.name.map { [$0] } ?? []) }, purpose: "pull \(source)")
        var named = entry
        named.refName = finalName?.value
        return PullResult(entry: named, filtered: filtered)
    }

    /// The name a pulled image gets in the layout when none is given: `HOST/REPO:TAG`
    /// (nil for a reference by digest alone).
    public static func defaultName(of source: RegistryReference) throws -> RefName? {
        do {
            return try source.tag.map { try RefName(userInput: "\(source.host)/\(source.repository):\($0)") }
        } catch var error as StowageError {
            error.message += "; name the image with --tag"
            throw error
        }
    }

    /// Stores a manifest or index and, first, everything it references. A document the
    /// layout already has is read from it, not fetched, but still walked: gc may have
    /// taken part of what it references, and nothing is named until its graph is whole.
    private func store(_ descriptor: Descriptor, bytes: [UInt8], from source: RegistryReference, client: RegistryClient, depth: Int) async throws {
        guard depth <= ContentDocument.maxDepth else {
            throw StowageError(.invalidJSON, "\(source) nests indexes more than \(ContentDocument.maxDepth) levels deep")
        }
        // fetchManifest checked the digest; the size is the listing index's claim to check.
        guard Int64(bytes.count) == descriptor.size else {
            throw StowageError(.digestMismatch, "registry \(source.host) served \(descriptor.digest) of \(source.repository) as \(bytes.count) bytes, not the \(descriptor.size) its index declares")
        }
        let document = try ContentDocument(
            bytes, mediaType: descriptor.mediaType, what: "registry \(source.host): \(descriptor.digest) of \(source.repository)")
        switch document {
        case .index(let index):
            for child in index.manifests {
                let childBytes: [UInt8]
                if try layout.blobs.containsRefreshing(child.digest) {
                    childBytes = try layout.blobs.readDocument(child.digest, expectedSize: child.size)
                } else {
                    let fetched = try await client.fetchManifest(source.repository, reference: child.digest.string, expected: child.digest)
                    try Self.checkServedType(fetched, as: child, from: source)
                    childBytes = fetched.bytes
                }
                try await store(child, bytes: childBytes, from: source, client: client, depth: depth + 1)
            }
        case .manifest, .artifact:
            try await fetchBlobs(document.requiredReferences.map(\.descriptor), from: source, client: client)
        }
        if try !layout.blobs.containsRefreshing(descriptor.digest) {
            try layout.blobs.write(bytes)
            await session.recordManifest()
        }
    }

    /// Fetches and stores the referrers of `subjects` the policy admits, and the referrers
    /// of those found by subject (the signature of an SBOM), each digest-checked and with
    /// all it references; returns the `index.json` entries to add: unnamed for a referrer
    /// by subject, `REPOSITORY:sha256-<hex>.sig` for a cosign tag.
    private func pullReferrers(
        of subjects: [Digest], from source: RegistryReference, client: RegistryClient, namingCosignTagsIn repository: String
    ) async throws -> [(entry: Descriptor, name: RefName?)] {
        guard referrers.carry else { return [] }
        // The artifact types filter what refers to the image; what refers to those comes along.
        let direct = ReferrerDiscovery(client: client, policy: referrers, session: session)
        let nested = ReferrerDiscovery(client: client, policy: .all, session: session)
        var queue = subjects
        var seen = Set(subjects)
        var carried: [(entry: Descriptor, name: RefName?)] = []
        for round in 0..<ContentDocument.maxDepth where !queue.isEmpty {
            let discovery = round == 0 ? direct : nested
            var next: [Digest] = []
            for subject in queue {
                for found in try await discovery.referrers(of: subject, in: source.repository)
                where seen.insert(found.descriptor.digest).inserted {
                    let digest = found.descriptor.digest
                    let bytes: [UInt8]
                    var mediaType = found.descriptor.mediaType
                    if try layout.blobs.containsRefreshing(digest) {
                        bytes = try layout.blobs.readDocument(digest)
                        if found.link == .cosignTag { mediaType = try Layout.sniffMediaType(bytes, digest: digest) }
                    } else {
                        let fetched = try await client.fetchManifest(source.repository, reference: digest.string, expected: digest)
                        bytes = fetched.bytes
                        if found.link == .cosignTag { mediaType = fetched.mediaType }
                    }
                    var entry = found.descriptor
                    entry.mediaType = mediaType
                    if found.link == .cosignTag { entry.size = Int64(bytes.count) }
                    try await store(entry, bytes: bytes, from: source, client: client, depth: 0)
                    await session.recordReferrer()
                    var name: RefName?
                    if let tag = found.tag {
                        name = try RefName(stored: "\(repository):\(tag)")
                    } else {
                        next.append(digest)
                    }
                    carried.append((entry, name))
                }
            }
            queue = next
        }
        return carried
    }

    /// A child manifest must be served as what its index says it is.
    private static func checkServedType(_ fetched: FetchedManifest, as descriptor: Descriptor, from source: RegistryReference) throws {
        guard ContentDocument.isDocument(fetched.mediaType), fetched.mediaType != descriptor.mediaType else { return }
        throw StowageError(
            .invalidJSON,
            "registry \(source.host) served \(descriptor.digest) of \(source.repository) as \(fetched.mediaType), but its index lists it as \(descriptor.mediaType)")
    }

    private func fetchBlobs(_ blobs: [Descriptor], from source: RegistryReference, client: RegistryClient) async throws {
        let layout = self.layout
        let session = self.session
        let progress = self.progress
        let missing = try blobs.filter { blob in
            // Foreign layers live at their URLs, not in the registry.
            try !layout.blobs.containsRefreshing(blob.digest) && !blob.isForeignLayer
        }
        for blob in missing { progress.expect(blob.size) }
        try await forEachConcurrently(missing, limit: session.options.jobs) { blob in
            let sink = BlobSink(store: layout.blobs, expectedSize: blob.size, what: "blob \(blob.digest) of \(source)")
            defer { sink.discard() }
            let item = progress.begin(blob.digest.short, size: blob.size)
            defer { item.cancel() }
            try await client.fetchBlob(blob.digest, from: source.repository, restart: { try sink.restart() }) { chunk in
                try sink.write(chunk)
                item.advance(chunk.readableBytes)
            }
            try sink.commit(expecting: blob.digest, size: blob.size, what: "blob \(blob.digest) of \(source)")
            await session.recordReceived(size: blob.size)
            item.finish()
        }
    }
}

/// A blob being downloaded: a `BlobWriter` that a retried download replaces.
final class BlobSink: @unchecked Sendable {
    let store: BlobStore
    let expectedSize: Int64
    let what: String
    var writer: BlobWriter?

    init(store: BlobStore, expectedSize: Int64, what: String) {
        self.store = store
        self.expectedSize = expectedSize
        self.what = what
    }

    func restart() throws {
        writer?.discard()
        writer = try store.makeWriter()
    }

    func write(_ chunk: ByteBuffer) throws {
        guard let writer else { throw StowageError(.io, "download sink used before it was opened") }
        try chunk.withUnsafeReadableBytes { try writer.write($0) }
        // A registry that sends more than the descriptor says is cut off, not believed.
        if writer.size > expectedSize {
            throw StowageError(.digestMismatch, "\(what): the registry sent more than the \(expectedSize) bytes its descriptor declares")
        }
    }

    func commit(expecting digest: Digest, size: Int64, what: String) throws {
        guard let writer else { throw StowageError(.io, "download sink used before it was opened") }
        try writer.finish(expecting: digest, size: size, what: what)
        try store.commit(writer)
    }

    func discard() {
        writer?.discard()
    }
}
