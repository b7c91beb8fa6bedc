import StowageArchive
import StowageLayout
import StowageModel

/// The format of a multi-platform index.
public enum IndexFormat: String, Sendable, CaseIterable, Codable {
    /// `application/vnd.oci.image.index.v1+json`.
    case oci
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    case docker

    /// The index's media type.
    public var mediaType: MediaType { self == .oci ? .ociIndex : .dockerManifestList }

    /// The format of an index with `mediaType`.
    public init(of mediaType: MediaType) {
        self = mediaType == .dockerManifestList ? .docker : .oci
    }
}

/// What `index create` or `index add` is asked to do.
public struct IndexRequest: Sendable {
    /// The names the index gets; the first names the index to amend for `add`.
    public var tags: [RefName]
    /// Layout references, `sha256:` digests or archive paths, in order.
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
    public init(tags: [RefName], sources: [String]) {
        self.tags = tags
        self.sources = sources
    }
}

/// What an index operation did.
public struct IndexReport: Sendable, Codable {
    /// One entry of the index.
    public struct Entry: Sendable, Codable, Equatable {
        /// The SOURCE it came from (`existing index` for entries kept by `add`/`remove`).
        public var source: String
        /// Its digest.
        public var digest: String
        /// Its media type.
        public var mediaType: String
        /// Its size.
        public var size: Int64
        /// `os/arch[/variant]`, when it has a platform.
        public var platform: String?
    }

    /// The names now pointing at the index.
    public var tags: [String]
    /// The index digest.
    public var digest: String
    /// The index media type.
    public var mediaType: String
    /// The index size.
    public var size: Int64
    /// The index entries, in order.
    public var entries: [Entry]
    /// Sources and entries left out by the merge rules.
    public var skipped: [IndexMerge.Skip]
    /// Entries that left the index (replaced or removed).
    public var removed: [Entry]
    /// Things worth a look that did not stop the build.
    public var warnings: [String]
    /// Archives imported on the way.
    public var imports: [ImportReport]
    /// For an index built in a registry: what moved (blobs mounted or copied, manifests written).
    public var summary: TransferSummary?
    /// For an index built in a registry with a layout: the names it has in the layout.
    public var layoutNames: [String]?

    /// The report of an index stored as `index`, named `tags`, built by `merge`.
    init(tags: [String], index: Descriptor, merge: IndexMerge, warnings: [String], imports: [ImportReport] = []) {
        func report(_ entry: IndexMerge.Entry) -> Entry {
            Entry(
                source: entry.source, digest: entry.descriptor.digest.string, mediaType: entry.descriptor.mediaType.rawValue,
                size: entry.descriptor.size, platform: entry.descriptor.platform?.description)
        }
        self.tags = tags
        digest = index.digest.string
        mediaType = index.mediaType.rawValue
        size = index.size
        entries = merge.entries.map(report)
        skipped = merge.skipped
        removed = merge.replaced.map(report)
        self.warnings = warnings
        self.imports = imports
    }
}

/// Builds and amends multi-platform indexes in a layout, under the merge rules of
/// `IndexMerge`. Children are never rewritten: an index lists their exact digests.
///
/// Sources are resolved (archives imported, platforms read) once, outside the index
/// lock. Each edit of an existing index is then a compare-and-swap on its name: the
/// new index is merged against the value the name had, and under the index lock the
/// name moves only if it still has that value. When another process moved it
/// meanwhile, the merge is done again, under the lock, against the new value, so
/// concurrent `index add` and `index remove` runs on one name lose nothing.
public struct IndexBuilder {
    /// The layout the sources are in and the index goes to.
    public let layout: Layout
    /// Where the imports of archive sources count their bytes (nil: nowhere).
    public var progress: TransferProgress?

    /// Creates a builder for `layout`; archive sources are imported counting in `progress`.
    public init(layout: Layout, progress: TransferProgress? = nil) {
        self.layout = layout
        self.progress = progress
    }

