import Foundation
import StowageModel

/// One named or unnamed image of a layout, as `stowage ls` shows it.
public struct ImageSummary: Sendable, Codable, Equatable {
    /// The name (`org.opencontainers.image.ref.name`), or nil for an unnamed image.
    public var reference: String?
    /// The manifest or index digest.
    public var digest: String
    /// The manifest or index media type.
    public var mediaType: String
    /// The manifest or index size in bytes.
    public var size: Int64
    /// What the image takes: every distinct blob it is made of (`Layout.totalSizes(of:)`);
    /// nil when not asked for, or when part of it is not in the layout.
    public var totalSize: Int64?
    /// `os/arch[/variant]` of the image, or of each entry of an index.
    public var platforms: [String]
    /// For a referrer entry (signature, SBOM, attestation), the digest it refers to.
    public var referrerOf: String?

    /// Creates a summary.
    public init(reference: String?, digest: String, mediaType: String, size: Int64, platforms: [String], referrerOf: String? = nil) {
        self.reference = reference
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.platforms = platforms
        self.referrerOf = referrerOf
    }
}

extension Layout {
    /// Every entry of `index.json`, with its platforms.
    /// Platforms that need documents read (layouts written by other tools) are looked up
    /// in parallel: on a cold cache, reading thousands of small files one by one is slow.
    /// Unnamed referrer entries are left out unless `includeReferrers`; cosign tags,
    /// being names, are always listed. Given `repositories`, only the names in those
    /// repositories are listed (`team/app` lists `team/app:v1` and `team/app:v2`).
    /// With `totalSizes`, each summary also gets its image's total size.
    public func summaries(includeReferrers: Bool = false, repositories: [String] = [], totalSizes: Bool = false) throws -> [ImageSummary] {
        var index: Index
        if repositories.isEmpty {
            index = try readIndex()
        } else {
            let wanted = Set(repositories.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
            // Only entries that mention a repository are read, when the index allows it.
            let candidates = try locateEntries(containing: wanted.map { Array("\"\($0)".utf8) })
            index = try candidates.map { Index(manifests: $0) } ?? readIndex()
            // Named entries only: telling their referrers apart reads no documents.
            index.manifests = index.manifests.filter { entry in
                entry.refName.flatMap(RefName.repository(of:)).map { wanted.contains(String($0)) } ?? false
            }
        }
        let referrers = LayoutReferrers(index: index, blobs: blobs, keepRoots: false)
        let links = Dictionary(referrers.links.map { ($0.entry, $0.subject) }, uniquingKeysWith: { first, _ in first })
        // Hashing a whole descriptor is not free: with no referrers, ask nothing.
        let subjectOf: @Sendable (Descriptor) -> Digest? = { links.isEmpty ? nil : links[$0] }
        let entries = index.manifests.filter { entry in
            includeReferrers || entry.refName != nil || subjectOf(entry) == nil
        }
        // A signature or SBOM runs nowhere: its config's empty os/architecture is no platform.
        // An entry that states its platform needs nothing read; the others are looked up
        // on more threads than cores: that work waits on the disk, not on computing.
        var platforms = entries.map { entry -> Result<[String], any Error>? in
            if subjectOf(entry) != nil { return .success([]) }
            if let platform = Self.statedPlatform(of: entry) { return .success([platform.description]) }
            return nil
        }
        let unknown = platforms.indices.filter { platforms[$0] == nil }
        let looked = parallelMap(unknown.map { entries[$0] }, width: 8) { entry in
            Result { try self.platforms(of: entry).map(\.description) }
        }
        for (position, result) in zip(unknown, looked) { platforms[position] = result }
        let totals = totalSizes ? self.totalSizes(of: entries) : [:]
        return try entries.enumerated().map { position, entry in
            var summary = ImageSummary(
                reference: entry.refName, digest: entry.digest.string, mediaType: entry.mediaType.rawValue,
                size: entry.size, platforms: try platforms[position]!.get(), referrerOf: subjectOf(entry)?.string)
            summary.totalSize = totals[entry.digest]
            return summary
        }
    }

    /// The platform of a manifest (from the descriptor, else its config), or of each
    /// entry of an index (nested indexes included).
    public func platforms(of descriptor: Descriptor) throws -> [Platform] {
        try Self.platforms(of: descriptor) { digest, size in try blobs.readDocument(digest, expectedSize: size) }
    }

    /// The platform a descriptor states for itself, which needs nothing read: an index's
    /// platforms are those of its entries.
    static func statedPlatform(of descriptor: Descriptor) -> Platform? {
        descriptor.mediaType.isIndex ? nil : descriptor.platform
    }

    /// The platforms of `descriptor`, reading documents with `read` (digest, declared size):
    /// from the layout, or from an archive being imported before any blob is linked.
    public static func platforms(
        of descriptor: Descriptor, depth: Int = 0, read: (Digest, Int64) throws -> [UInt8]
    ) throws -> [Platform] {
        guard depth <= ContentDocument.maxDepth else {
            throw StowageError(.invalidLayout, "index \(descriptor.digest) nests more than \(ContentDocument.maxDepth) levels deep")
        }
        if descriptor.mediaType.isIndex {
            let bytes = try read(descriptor.digest, descriptor.size)
            guard case .index(let index) = try ContentDocument(bytes, mediaType: descriptor.mediaType, what: "index \(descriptor.digest)") else { return [] }
            return try index.manifests.flatMap { child -> [Platform] in
                if let platform = child.platform { return [platform] }
                return try platforms(of: child, depth: depth + 1, read: read)
            }
        }
        if let platform = statedPlatform(of: descriptor) { return [platform] }
        guard descriptor.mediaType.isManifest else { return [] }
        let bytes = try read(descriptor.digest, descriptor.size)
        guard case .manifest(let manifest) = try ContentDocument(bytes, mediaType: descriptor.mediaType, what: "manifest \(descriptor.digest)"),
            manifest.config.mediaType.isImageConfig
        else { return [] }
        let configBytes = try read(manifest.config.digest, manifest.config.size)
        let config = try JSONCoding.decode(ImageConfig.self, from: configBytes, what: "config \(manifest.config.digest)")
        return [config.platform]
    }

    /// The media type of a manifest or index document that may not state one.
    public static func sniffMediaType(_ bytes: [UInt8], digest: Digest) throws -> MediaType {
        if let mediaType = try MediaType(ofDocument: bytes, what: "blob \(digest)") { return mediaType }
        throw StowageError(.unsupported, "blob \(digest) is neither a manifest nor an index")
    }
}

