import StowageLayout
import StowageModel

/// One image an import added to the layout.
public struct ImportedImage: Sendable, Codable, Equatable {
    /// The names given to it; empty when the archive named it nowhere.
    public var references: [String]
    /// The manifest or index digest.
    public var digest: String
    /// The manifest or index media type.
    public var mediaType: String
    /// The manifest or index size in bytes.
    public var size: Int64
    /// `os/arch[/variant]` of the image, or of each entry of an index.
    public var platforms: [String]
    /// For a referrer (signature, SBOM, attestation), the digest it refers to.
    public var referrerOf: String?
}

/// A blob an archive references but holds not, and the layout lacks too.
public struct MissingBlob: Sendable, Codable, Equatable {
    /// The blob's digest.
    public var digest: String
    /// Its size, as the descriptor declares it.
    public var size: Int64
    /// Its media type, as the descriptor declares it.
    public var mediaType: String
    /// What references it: `index.json`, `manifest sha256:…` or `index sha256:…`.
    public var referencedBy: String
}

/// What one `stowage import` of one archive did, or with `--dry-run` would do.
public struct ImportReport: Sendable, Codable, Equatable {
    /// The archive path.
    public var archive: String
    /// `oci-archive` or `docker-archive`.
    public var format: String
    /// The images added, in the archive's order.
    public var images: [ImportedImage]
    /// Blobs copied into the layout.
    public var blobsAdded: Int
    /// Bytes of the blobs copied into the layout.
    public var bytesAdded: Int64
    /// Blobs the layout already had; their bytes in the archive were skipped.
    public var blobsSkipped: Int
    /// Bytes of archive content skipped because the layout already had it.
    public var bytesSkipped: Int64
    /// Bytes actually read from the archive file.
    public var bytesRead: Int64
    /// Blobs the archive references without holding them (a delta), found in the layout.
    public var blobsNotInArchive = 0
    /// True for a dry run: the counts say what an import would do, and nothing changed.
    public var dryRun: Bool?
    /// A dry run's blobs that neither the archive nor the layout holds: the import would
    /// fail. (An import fails instead of reporting them.)
    public var missing: [MissingBlob]?
}

/// Imports oci-archive and docker-archive tarballs into a layout, reading each
/// archive once, as a stream.
///
/// An import is all or nothing: new blobs are staged and verified under
/// `.stowage/tmp/`, everything the archive's index references is checked to be
/// present, and only then are blobs linked into `blobs/` and names written to
/// `index.json` (under the layout lock). A failure before that point leaves the
/// layout as it was.
///
/// An archive need not hold every blob it references: a delta
/// (`stowage export --exclude-present`) leaves out what the layout already has. A
/// blob neither holds fails the import, naming every such blob.
public struct ArchiveImporter: Sendable {
    /// The layout images are imported into.
    public let layout: Layout
    /// Where the bytes read of each archive are counted against its size (nil: nowhere).
    public var progress: TransferProgress?

    /// Creates an importer for `layout`, counting its reads in `progress`.
    public init(layout: Layout, progress: TransferProgress? = nil) {
        self.layout = layout
        self.progress = progress
    }

    /// An image found in an archive, checked and ready to be named in the layout.
    struct Candidate {
        var descriptor: Descriptor
        var names: [RefName]
        /// What it refers to, for a referrer (by subject or cosign tag).
        var subject: Digest? = nil
        var isReferrer: Bool { subject != nil }
    }

    /// The file an ARCHIVE argument names: a path as it is, or skopeo's `oci-archive:PATH`
    /// and `docker-archive:PATH` (the kind is read from the content either way). skopeo's
    /// `:REF` suffix, which picks one image, is refused: an import takes every image.
    public static func archivePath(_ argument: String) throws -> String {
        for transport in ["oci-archive:", "docker-archive:"] where argument.hasPrefix(transport) && !FileSystem.exists(argument) {
            let rest = String(argument.dropFirst(transport.count))
            if !FileSystem.exists(rest), let colon = rest.firstIndex(of: ":"), FileSystem.isRegularFile(String(rest[..<colon])) {
                throw StowageError(
                    .usage,
                    "'\(argument)': import reads every image of \(rest[..<colon]), so drop ':\(rest[rest.index(after: colon)...])'; to take one image, use `stowage copy \(argument) oci:LAYOUT:NAME`")
            }
            return rest
        }
        return argument
    }

