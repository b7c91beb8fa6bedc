#if canImport(Glibc)
import Glibc
#endif
import StowageLayout
import StowageModel

/// One image an export wrote into the archive's `index.json`.
public struct ExportedImage: Sendable, Codable, Equatable {
    /// Its reference in the archive, or nil for an unnamed image.
    public var reference: String?
    /// The manifest or index digest.
    public var digest: String
    /// The manifest or index media type.
    public var mediaType: String
    /// When a platform filter made a new index for it: its platforms and the index it replaces.
    public var filtered: FilteredIndexReport?
}

/// What one `stowage export` wrote.
public struct ExportReport: Sendable, Codable, Equatable {
    /// The archive path.
    public var archive: String
    /// `none`, `gzip` or `zstd`.
    public var compression: String
    /// The entries of the archive's `index.json`, in order.
    public var images: [ExportedImage]
    /// Blobs written.
    public var blobs: Int
    /// Bytes of the blobs written (before compression).
    public var bytes: Int64
    /// With an inventory (`--exclude-present`): the blobs the exported images reach that
    /// were left out because the inventory holds them.
    public var blobsLeftOut: Int?
    /// The bytes of those blobs.
    public var bytesLeftOut: Int64?
}

/// Writes an oci-archive of a whole layout, or of some of its images with
/// everything they reach, for carrying into an air-gapped site.
///
/// The archive is reproducible: entries come in a fixed order (`blobs/`,
/// `blobs/sha256/`, the blobs sorted by digest, `index.json`, `oci-layout`, the
/// order buildah and skopeo use) with fixed metadata, so the same layout gives
/// byte-identical archives. Blobs are streamed and hashed on the way: a corrupt
/// blob stops the export instead of travelling. The archive is written to a
/// temporary file next to its destination and renamed into place at the end,
/// so a failed or killed export never leaves a partial archive under its name.
/// Nothing is written to the layout and no lock is taken: a read-only layout
/// can be exported.
///
/// Given an inventory of the other side (`Inventory`), the archive is a delta: its
/// `index.json` is the same, naming the whole graphs, but it holds only the blobs
/// the inventory lacks; `stowage import` there takes the rest from its layout.
public struct ArchiveExporter {
    /// The layout exported.
    public let layout: Layout

    /// An exporter for `layout`.
    public init(layout: Layout) {
        self.layout = layout
    }

    /// Exports the images named by `references` (names or `sha256:` digests; all of
    /// `index.json` when empty) to `path`. With `platforms`, an index is narrowed to them
    /// (`Index.selecting`): one platform's image, or a new index of several, which
    /// `preserveDigests` refuses; a new index goes into the archive only (the layout is
    /// not changed). With `present`, every blob it holds with the same digest and size is
    /// left out of the archive. With `progress`, the blob bytes written are counted against
    /// their total (before compression).
    @discardableResult
    public func export(
        to path: String, references: [String] = [], compression: TarWriter.Compression = .none, platforms: [Platform] = [],
        preserveDigests: Bool = false, referrers policy: ReferrerPolicy = .all, excluding present: Inventory? = nil,
        progress: TransferProgress? = nil
    ) throws -> ExportReport {
        // Said before any work, and about the directory: not about the temporary file inside it.
        let (directory, name) = FileSystem.splitPath(path)
        guard FileSystem.isDirectoryFollowingLinks(directory) else {
            throw StowageError(
                FileSystem.exists(directory) ? .io : .notFound,
                FileSystem.exists(directory) ? "cannot write \(path): \(directory) is not a directory"
                    : "cannot write \(path): directory \(directory) does not exist; create it first")
        }
        let index = try layout.readIndex()
        let known = LayoutReferrers(index: index, blobs: layout.blobs, keepRoots: false)
        // Referrer entries travel with what they refer to, never on their own.
        let chosen = try select(references, from: index)
        // Filtered only when there is something to leave out: a copy of a large index costs.
        var entries = references.isEmpty && chosen.contains(where: known.isReferrer) ? chosen.filter { !known.isReferrer($0) } : chosen
        let selectedDigests = Set(entries.map(\.digest))
        // Indexes a platform filter made: in the archive, never in the layout.
        var documents: [Digest: [UInt8]] = [:]
        var filtered: [Digest: FilteredIndexReport] = [:]
        if !platforms.isEmpty {
            entries = try entries.map { entry in
                let (narrowed, made) = try layout.narrow(entry, to: platforms, preserveDigests: preserveDigests)
                if let made {
                    documents[made.descriptor.digest] = made.bytes
                    filtered[made.descriptor.digest] = made.report
                }
                return narrowed
            }
        }
        guard !entries.isEmpty else {
            throw StowageError(.notFound, "layout \(layout.root) holds no images, so there is nothing to export")
        }
        // An archive `import` would refuse is never written.
        for name in entries.compactMap(\.refName) where (try? RefName(stored: name)) == nil {
            throw StowageError(
                .invalidReference,
                "cannot export: index.json of \(layout.root) names an image '\(UserText.clean(name, limit: 100))', which is not a valid name "
                    + "(\(RefName.grammar)); remove it with `stowage rm` or export other references")
        }
        // The referrers of everything exported (an index's children included) and, with
        // --platform, of the index the image was taken from.
        let subjects = ContentGraph.walk(layout.blobs, entries: entries, followSubjects: false, documents: documents)
            .reachable.union(selectedDigests)
        for link in known.closure(of: subjects, policy: policy, blobs: layout.blobs)
        where !entries.contains(where: { $0.digest == link.entry.digest && $0.refName == link.entry.refName }) {
            entries.append(link.entry)
        }
        let graph = ContentGraph.walk(layout.blobs, entries: entries, groupedByDigest: true, documents: documents)
        let groups = graph.edgesByDigest
        if let (edge, issue) = graph.blockingIssues(in: groups).first {
            throw StowageError(.invalidLayout, "cannot export: \(edge.summary) \(issue.explanation); run `stowage verify`")
        }
        let reachable = try plan(groups, documents: documents)
        let blobs = present.map { inventory in reachable.filter { !inventory.holds($0.digest, size: $0.size) } } ?? reachable

        var exported = index
        exported.manifests = entries
        // index.json is written twice as a stream, never built whole: once to learn its
        // size for the tar header, once into the archive.
        var indexSize: Int64 = 0
        try exported.writeJSON { indexSize += Int64($0.count) }
        let layoutBytes = ImageLayoutFile.currentBytes

        let temporary = "\(directory)/.\(name).stowage-\(getpid())-\(FileSystem.randomSuffix())"
        do {
            let writer = try TarWriter(path: temporary, compression: compression)
            try writer.addSpecial("blobs/", .directory)
            try writer.addSpecial("blobs/sha256/", .directory)
            progress?.expect(blobs.reduce(0) { $0 + $1.size }, blobs: blobs.count)
            for (digest, size) in blobs {
                if let bytes = documents[digest] {
                    try writer.addFile("blobs/sha256/\(digest.hex)", bytes)
                    progress?.advance(bytes.count)
                    progress?.blobFinished()
                } else {
                    try writeBlob(digest, size: size, into: writer, progress: progress)
                }
            }
            try writer.addFile("index.json", size: indexSize) { write in
                try exported.writeJSON { chunk in try chunk.withUnsafeBytes { try write($0) } }
            }
            try writer.addFile("oci-layout", layoutBytes)
            try writer.close()
            let fd = try FileSystem.open(temporary, O_RDONLY)
            defer { close(fd) }
            try FileSystem.fsync(fd, path: temporary)
            try FileSystem.rename(temporary, path)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw error
        }
        try? FileSystem.fsyncDirectory(directory)
        return ExportReport(
            archive: path, compression: compression.rawValue,
            images: entries.map {
                ExportedImage(reference: $0.refName, digest: $0.digest.string, mediaType: $0.mediaType.rawValue, filtered: filtered[$0.digest])
            },
            blobs: blobs.count, bytes: blobs.reduce(0) { $0 + $1.size },
            blobsLeftOut: present.map { _ in reachable.count - blobs.count },
            bytesLeftOut: present.map { _ in reachable.reduce(0) { $0 + $1.size } - blobs.reduce(0) { $0 + $1.size } })
    }

