import StowageModel

/// One referrer of an image in a layout, as `stowage referrers` shows it.
public struct ReferrerSummary: Sendable, Codable, Equatable {
    /// The referrer's manifest digest.
    public var digest: String
    /// The referrer's media type.
    public var mediaType: String
    /// Its artifact type (`artifactType`, else a non-image config media type), if any.
    public var artifactType: String?
    /// The manifest's size in bytes.
    public var size: Int64
    /// The manifest's annotations.
    public var annotations: [String: String]?
    /// How it is tied to what it refers to.
    public var link: ReferrerLink
    /// The digest it refers to: the image asked about, or a referrer of it (the signature of an SBOM).
    public var subject: String
    /// The layout name it has, for a cosign tag.
    public var reference: String?
}

/// The referrers stored in a layout's `index.json`, found once per read of it.
///
/// A referrer entry is an entry without `ref.name` whose manifest or index has a
/// `subject` (as oras stores them), or an entry named by a cosign tag
/// `REPO:sha256-<hex>.sig|.att|.sbom`, which refers to the digest it names. Every
/// other entry is a root: it stays until it is unnamed. In-index attestations are
/// part of their index's graph and need no entry of their own.
public struct LayoutReferrers: Sendable {
    /// An `index.json` entry that is a referrer.
    public struct Link: Sendable, Equatable {
        /// The entry.
        public var entry: Descriptor
        /// What it refers to.
        public var subject: Digest
        /// How.
        public var link: ReferrerLink
        /// The referrer's document, when it was read (entries without a name).
        public var document: ContentDocument?
    }

    /// Entries that are not referrers: what names and unnamed images keep alive.
    public private(set) var roots: [Descriptor] = []
    /// Entries that are referrers, in `index.json` order.
    public private(set) var links: [Link] = []
    private var entryKeys: Set<String> = []

    /// Classifies the entries of `index`, reading the documents of unnamed entries from
    /// `blobs`. An unnamed entry whose document cannot be read stays a root, so that
    /// walks report it rather than lose it. With `keepRoots: false` only the referrers
    /// are kept (a push or sync that needs no roots, on an index of any size).
    public init(index: Index, blobs: BlobStore, keepRoots: Bool = true) {
        for entry in index.manifests {
            if let name = entry.refName {
                if let tag = CosignTag(name: name) {
                    links.append(Link(entry: entry, subject: tag.subject, link: .cosignTag, document: nil))
                } else if keepRoots {
                    roots.append(entry)
                }
                continue
            }
            guard ContentDocument.isDocument(entry.mediaType),
                let bytes = try? blobs.readDocument(entry.digest, expectedSize: entry.size),
                ContentHasher.digest(of: bytes) == entry.digest,
                let document = try? ContentDocument(bytes, mediaType: entry.mediaType, what: "blob \(entry.digest)"),
                let subject = document.subject
            else {
                if keepRoots { roots.append(entry) }
                continue
            }
            links.append(Link(entry: entry, subject: subject.digest, link: .subject, document: document))
        }
        entryKeys = Set(links.map { Self.key($0.entry) })
    }

    /// Whether `entry` of `index.json` is a referrer entry.
    public func isReferrer(_ entry: Descriptor) -> Bool {
        entryKeys.contains(Self.key(entry))
    }

    /// The referrer entries that refer, directly or through other referrers, to any of
    /// `subjects`, in `index.json` order; `artifactType` keeps only direct referrers of
    /// that type (and what refers to them).
    public func closure(of subjects: Set<Digest>, artifactType: String? = nil, blobs: BlobStore? = nil) -> [Link] {
        closure(of: subjects, policy: ReferrerPolicy(artifactTypes: artifactType.map { [$0] } ?? []), blobs: blobs)
    }

