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
