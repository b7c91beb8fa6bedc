/// An index narrowed to some of its platforms (`--platform A --platform B`): a new
/// document, with a new digest, listing only the entries of those platforms and the
/// attestation entries that describe them.
public struct FilteredIndex: Sendable, Equatable {
    /// The index it was made from, as its parent (or `index.json`) lists it.
    public var source: Descriptor
    /// The new index.
    public var index: Index
    /// The new index's bytes: compact JSON with sorted keys, so the same source and
    /// platforms always give the same bytes, and so the same digest.
    public var bytes: [UInt8]
    /// The new index's descriptor: the source's media type, the new digest and size.
    public var descriptor: Descriptor
    /// The platforms the new index keeps, each once, in the source's order.
    public var keptPlatforms: [Platform]
    /// The platforms the source lists, each once, in its order.
    public var sourcePlatforms: [Platform]

    /// `filtered index sha256:… (2 of 5 platforms) replaces sha256:…`.
    public var summary: String { report.summary }

    /// What a `--json` report says of it.
    public var report: FilteredIndexReport {
        FilteredIndexReport(
            digest: descriptor.digest.string, replaces: source.digest.string, platforms: keptPlatforms.map(\.description),
            sourcePlatforms: sourcePlatforms.map(\.description))
    }
}

/// A filtered index as JSON reports show it.
public struct FilteredIndexReport: Sendable, Codable, Equatable {
    /// The new index's digest.
    public var digest: String
    /// The digest of the index it replaces.
    public var replaces: String
    /// The platforms it keeps.
    public var platforms: [String]
    /// The platforms of the index it replaces.
    public var sourcePlatforms: [String]

    /// `filtered index sha256:… (2 of 5 platforms) replaces sha256:…`.
    public var summary: String {
        "filtered index \(digest) (\(platforms.count) of \(sourcePlatforms.count) platforms) replaces \(replaces)"
    }
}

/// What a platform filter makes of an index.
public enum PlatformSelection: Sendable, Equatable {
    /// Every entry is kept: the index itself, bytes and digest unchanged.
    case whole
    /// One platform was asked for: its image stands for the index (as with skopeo's and
    /// crane's single `--platform`); the image's bytes and digest are unchanged.
    case image(Descriptor)
    /// Several platforms, not all: a new index of just those.
    case filtered(FilteredIndex)
}

extension Index {
    /// The platforms the index lists, each once, in order; attestation entries
    /// (`unknown/unknown`) are not platforms.
    public var platforms: [Platform] {
        var seen: [Platform] = []
        for entry in manifests {
            guard let platform = entry.platform, !platform.isUnknown, !seen.contains(where: { $0.matches(platform) }) else { continue }
            seen.append(platform)
        }
        return seen
    }

    /// The index with only the entries for `platforms` and the attestation entries
    /// that describe those entries; everything else (media type, artifact type,
    /// subject, annotations, unknown fields) as it was, each kept entry as it was
    /// written. Throws, naming what the index has, when a platform has no entry:
    /// `what` names the index in that message (`team/app:v1`).
    public func filtered(to platforms: [Platform], what: String) throws -> Index {
        let missing = platforms.filter { wanted in !manifests.contains { $0.attestedDigest == nil && ($0.platform?.matches(wanted) ?? false) } }
        guard missing.isEmpty else {
            throw StowageError(
                .notFound,
                "\(what) has no \(Self.list(missing)) image (it has: \(Self.list(self.platforms)))")
        }
        let images = manifests.filter { entry in
            entry.attestedDigest == nil && platforms.contains { entry.platform?.matches($0) ?? false }
        }
        let kept = Set(images.map(\.digest.string))
        var narrowed = self
        narrowed.manifests = manifests.filter { entry in
            if let attested = entry.attestedDigest { return kept.contains(attested) }
            return kept.contains(entry.digest.string)
        }
        return narrowed
    }

    /// What `platforms` make of this index, listed by `source`: nothing to filter
    /// (`whole`, also when the platforms cover every entry), one platform's image, or a
    /// new index of several. With `preserveDigests`, a new index is refused, as skopeo's
    /// `--preserve-digests` does. `what` names the index in messages.
    public func selecting(_ platforms: [Platform], source: Descriptor, what: String, preserveDigests: Bool = false) throws -> PlatformSelection {
        var wanted: [Platform] = []
        for platform in platforms where !wanted.contains(where: { $0.matches(platform) }) { wanted.append(platform) }
        guard !wanted.isEmpty else { return .whole }
        let narrowed = try filtered(to: wanted, what: what)
        if wanted.count == 1 {
            guard let image = narrowed.manifests.first(where: { $0.attestedDigest == nil }) else { return .whole }
            return .image(Descriptor(mediaType: image.mediaType, digest: image.digest, size: image.size, platform: image.platform))
        }
        guard narrowed.manifests.count < manifests.count else { return .whole }
        let sourcePlatforms = self.platforms
        let keptPlatforms = narrowed.platforms
        if preserveDigests {
            throw StowageError(
                .conflict,
                "cannot preserve digests: --platform selects \(keptPlatforms.count) of \(sourcePlatforms.count) platforms of \(what), which makes a new index; "
                    + "drop --preserve-digests to accept its new digest, or drop --platform to keep the index as it is")
        }
        let bytes = narrowed.jsonBytes
        let descriptor = Descriptor(mediaType: source.mediaType, digest: ContentHasher.digest(of: bytes), size: Int64(bytes.count))
        return .filtered(FilteredIndex(
            source: source, index: narrowed, bytes: bytes, descriptor: descriptor, keptPlatforms: keptPlatforms, sourcePlatforms: sourcePlatforms))
    }

    private static func list(_ platforms: [Platform]) -> String {
        platforms.map(\.description).joined(separator: ", ")
    }
}