    /// The `index.json` entries to export, in the order asked, each once.
    private func select(_ references: [String], from index: Index) throws -> [Descriptor] {
        guard !references.isEmpty else { return index.manifests }
        var selected: [Descriptor] = []
        for query in references {
            let entry: Descriptor
            if let named = index.entry(named: query) {
                entry = named
            } else if let name = try? RefName(userInput: query), let named = index.entry(named: name.value) {
                entry = named
            } else {
                // A digest: the image is exported without a name.
                entry = try layout.resolve(query, in: index)
            }
            if !selected.contains(where: { $0.digest == entry.digest && $0.refName == entry.refName }) {
                selected.append(entry)
            }
        }
        return selected
    }

    /// Every reachable blob to write, sorted by digest, with its size on disk, which
    /// must be what every descriptor declares. Non-distributable layers that are not
    /// in the layout (they are fetched from their URLs) are left out.
    private func plan(
        _ groups: [(digest: Digest, edges: [ContentEdge])], documents: [Digest: [UInt8]]
    ) throws -> [(digest: Digest, size: Int64)] {
        var blobs: [(digest: Digest, size: Int64)] = []
        for (digest, edges) in groups {
            guard let size = try documents[digest].map({ Int64($0.count) }) ?? layout.blobs.size(of: digest) else {
                if edges.allSatisfy({ $0.mayBeAbsent || $0.role == .subject }) { continue }
                let edge = edges.first { !$0.mayBeAbsent && $0.role != .subject } ?? edges[0]
                throw StowageError(.notFound, "cannot export: \(edge.summary) is missing from layout \(layout.root); run `stowage verify`")
            }
            if let liar = edges.first(where: { $0.descriptor.size != size }) {
                throw StowageError(
                    .digestMismatch,
                    "cannot export: \(liar.summary) is \(size) bytes, but its descriptor says \(liar.descriptor.size); run `stowage verify`")
            }
            blobs.append((digest, size))
        }
        return blobs
    }

    /// Streams one blob into the archive, hashing it on the way.
    private func writeBlob(_ digest: Digest, size: Int64, into writer: TarWriter, progress: TransferProgress?) throws {
        var hasher = ContentHasher()
        let item = progress?.begin(digest.short, size: size)
        defer { item?.cancel() }
        try writer.addFile("blobs/sha256/\(digest.hex)", size: size) { write in
            try layout.blobs.read(digest) { chunk in
                hasher.update(chunk)
                try write(chunk)
                item?.advance(chunk.count)
            }
        }
        item?.finish()
        let actual = hasher.finalize()
        guard actual == digest else {
            throw StowageError(
                .digestMismatch, "cannot export: blob \(digest) of layout \(layout.root) is corrupt (its content hashes to \(actual)); run `stowage verify`")
        }
    }
}