    /// Imports one archive. `tag` names its image and is refused for an archive
    /// that holds more than one image. With `applyNames: false` only the blobs are
    /// imported and `index.json` is left alone: the report still lists the names the
    /// archive gives, so that a caller (`stowage copy`) can pick an image and name it
    /// itself, while holding the blob lock to keep gc away until then.
    ///
    /// Referrers in the archive (entries without a name whose manifest has a `subject`,
    /// cosign `sha256-<hex>.sig|.att|.sbom` tags, and the fallback-tag indexes
    /// `sha256-<hex>` that regctl writes, whose manifests become entries of their own)
    /// are kept as `policy` says.
    @discardableResult
    public func importArchive(
        _ path: String, tag: RefName? = nil, applyNames: Bool = true, referrers policy: ReferrerPolicy = .all
    ) throws -> ImportReport {
        // Keep gc away from blobs this import finds present and relies on, until they are named.
        let blobLock = try layout.lockBlobs(.shared, purpose: "import \(path)")
        defer { blobLock.unlock() }
        let imported = try importBlobs(path, tag: tag, policy: policy)
        if applyNames {
            try layout.addEntries(imported.entries, purpose: "import \(path)")
        }
        return imported.report
    }

    /// Imports several archives, `width` at a time: while one archive waits for the
    /// disk, another is hashed. Each archive is all or nothing, as with `importArchive`,
    /// and one failing leaves the others to finish. The names of every archive that
    /// was imported are then written in one `index.json` edit, in the order of `paths`,
    /// so a name two archives give ends on the later one, as with one call per
    /// archive. Results come in the order of `paths`; an error naming the images
    /// (the layout lock, `index.json`) is thrown, and leaves only unnamed blobs.
    public func importArchives(
        _ paths: [String], width: Int = 2, referrers policy: ReferrerPolicy = .all
    ) throws -> [Result<ImportReport, StowageError>] {
        let purpose = paths.count == 1 ? "import \(paths[0])" : "import of \(paths.count) archives"
        let blobLock = try layout.lockBlobs(.shared, purpose: purpose)
        defer { blobLock.unlock() }
        let results = parallelMap(paths, width: width) { path -> Result<ImportedArchive, StowageError> in
            do {
                return .success(try importBlobs(path, tag: nil, policy: policy))
            } catch let error as StowageError {
                return .failure(error)
            } catch {
                return .failure(StowageError(.io, "cannot import \(path)", cause: "\(error)"))
            }
        }
        let entries = results.flatMap { (try? $0.get())?.entries ?? [] }
        if !entries.isEmpty {
            try layout.addEntries(entries, purpose: purpose)
        }
        return results.map { $0.map(\.report) }
    }

    /// An archive whose blobs are in the layout, with the index entries still to write.
    struct ImportedArchive: Sendable {
        var report: ImportReport
        var entries: [(descriptor: Descriptor, names: [RefName])]
    }