    /// The referrer entries `policy` carries with `subjects`, directly or through other
    /// referrers, in `index.json` order. The policy's artifact types apply to direct referrers.
    public func closure(of subjects: Set<Digest>, policy: ReferrerPolicy, blobs: BlobStore?) -> [Link] {
        guard policy.carry else { return [] }
        // Breadth first over "refers to", each link visited once.
        var bySubject: [Digest: [Int]] = [:]
        for (position, link) in links.enumerated() { bySubject[link.subject, default: []].append(position) }
        var kept = Set<Int>()
        var queue = Array(subjects)
        var seen = subjects
        while let subject = queue.popLast() {
            for position in bySubject[subject] ?? [] where !kept.contains(position) {
                let link = links[position]
                if !policy.artifactTypes.isEmpty, subjects.contains(link.subject),
                    !policy.admits(artifactType: Self.artifactType(of: link, blobs: blobs))
                {
                    continue
                }
                kept.insert(position)
                if seen.insert(link.entry.digest).inserted { queue.append(link.entry.digest) }
            }
        }
        return kept.sorted().map { links[$0] }
    }

    /// Identifies an entry by digest and name: the same image may be an entry twice.
    static func key(_ entry: Descriptor) -> String { "\(entry.digest)|\(entry.refName ?? "")" }

    /// The artifact type of a referrer: stated by its entry or document, else read.
    public static func artifactType(of link: Link, blobs: BlobStore?) -> String? {
        if let type = link.entry.artifactType { return type }
        if let document = link.document { return document.artifactType }
        guard let blobs, ContentDocument.isDocument(link.entry.mediaType),
            let bytes = try? blobs.readDocument(link.entry.digest, expectedSize: link.entry.size),
            let document = try? ContentDocument(bytes, mediaType: link.entry.mediaType, what: "blob \(link.entry.digest)")
        else { return nil }
        return document.artifactType
    }
}

extension Layout {
    /// The referrers of the image `query` names (a reference or digest): entries whose
    /// subject is it (or, for an index, one of its images), cosign tags naming its digest,
    /// the in-index attestations of an index, and the referrers of those in turn. `artifactType` keeps only direct
    /// referrers of that type, with what refers to them.
    public func referrers(of query: String, artifactType: String? = nil) throws -> [ReferrerSummary] {
        let index = try readIndex()
        let target = try resolve(query, in: index)
        let known = LayoutReferrers(index: index, blobs: blobs)
        var out: [ReferrerSummary] = []
        var subjects: Set<Digest> = [target.digest]
        if target.mediaType.isIndex {
            let bytes = try blobs.readDocument(target.digest, expectedSize: target.size)
            if case .index(let image) = try ContentDocument(bytes, mediaType: target.mediaType, what: "index \(target.digest)") {
                for entry in image.manifests {
                    guard let attested = InIndexAttestation.subject(of: entry) else {
                        // The referrers of each platform's image are the index's concern too.
                        subjects.insert(entry.digest)
                        continue
                    }
                    let summary = try summarize(entry, link: .inIndexAttestation, subject: attested, reference: nil)
                    if let artifactType, summary.artifactType != artifactType { continue }
                    out.append(summary)
                    subjects.insert(entry.digest)
                }
            }
        }
        for link in known.closure(of: subjects, artifactType: artifactType, blobs: blobs) {
            out.append(try summarize(link.entry, link: link.link, subject: link.subject, reference: link.entry.refName))
        }
        return out
    }

    private func summarize(_ entry: Descriptor, link: ReferrerLink, subject: Digest, reference: String?) throws -> ReferrerSummary {
        var artifactType = entry.artifactType
        var annotations = entry.annotations
        annotations?[Descriptor.refNameAnnotation] = nil
        if ContentDocument.isDocument(entry.mediaType),
            let bytes = try? blobs.readDocument(entry.digest, expectedSize: entry.size),
            let document = try? ContentDocument(bytes, mediaType: entry.mediaType, what: "blob \(entry.digest)")
        {
            artifactType = artifactType ?? document.artifactType
            if let own = document.annotations { annotations = (annotations ?? [:]).merging(own) { first, _ in first } }
        }
        if annotations?.isEmpty == true { annotations = nil }
        return ReferrerSummary(
            digest: entry.digest.string, mediaType: entry.mediaType.rawValue, artifactType: artifactType,
            size: entry.size, annotations: annotations, link: link, subject: subject.string, reference: reference)
    }
}
