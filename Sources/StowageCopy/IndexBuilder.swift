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
}

/// Builds and amends multi-platform indexes in a layout, under the merge rules of
/// `IndexMerge`. Children are never rewritten: an index lists their exact digests.
public struct IndexBuilder {
    /// The layout the sources are in and the index goes to.
    public let layout: Layout

    /// Creates a builder for `layout`.
    public init(layout: Layout) {
        self.layout = layout
    }

    /// Builds a new index from `request.sources` and names it with every tag.
    public func create(_ request: IndexRequest) throws -> IndexReport {
        try checkRequest(request)
        let blobLock = try layout.lockBlobs(.shared, purpose: "index create")
        defer { blobLock.unlock() }
        var context = Context()
        var merge = IndexMerge()
        try addSources(request, to: &merge, context: &context)
        guard !merge.entries.isEmpty else {
            throw StowageError(.conflict, "no unique source remains: every SOURCE duplicates an earlier one")
        }
        let format = try request.format ?? inferFormat(merge.entries)
        var index = Index(mediaType: format.mediaType, manifests: merge.descriptors)
        index.annotations = request.annotations.isEmpty ? nil : request.annotations
        return try write(index, format: format, tags: request.tags, merge: merge, context: context)
    }

    /// Adds or replaces platforms in the index named `request.tags[0]`; every tag moves to the new index.
    public func add(_ request: IndexRequest) throws -> IndexReport {
        try checkRequest(request)
        let blobLock = try layout.lockBlobs(.shared, purpose: "index add")
        defer { blobLock.unlock() }
        let (original, descriptor) = try existingIndex(request.tags[0])
        var existing = original
        var context = Context()
        var merge = IndexMerge(existing: existing.manifests, source: "existing index")
        try addSources(request, to: &merge, context: &context)
        let format = try request.format ?? inferFormat(merge.entries, preferring: IndexFormat(of: descriptor.mediaType))
        existing.mediaType = format.mediaType
        existing.manifests = merge.descriptors
        if !request.annotations.isEmpty {
            existing.annotations = (existing.annotations ?? [:]).merging(request.annotations) { _, new in new }
        }
        return try write(existing, format: format, tags: request.tags, merge: merge, context: context)
    }

    /// Removes the entries for `platform` from the index named `tags[0]`; every tag moves to the new index.
    public func remove(tags: [RefName], platform: Platform) throws -> IndexReport {
        guard !tags.isEmpty else { throw StowageError(.usage, "give the index to change with --tag REF") }
        let blobLock = try layout.lockBlobs(.shared, purpose: "index remove")
        defer { blobLock.unlock() }
        let (original, descriptor) = try existingIndex(tags[0])
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
        let format = IndexFormat(of: descriptor.mediaType)
        return try write(existing, format: format, tags: tags, merge: merge, context: Context())
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
        for key in request.platformOverrides.keys where !request.sources.contains(key) {
            throw StowageError(.usage, "--platform-of names '\(key)', which is not one of the SOURCEs")
        }
    }

    private func addSources(_ request: IndexRequest, to merge: inout IndexMerge, context: inout Context) throws {
        var seen = Set<String>()
        for source in request.sources {
            guard seen.insert(source).inserted else {
                merge.skip(source, digest: nil, reason: "duplicate source")
                continue
            }
            for descriptor in try resolve(source, context: &context) {
                try addSource(descriptor, source: source, request: request, to: &merge)
            }
        }
        if context.registries.count > 1 {
            let listing = context.registries.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            context.warnings.append("sources come from different registries: \(listing)")
        }
    }