    /// Reads an archive and links its blobs into the layout; the caller holds the
    /// blob lock and writes `entries` to `index.json`.
    /// With `dryRun`, nothing is written (not even under `.stowage/`) and no blob of the
    /// layout is touched; the report says what an import would add and what it lacks.
    func importBlobs(_ path: String, tag: RefName?, policy: ReferrerPolicy, dryRun: Bool = false) throws -> ImportedArchive {
        let staging = dryRun ? nil : try layout.makeStagingDirectory("import")
        defer { if let staging { try? FileSystem.removeTree(staging) } }

        var scan = try ArchiveScan(archive: path, layout: layout, mode: staging.map { .stage($0) } ?? .list, progress: progress)
        var needed = Set<Digest>()
        var missing: [Digest: MissingBlob] = [:]
        let format: String
        var candidates: [Candidate]
        if scan.index != nil {
            format = "oci-archive"
            candidates = try ociCandidates(scan, needed: &needed, missing: &missing, policy: policy)
        } else if scan.documents["manifest.json"] != nil, let staging {
            format = "docker-archive"
            candidates = try dockerCandidates(&scan, staging: staging, needed: &needed)
        } else if scan.documents["manifest.json"] != nil {
            throw StowageError(.unsupported, "\(path) is a docker-archive; a dry run reads oci-archives only, so import it without --dry-run")
        } else {
            throw StowageError(.invalidArchive, "\(path) is neither an oci-archive (no index.json) nor a docker-archive (no manifest.json)")
        }

        if let tag {
            // --tag names the image, not the referrers that came with it.
            let images = candidates.indices.filter { !candidates[$0].isReferrer }
            guard images.count == 1 else {
                throw StowageError(.usage, "\(path) holds \(images.count) images; --tag names a single image, so import it without --tag or split the archive")
            }
            candidates[images[0]].names = [tag]
        }

        let lacking = missing.values.sorted { $0.digest < $1.digest }
        if !lacking.isEmpty && !dryRun { throw Self.lackingError(path, lacking) }
        // Every check that can refuse the archive runs before the first blob is linked.
        let platforms = try candidates.map { candidate in
            do {
                return try Layout.platforms(of: candidate.descriptor) { digest, _ in try scan.readDocument(digest, layout: layout) }
            } catch {
                // A dry run goes on past what is missing, so a platform may be unknown.
                if dryRun && !lacking.isEmpty { return [] }
                throw error
            }
        }
        for index in candidates.indices where candidates[index].descriptor.platform == nil {
            if candidates[index].descriptor.mediaType.isManifest, platforms[index].count == 1 {
                candidates[index].descriptor.platform = platforms[index][0]
            }
        }

        // Everything checked out: make the blobs visible, then the names. A failure from
        // here on (a lock timeout, a full disk) leaves only unreferenced blobs, which gc removes.
        var report = ImportReport(
            archive: path, format: format, images: [], blobsAdded: 0, bytesAdded: 0,
            blobsSkipped: 0, bytesSkipped: scan.bytesSkipped, bytesRead: scan.bytesRead)
        report.blobsNotInArchive = needed.filter { scan.blobs[$0] == nil }.count
        if dryRun {
            report.dryRun = true
            report.missing = lacking
        }
        for digest in needed.sorted() {
            switch scan.blobs[digest] {
            case .inMemory(let bytes)?:
                report.blobsAdded += 1
                report.bytesAdded += Int64(bytes.count)
            case .listed(let size)?:
                report.blobsAdded += 1
                report.bytesAdded += size
            case .staged(let file, let size)?:
                // Another import may have linked the same blob meanwhile; the link then
                // fails with EEXIST, and the blob there is kept (and refreshed).
                if try layout.blobs.link(file: file, as: digest) {
                    report.blobsAdded += 1
                    report.bytesAdded += size
                } else {
                    layout.blobs.refresh(digest)
                    report.blobsSkipped += 1
                }
            case .inLayout?, nil:
                // Relied on, not copied: fresh times keep it out of gc's reach until named.
                if !dryRun { layout.blobs.refresh(digest) }
                report.blobsSkipped += 1
            }
        }
        if report.blobsAdded > 0 && !dryRun { try layout.blobs.syncDirectory() }

        report.images = zip(candidates, platforms).map { candidate, platforms in
            ImportedImage(
                references: candidate.names.map(\.value), digest: candidate.descriptor.digest.string,
                mediaType: candidate.descriptor.mediaType.rawValue, size: candidate.descriptor.size,
                platforms: candidate.isReferrer ? [] : platforms.map(\.description), referrerOf: candidate.subject?.string)
        }
        return ImportedArchive(report: report, entries: candidates.map { ($0.descriptor, $0.names) })
    }

    // MARK: - oci-archive

