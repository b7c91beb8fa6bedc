import StowageModel

/// The merge rules for building a multi-platform index, on values only.
///
/// Entries keep the order in which they are added. An entry whose digest is
/// already present is skipped; two different images for one platform are an
/// error unless `replace` is set, in which case the later one wins. Attestation
/// entries (`unknown/unknown` with `vnd.docker.reference.digest`) are kept and
/// dropped only with the image they describe.
public struct IndexMerge: Sendable {
    /// An entry of the index being built, with the source it came from.
    public struct Entry: Sendable, Equatable {
        /// The descriptor written into the index.
        public var descriptor: Descriptor
        /// The SOURCE argument (or `existing index`) it came from.
        public var source: String
    }

    /// A source or entry left out, and why.
    public struct Skip: Sendable, Equatable, Codable {
        /// The SOURCE argument.
        public var source: String
        /// The digest of what was left out, when known.
        public var digest: String?
        /// Why, as a phrase ("duplicate source", "same image as x86_64.tar").
        public var reason: String

        /// Creates a record of something skipped.
        public init(source: String, digest: String?, reason: String) {
            self.source = source
            self.digest = digest
            self.reason = reason
        }
    }

    /// The entries, in order.
    public private(set) var entries: [Entry] = []
    /// What was skipped, in order.
    public private(set) var skipped: [Skip] = []
    /// Entries removed because a later source replaced their platform (`--replace`, `index add`).
    public private(set) var replaced: [Entry] = []
    /// Sources whose entries a later one may replace without `replace` (the index being amended).
    public var replaceableSources: Set<String> = []

    /// An empty merge.
    public init() {}

    /// Starts from the entries of an existing index.
    public init(existing: [Descriptor], source: String) {
        entries = existing.map { Entry(descriptor: $0, source: source) }
        replaceableSources = [source]
    }

    /// Records a source skipped before it was resolved (a duplicate argument).
    public mutating func skip(_ source: String, digest: Digest?, reason: String) {
        skipped.append(Skip(source: source, digest: digest?.string, reason: reason))
    }

    /// Adds an entry under the merge rules.
    /// - Parameter replace: a platform already present is replaced instead of being an error.
    public mutating func add(_ descriptor: Descriptor, source: String, replace: Bool) throws {
        if let earlier = entries.first(where: { $0.descriptor.digest == descriptor.digest }) {
            let reason = earlier.source == source ? "listed twice in \(source)" : "same image as \(earlier.source)"
            skipped.append(Skip(source: source, digest: descriptor.digest.string, reason: reason))
            return
        }
        if let platform = descriptor.platform, !platform.isUnknown, descriptor.attestedDigest == nil,
            let position = entries.firstIndex(where: { entry in
                guard let other = entry.descriptor.platform, entry.descriptor.attestedDigest == nil else { return false }
                return other.matches(platform)
            })
        {
            let earlier = entries[position]
            guard replace || replaceableSources.contains(earlier.source) else {
                throw StowageError(
                    .conflict,
                    "\(earlier.source) (\(earlier.descriptor.digest)) and \(source) (\(descriptor.digest)) are both \(platform); pass --replace to keep the last one")
            }
            remove(at: position)
        }
        entries.append(Entry(descriptor: descriptor, source: source))
    }

    /// Removes the entries for `platform` and their attestations; returns how many images were removed.
    public mutating func remove(platform: Platform) -> Int {
        var removed = 0
        while let position = entries.firstIndex(where: {
            $0.descriptor.attestedDigest == nil && ($0.descriptor.platform.map { $0.matches(platform) } ?? false)
        }) {
            remove(at: position)
            removed += 1
        }
        return removed
    }

    private mutating func remove(at position: Int) {
        let gone = entries.remove(at: position)
        replaced.append(gone)
        // An attestation of an image that left the index would describe nothing.
        entries.removeAll { $0.descriptor.attestedDigest == gone.descriptor.digest.string }
    }

    /// The descriptors to write, in order.
    public var descriptors: [Descriptor] { entries.map(\.descriptor) }
}

// MARK: - The rules around the merge

/// The rules of `index create` and `index add` that come before and after the merge
/// itself, on values only: what a SOURCE gives the index, which format and annotations
/// the index gets. The layout's `IndexBuilder` and the `RegistryIndexBuilder` read the
/// documents each from its own place and apply these.
extension IndexMerge {
    /// What a SOURCE's document gives the index.
    enum SourceEntries {
        /// These entries, as they are: an index's own entries, or an image whose
        /// platform is known (given with `--platform-of`) or none (an artifact).
        case entries([Descriptor])
        /// This image, whose platform its image config `config` declares.
        case image(Descriptor, config: Descriptor)
    }

    /// Every `--platform-of SOURCE=…` must name one of the SOURCEs.
    static func checkPlatformOverrides(_ overrides: [String: Platform], sources: [String]) throws {
        for key in overrides.keys.sorted() where !sources.contains(key) {
            throw StowageError(.usage, "--platform-of names '\(key)', which is not one of the SOURCEs")
        }
    }