    /// The images a SOURCE stands for: an archive is imported first.
    private func resolve(_ source: String, context: inout Context) throws -> [Descriptor] {
        if FileSystem.isRegularFile(source) {
            let report = try ArchiveImporter(layout: layout).importArchive(source)
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
        if let name = descriptor.refName, let domain = try? Reference(parsing: name).domain {
            context.registries[domain] = context.registries[domain] ?? source
        }
        return [descriptor]
    }

    private func addSource(_ descriptor: Descriptor, source: String, request: IndexRequest, to merge: inout IndexMerge) throws {
        let override = request.platformOverrides[source]
        if descriptor.mediaType.isIndex {
            guard override == nil else {
                throw StowageError(.usage, "--platform-of cannot set the platform of \(source): it is an index, whose entries keep their own platforms")
            }
            let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
            let index = try JSONCoding.decode(Index.self, from: bytes, what: "index \(descriptor.digest) of \(source)")
            for child in index.manifests {
                guard try layout.blobs.contains(child.digest) else {
                    throw StowageError(.notFound, "index \(descriptor.digest) of \(source) lists \(child.digest), which is not in the layout")
                }
                try merge.add(child, source: source, replace: request.replace)
            }
            return
        }
        guard descriptor.mediaType.isManifest || descriptor.mediaType.rawValue.hasSuffix("manifest.v1+json") else {
            throw StowageError(.unsupported, "\(source) is a \(descriptor.mediaType), not an image manifest or index")
        }
        let entry = Descriptor(
            mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size,
            platform: try override ?? configPlatform(of: descriptor, source: source))
        try merge.add(entry, source: source, replace: request.replace)
    }

    /// The platform an image's config declares (nil for artifacts without an image config).
    private func configPlatform(of descriptor: Descriptor, source: String) throws -> Platform? {
        let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
        let manifest = try JSONCoding.decode(Manifest.self, from: bytes, what: "manifest \(descriptor.digest) of \(source)")
        guard manifest.config.mediaType.isImageConfig else { return nil }
        let configBytes = try layout.blobs.readDocument(manifest.config.digest, expectedSize: manifest.config.size)
        let config = try JSONCoding.decode(ImageConfig.self, from: configBytes, what: "config \(manifest.config.digest) of \(source)")
        guard !config.os.isEmpty, !config.architecture.isEmpty else {
            throw StowageError(.invalidJSON, "config \(manifest.config.digest) of \(source) has no os or architecture; set one with --platform-of \(source)=OS/ARCH")
        }
        return config.platform
    }

    /// OCI when every child is OCI, Docker when every child is Docker; mixed needs `--format`.
    private func inferFormat(_ entries: [IndexMerge.Entry], preferring preferred: IndexFormat? = nil) throws -> IndexFormat {
        let docker = entries.filter { $0.descriptor.mediaType.isDocker }
        let oci = entries.filter { !$0.descriptor.mediaType.isDocker }
        if docker.isEmpty { return preferred == .docker && oci.isEmpty ? .docker : .oci }
        if oci.isEmpty { return .docker }
        throw StowageError(
            .conflict,
            "the sources mix OCI (\(oci[0].source)) and Docker (\(docker[0].source)) manifests; pass --format oci or --format docker (children keep their bytes either way)")
    }

    private func existingIndex(_ tag: RefName) throws -> (Index, Descriptor) {
        let descriptor = try layout.resolve(tag.value)
        guard descriptor.mediaType.isIndex else {
            throw StowageError(.conflict, "\(tag) is a \(descriptor.mediaType), not an index; build one with `stowage index create`")
        }
        let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
        return (try JSONCoding.decode(Index.self, from: bytes, what: "index \(descriptor.digest) (\(tag))"), descriptor)
    }

    // MARK: - Writing

    private func write(_ index: Index, format: IndexFormat, tags: [RefName], merge: IndexMerge, context: Context) throws -> IndexReport {
        if format == .docker && index.annotations != nil {
            throw StowageError(.usage, "a Docker manifest list has no annotations; use --format oci to annotate the index")
        }
        let bytes = try JSONCoding.encode(index)
        let (digest, size) = try layout.blobs.write(bytes)
        let descriptor = Descriptor(mediaType: format.mediaType, digest: digest, size: size)
        let children = Set(index.manifests.map(\.digest))
        try layout.updateIndex(purpose: "index \(tags[0])") { layoutIndex in
            for tag in tags { layoutIndex.setReference(tag, to: descriptor) }
            // An unnamed image the index now lists needs no entry of its own.
            layoutIndex.manifests.removeAll { $0.refName == nil && children.contains($0.digest) }
        }
        func report(_ entry: IndexMerge.Entry) -> IndexReport.Entry {
            IndexReport.Entry(
                source: entry.source, digest: entry.descriptor.digest.string, mediaType: entry.descriptor.mediaType.rawValue,
                size: entry.descriptor.size, platform: entry.descriptor.platform?.description)
        }
        return IndexReport(
            tags: tags.map(\.value), digest: digest.string, mediaType: format.mediaType.rawValue, size: size,
            entries: merge.entries.map(report), skipped: merge.skipped, removed: merge.replaced.map(report),
            warnings: context.warnings, imports: context.imports)
    }
}