    private func ociCandidates(
        _ scan: ArchiveScan, needed: inout Set<Digest>, missing: inout [Digest: MissingBlob], policy: ReferrerPolicy
    ) throws -> [Candidate] {
        let archive = scan.archive
        if let link = scan.symbolicLinks.first {
            throw scan.failure(link, "is a symbolic link; an oci-archive must contain only files and directories")
        }
        guard let layoutFile = scan.documents["oci-layout"] else {
            throw StowageError(.invalidArchive, "\(archive) has an index.json but no oci-layout file, so it is not an OCI image layout")
        }
        try ImageLayoutFile.check(layoutFile, what: "\(archive): entry oci-layout")
        let index = scan.index!
        guard !index.manifests.isEmpty else {
            throw StowageError(.invalidArchive, "\(archive): entry index.json lists no images")
        }
        // Each entry, with what it refers to when it is a referrer and the artifact type
        // the policy filters on; a fallback-tag index stands for its manifests.
        var found: [(entry: Descriptor, subject: Digest?, artifactType: String?)] = []
        for entry in index.manifests {
            // A fallback-tag index that neither the archive nor the layout holds is walked
            // like any entry, so that it is listed with everything else that is missing.
            if let name = entry.refName, entry.mediaType.isIndex,
                let subject = CosignTag.fallbackSubject(CosignTag.tagPart(of: name)),
                try scan.blobs[entry.digest] != nil || scan.presentSize(entry.digest, layout: layout) != nil
            {
                let bytes = try scan.readDocument(entry.digest, layout: layout)
                if case .index(let tagIndex) = try ContentDocument(bytes, mediaType: entry.mediaType, what: "\(archive): blob \(entry.digest)") {
                    for child in tagIndex.manifests { found.append((child, subject, child.artifactType)) }
                }
                continue
            }
            if let name = entry.refName, let cosign = CosignTag(name: name) {
                found.append((entry, cosign.subject, nil))
                continue
            }
            if entry.refName == nil, ContentDocument.isDocument(entry.mediaType),
                let bytes = try? scan.readDocument(entry.digest, layout: layout),
                let document = try? ContentDocument(bytes, mediaType: entry.mediaType, what: "\(archive): blob \(entry.digest)"),
                let subject = document.subject
            {
                found.append((entry, subject.digest, entry.artifactType ?? document.artifactType))
                continue
            }
            found.append((entry, nil, nil))
        }
        // A referrer is kept when the policy admits it, or when it refers to a kept referrer.
        var kept = Set(found.indices.filter { found[$0].subject == nil })
        var keptDigests = Set(kept.map { found[$0].entry.digest })
        var changed = true
        while changed {
            changed = false
            for position in found.indices where !kept.contains(position) {
                let candidate = found[position]
                guard let subject = candidate.subject, policy.carry else { continue }
                if policy.admits(artifactType: candidate.artifactType) || (keptDigests.contains(subject) && !kept.contains { found[$0].entry.digest == subject && found[$0].subject == nil }) {
                    kept.insert(position)
                    keptDigests.insert(candidate.entry.digest)
                    changed = true
                }
            }
        }
        var walked: [String: Int] = [:]
        return try found.indices.filter(kept.contains).map { position in
            let (entry, subject, _) = found[position]
            try checkReachable(
                entry, from: "index.json", listedAsManifest: true, scan: scan, needed: &needed, missing: &missing, walked: &walked, depth: 0)
            var descriptor = entry
            descriptor.refName = nil
            descriptor.annotations?[Descriptor.containerdNameAnnotation] = nil
            if descriptor.annotations?.isEmpty == true { descriptor.annotations = nil }
            return Candidate(descriptor: descriptor, names: try names(of: entry, archive: archive), subject: subject)
        }
    }

    /// The error of an import that lacks blobs: every digest up to a point, and what to do.
    public static func lackingError(_ archive: String, _ lacking: [MissingBlob]) -> StowageError {
        let shown = 8
        var list = lacking.prefix(shown).map(\.digest).joined(separator: ", ")
        if lacking.count > shown {
            list += " and \(lacking.count - shown) more (`stowage import --dry-run --json \(archive)` lists them all)"
        }
        let count = lacking.count == 1 ? "1 blob" : "\(lacking.count) blobs"
        return StowageError(
            .notFound,
            "\(archive) lacks \(count) that the layout does not have either: \(list); "
                + "import the full export or the missing images first (nothing was imported)")
    }