    /// What the SOURCE `source` (the image or index `descriptor`, whose bytes `bytes`
    /// reads) gives the index. `override` is its `--platform-of`. `bytes` is called only
    /// when the document must be read.
    static func sourceEntries(
        of descriptor: Descriptor, source: String, override: Platform?, bytes: () throws -> [UInt8]
    ) throws -> SourceEntries {
        if descriptor.mediaType.isIndex {
            guard override == nil else {
                throw StowageError(.usage, "--platform-of cannot set the platform of \(source): it is an index, whose entries keep their own platforms")
            }
            guard case .index(let index) = try ContentDocument(try bytes(), mediaType: descriptor.mediaType, what: "index \(descriptor.digest) of \(source)") else {
                return .entries([])
            }
            return .entries(index.manifests)
        }
        guard descriptor.mediaType.isManifest || descriptor.mediaType.rawValue.hasSuffix("manifest.v1+json") else {
            throw StowageError(.unsupported, "\(source) is a \(descriptor.mediaType), not an image manifest or index")
        }
        let image = Descriptor(mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, platform: override)
        guard override == nil,
            case .manifest(let manifest) = try ContentDocument(try bytes(), mediaType: descriptor.mediaType, what: "manifest \(descriptor.digest) of \(source)"),
            manifest.config.mediaType.isImageConfig
        else { return .entries([image]) }
        return .image(image, config: manifest.config)
    }

    /// The platform an image config declares; `config` is its descriptor, `source` the SOURCE.
    static func platform(ofConfig bytes: [UInt8], config: Descriptor, source: String) throws -> Platform {
        let decoded = try JSONCoding.decode(ImageConfig.self, from: bytes, what: "config \(config.digest) of \(source)")
        guard !decoded.os.isEmpty, !decoded.architecture.isEmpty else {
            throw StowageError(.invalidJSON, "config \(config.digest) of \(source) has no os or architecture; set one with --platform-of \(source)=OS/ARCH")
        }
        return decoded.platform
    }

    /// OCI when every child is OCI, Docker when every child is Docker; mixed needs `--format`.
    static func inferFormat(_ entries: [Entry], preferring preferred: IndexFormat? = nil) throws -> IndexFormat {
        let docker = entries.filter { $0.descriptor.mediaType.isDocker }
        let oci = entries.filter { !$0.descriptor.mediaType.isDocker }
        if docker.isEmpty { return preferred == .docker && oci.isEmpty ? .docker : .oci }
        if oci.isEmpty { return .docker }
        throw StowageError(
            .conflict,
            "the sources mix OCI (\(oci[0].source)) and Docker (\(docker[0].source)) manifests; pass --format oci or --format docker (children keep their bytes either way)")
    }

    /// A Docker manifest list has no annotations.
    static func checkAnnotations(_ index: Index, format: IndexFormat) throws {
        if format == .docker && index.annotations != nil {
            throw StowageError(.usage, "a Docker manifest list has no annotations; use --format oci to annotate the index")
        }
    }

    /// The new index of `index create`: the merged entries, in `format` (by default the
    /// children's), with `annotations`. At least one unique source must remain.
    func newIndex(format requested: IndexFormat?, annotations: [String: String]) throws -> (Index, IndexFormat) {
        guard !entries.isEmpty else {
            throw StowageError(.conflict, "no unique source remains: every SOURCE duplicates an earlier one")
        }
        let format = try requested ?? Self.inferFormat(entries)
        var index = Index(mediaType: format.mediaType, manifests: descriptors)
        index.annotations = annotations.isEmpty ? nil : annotations
        try Self.checkAnnotations(index, format: format)
        return (index, format)
    }

    /// The warning for sources from more than one registry, given the first SOURCE of
    /// each (by registry host); nil when they come from one.
    static func differentRegistriesWarning(_ registries: [String: String]) -> String? {
        guard registries.count > 1 else { return nil }
        let listing = registries.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
        return "sources come from different registries: \(listing)"
    }
}

/// The entries the SOURCEs stand for, resolved once, in order: what every (re-)merge
/// adds. A SOURCE given twice is recorded as a skip.
struct ResolvedSources {
    enum Item {
        case entry(Descriptor, source: String)
        case skip(source: String, reason: String)
    }

    private(set) var items: [Item] = []
    private var seen = Set<String>()

    /// Whether `source` is new; a repeated one is recorded as skipped.
    mutating func admit(_ source: String) -> Bool {
        guard seen.insert(source).inserted else {
            items.append(.skip(source: source, reason: "duplicate source"))
            return false
        }
        return true
    }

    /// Adds the entries `source` gives.
    mutating func add(_ entries: [Descriptor], source: String) {
        items += entries.map { .entry($0, source: source) }
    }

    /// Adds every item to `merge` under its rules.
    func apply(to merge: inout IndexMerge, replace: Bool) throws {
        for item in items {
            switch item {
            case .entry(let descriptor, let source): try merge.add(descriptor, source: source, replace: replace)
            case .skip(let source, let reason): merge.skip(source, digest: nil, reason: reason)
            }
        }
    }
}