    /// Builds a new index from `request.sources` and names it with every tag.
    public func create(_ request: IndexRequest) throws -> IndexReport {
        try checkRequest(request)
        let blobLock = try layout.lockBlobs(.shared, purpose: "index create")
        defer { blobLock.unlock() }
        var context = Context()
        let sources = try resolveSources(request, context: &context)
        return try edit(tags: request.tags, amending: false, context: context) { _ in
            var merge = IndexMerge()
            try sources.apply(to: &merge, replace: request.replace)
            let (index, format) = try merge.newIndex(format: request.format, annotations: request.annotations)
            return (index, format, merge)
        }
    }

    /// Adds or replaces platforms in the index named `request.tags[0]`; every tag moves to the new index.
    public func add(_ request: IndexRequest) throws -> IndexReport {
        try checkRequest(request)
        let blobLock = try layout.lockBlobs(.shared, purpose: "index add")
        defer { blobLock.unlock() }
        var context = Context()
        let sources = try resolveSources(request, context: &context)
        return try edit(tags: request.tags, amending: true, context: context) { current in
            let (original, descriptor) = current!
            var existing = original
            var merge = IndexMerge(existing: existing.manifests, source: "existing index")
            try sources.apply(to: &merge, replace: request.replace)
            let format = try request.format ?? IndexMerge.inferFormat(merge.entries, preferring: IndexFormat(of: descriptor.mediaType))
            existing.mediaType = format.mediaType
            existing.manifests = merge.descriptors
            if !request.annotations.isEmpty {
                existing.annotations = (existing.annotations ?? [:]).merging(request.annotations) { _, new in new }
            }
            return (existing, format, merge)
        }
    }

    /// Removes the entries for `platform` from the index named `tags[0]`; every tag moves to the new index.
    public func remove(tags: [RefName], platform: Platform) throws -> IndexReport {
        guard !tags.isEmpty else { throw StowageError(.usage, "give the index to change with --tag REF") }
        let blobLock = try layout.lockBlobs(.shared, purpose: "index remove")
        defer { blobLock.unlock() }
        return try edit(tags: tags, amending: true, context: Context()) { current in
            let (original, descriptor) = current!
            var existing = original
            var merge = IndexMerge(existing: existing.manifests, source: "existing index")
            guard merge.remove(platform: platform) > 0 else {
                let present = existing.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw StowageError(.notFound, "\(tags[0]) has no \(platform) entry (it has: \(present))")
            }
            guard !merge.entries.isEmpty else {
                throw StowageError(.conflict, "removing \(platform) would leave \(tags[0]) empty; remove the name with `stowage rm` instead")
            }
            existing.manifests = merge.descriptors
            return (existing, IndexFormat(of: descriptor.mediaType), merge)
        }
    }

    // MARK: - Compare and swap

    /// The value an edit starts from: the index a name points at, with its descriptor.
    typealias Current = (index: Index, descriptor: Descriptor)
    /// Builds the new index from the current one (nil for `create`, which starts afresh).
    typealias Build = (_ current: Current?) throws -> (Index, IndexFormat, IndexMerge)

    /// Builds an index, stores it, and moves every tag to it. When `amending`, the
    /// build starts from the index `tags[0]` names; if that name moves before the
    /// tags are written, the build runs again under the index lock against its new value.
    private func edit(tags: [RefName], amending: Bool, context: Context, build: Build) throws -> IndexReport {
        let name = tags[0]
        let seen: Descriptor? = amending ? try layout.resolve(name.value) : nil
        var built = try build(amending ? try existingIndex(name, descriptor: seen!) : nil)
        var stored = try store(built.0, format: built.1)
        try layout.updateIndex(purpose: "index \(name)") { layoutIndex in
            if amending {
                let now = try layout.resolve(name.value, in: layoutIndex)
                if now.digest != seen!.digest {
                    // Another process changed the index meanwhile: merge again against its value.
                    built = try build(try existingIndex(name, descriptor: now))
                    stored = try store(built.0, format: built.1)
                }
            }
            for tag in tags { layoutIndex.setReference(tag, to: stored) }
            // An unnamed image the index now lists needs no entry of its own.
            let children = Set(built.0.manifests.map(\.digest))
            layoutIndex.manifests.removeAll { $0.refName == nil && children.contains($0.digest) }
        }
        return IndexReport(tags: tags.map(\.value), index: stored, merge: built.2, warnings: context.warnings, imports: context.imports)
    }