    /// The names an archive gives an index entry: a full `ref.name`, else the full
    /// `io.containerd.image.name`, else a tag-only `ref.name` as it is.
    private func names(of entry: Descriptor, archive: String) throws -> [RefName] {
        let refName = entry.refName
        let containerd = entry.annotations?[Descriptor.containerdNameAnnotation]
        do {
            if let refName, refName.contains("/") || refName.contains(":") {
                return [try RefName(stored: refName)]
            }
            if let containerd {
                return [try RefName(userInput: containerd)]
            }
            if let refName {
                return [try RefName(stored: refName)]
            }
        } catch let error as StowageError {
            throw error.prefixed("\(archive): entry index.json")
        }
        return []
    }

    /// Checks that a descriptor's blob is in the archive or the layout with the declared
    /// size, and, for manifests and indexes, that each is what its descriptor says and
    /// that everything it references is there too, recursively. A blob in neither is
    /// recorded in `missing` (what a missing document references stays unknown).
    /// A descriptor `listedAsManifest` (an index entry) whose media type is no document
    /// Stowage knows, but whose bytes may reference content, is refused: what it
    /// references could not be linked, checked or kept by gc.
    private func checkReachable(
        _ descriptor: Descriptor, from parent: String, listedAsManifest: Bool = false, scan: ArchiveScan,
        needed: inout Set<Digest>, missing: inout [Digest: MissingBlob], walked: inout [String: Int], depth: Int
    ) throws {
        let archive = scan.archive
        let digest = descriptor.digest
        let size: Int64
        if let location = scan.blobs[digest] {
            size = location.size
        } else if let inLayout = try scan.presentSize(digest, layout: layout) {
            size = inLayout
        } else if descriptor.isForeignLayer {
            return
        } else {
            if missing[digest] == nil {
                missing[digest] = MissingBlob(
                    digest: digest.string, size: descriptor.size, mediaType: descriptor.mediaType.rawValue, referencedBy: parent)
            }
            return
        }
        guard size == descriptor.size else {
            throw StowageError(.invalidArchive, "\(archive): \(parent) declares blob \(digest) as \(descriptor.size) bytes, but it is \(size) bytes")
        }
        needed.insert(digest)
        guard ContentDocument.isDocument(descriptor.mediaType) else {
            if listedAsManifest, size <= Int64(BlobStore.maxDocumentSize),
                let bytes = try? scan.readDocument(digest, layout: layout), ContentDocument.mayReferenceContent(bytes)
            {
                throw StowageError(
                    .invalidArchive,
                    "\(archive): \(parent) lists \(digest) as \(descriptor.mediaType), a media type Stowage cannot walk, so what it references cannot be imported")
            }
            return
        }
        guard depth <= ContentDocument.maxDepth else {
            throw StowageError(.invalidArchive, "\(archive): \(parent) nests indexes more than \(ContentDocument.maxDepth) levels deep")
        }
        // A document checked already, as deep or deeper, needs no second look (an archive
        // whose entries share manifests).
        let key = "\(descriptor.mediaType.rawValue) \(digest)"
        if let earlier = walked[key], earlier >= depth { return }
        walked[key] = depth
        let what = "\(archive): blob \(digest)"
        let document: ContentDocument
        do {
            document = try ContentDocument(scan.readDocument(digest, layout: layout), mediaType: descriptor.mediaType, what: what)
        } catch let error as StowageError where error.code == .invalidJSON {
            throw StowageError(.invalidArchive, error.message, cause: error.cause)
        }
        let place = descriptor.mediaType.isIndex ? "index \(digest)" : "manifest \(digest)"
        for (child, role) in document.requiredReferences {
            try checkReachable(
                child, from: place, listedAsManifest: role == .manifest || role == .index, scan: scan,
                needed: &needed, missing: &missing, walked: &walked, depth: depth + 1)
        }
        if case .manifest(let manifest) = document, manifest.config.mediaType.isImageConfig, missing[manifest.config.digest] == nil {
            _ = try JSONCoding.decode(
                ImageConfig.self, from: scan.readDocument(manifest.config.digest, layout: layout),
                what: "\(archive): config \(manifest.config.digest)")
        }
    }
}