    /// Writes an index document as a blob and returns its descriptor.
    private func store(_ index: Index, format: IndexFormat) throws -> Descriptor {
        try IndexMerge.checkAnnotations(index, format: format)
        let (digest, size) = try layout.blobs.write(JSONCoding.encode(index))
        return Descriptor(mediaType: format.mediaType, digest: digest, size: size)
    }

    private func existingIndex(_ tag: RefName, descriptor: Descriptor) throws -> Current {
        guard descriptor.mediaType.isIndex else {
            throw StowageError(.conflict, "\(tag) is a \(descriptor.mediaType), not an index; build one with `stowage index create`")
        }
        let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
        guard case .index(let index) = try ContentDocument(bytes, mediaType: descriptor.mediaType, what: "index \(descriptor.digest) (\(tag))") else {
            throw StowageError(.conflict, "\(tag) is not an index")
        }
        return (index, descriptor)
    }

    // MARK: - Sources

    /// What was learnt while resolving sources.
    struct Context {
        var imports: [ImportReport] = []
        var warnings: [String] = []
        var registries: [String: String] = [:]
    }

    private func checkRequest(_ request: IndexRequest) throws {
        guard !request.tags.isEmpty else { throw StowageError(.usage, "give the index a name with --tag REF") }
        guard !request.sources.isEmpty else { throw StowageError(.usage, "give at least one SOURCE: a reference, a sha256: digest or an archive") }
        if let remote = request.sources.first(where: { $0.hasPrefix("docker://") }) {
            throw StowageError(
                .usage,
                "SOURCE '\(remote)' is in a registry: build the index there with docker:// --tag targets, or pull the image into the layout first")
        }
        try IndexMerge.checkPlatformOverrides(request.platformOverrides, sources: request.sources)
    }

    private func resolveSources(_ request: IndexRequest, context: inout Context) throws -> ResolvedSources {
        var resolved = ResolvedSources()
        for source in request.sources where resolved.admit(source) {
            for descriptor in try resolve(source, context: &context) {
                resolved.add(try entries(of: descriptor, source: source, request: request), source: source)
            }
        }
        if let warning = IndexMerge.differentRegistriesWarning(context.registries) { context.warnings.append(warning) }
        return resolved
    }

    /// The images a SOURCE stands for: an archive is imported first; an image of the
    /// layout must be whole (a digest no name reaches may have lost blobs to gc).
    private func resolve(_ source: String, context: inout Context) throws -> [Descriptor] {
        let archive = try ArchiveImporter.archivePath(source)
        if FileSystem.isRegularFile(archive) {
            let report = try ArchiveImporter(layout: layout, progress: progress).importArchive(archive)
            context.imports.append(report)
            return try report.images.map {
                Descriptor(mediaType: MediaType($0.mediaType), digest: try Digest($0.digest), size: $0.size)
            }
        }
        let descriptor: Descriptor
        do {
            descriptor = try layout.resolve(source)
        } catch let error as StowageError where error.code == .notFound {
            throw StowageError(.notFound, "SOURCE '\(source)' is neither an image in layout \(layout.root) nor an archive file")
        }
        try layout.requireComplete(descriptor, label: source)
        if let name = descriptor.refName, let domain = try? Reference(parsing: name).domain {
            context.registries[domain] = context.registries[domain] ?? source
        }
        return [descriptor]
    }

    /// The index entries an image gives: an index's own entries, or the manifest with its platform.
    private func entries(of descriptor: Descriptor, source: String, request: IndexRequest) throws -> [Descriptor] {
        let read = { try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size) }
        switch try IndexMerge.sourceEntries(of: descriptor, source: source, override: request.platformOverrides[source], bytes: read) {
        case .entries(let entries):
            return entries
        case .image(var image, let config):
            let bytes = try layout.blobs.readDocument(config.digest, expectedSize: config.size)
            image.platform = try IndexMerge.platform(ofConfig: bytes, config: config, source: source)
            return [image]
        }
    }
}
