#if canImport(Glibc)
import Glibc
#endif
import StowageLayout
import StowageModel

/// The result of reading an archive once, front to back: its small metadata
/// documents in memory, and every blob either found already in the layout
/// (skipped unread) or staged, verified, under `.stowage/tmp/`.
///
/// A dry run (`Mode.list`) writes nothing anywhere and touches no blob of the layout:
/// blobs the layout lacks are listed, and only those that may be manifests, indexes
/// or configs (JSON, at most `BlobStore.maxDocumentSize`) are read into memory and
/// checked, so that the graph can be walked.
struct ArchiveScan {
    /// How the blobs the layout lacks are handled.
    enum Mode {
        /// Copied into staging files in this directory, to be linked into the layout.
        case stage(String)
        /// Listed, never written (a dry run).
        case list
    }

    /// Where a blob of the archive is.
    enum BlobLocation {
        /// Already in the layout; the archive's copy was skipped without being read.
        case inLayout(size: Int64)
        /// Copied from the archive into a staging file, hash and size checked.
        case staged(path: String, size: Int64)
        /// A dry run's JSON blob, hash and size checked, held in memory.
        case inMemory([UInt8])
        /// A dry run's other blob: in the archive, not read.
        case listed(size: Int64)

        var size: Int64 {
            switch self {
            case .inLayout(let size), .staged(_, let size), .listed(let size): size
            case .inMemory(let bytes): Int64(bytes.count)
            }
        }
    }

    /// A file of a docker-archive that is not named by its digest (`<id>.tar`, `<id>.json`).
    struct LooseFile {
        var digest: Digest
        var size: Int64
        var path: String
    }

    /// The metadata files read into memory.
    static let documentNames: Set<String> = ["oci-layout", "manifest.json", "repositories"]

    var archive: String
    var documents: [String: [UInt8]] = [:]
    /// The archive's `index.json`, parsed as it streamed past: it may be as large as a
    /// layout's own (`FileSystem.maxIndexSize`), and is never held as bytes.
    var index: Index?
    var blobs: [Digest: BlobLocation] = [:]
    var looseFiles: [String: LooseFile] = [:]
    var symbolicLinks: [String] = []
    var bytesSkipped: Int64 = 0
    var bytesRead: Int64 = 0
    let mode: Mode
    private let pipeline = ChunkPipeline()

    /// Counts the archive's bytes read, and shows the entry being copied.
    let progress: TransferProgress?

    /// Reads the whole archive, staging what the layout lacks as `mode` says.
    init(archive path: String, layout: Layout, mode: Mode, progress: TransferProgress? = nil) throws {
        archive = path
        self.mode = mode
        self.progress = progress
        let reader = try ArchiveReader(path: path, progress: progress)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var seen = Set<String>()
        var entries = 0
        while let entry = try reader.next() {
            entries += 1
            if entry.path == "." { try reader.skip(); continue }
            guard seen.insert(entry.path).inserted else {
                throw failure(entry.path, "appears twice in the archive")
            }
            switch entry.kind {
            case .directory:
                try reader.skip()
            case .symbolicLink:
                // Only legacy docker-archive entries (`<id>/layer.tar`) may be links; they are
                // never followed. Whether the archive may have them is decided once its kind is known.
                symbolicLinks.append(entry.path)
                try reader.skip()
            case .hardLink(let target):
                throw failure(entry.path, "is a hard link to '\(target)'; image archives must not contain links")
            case .special:
                throw failure(entry.path, "is a device, fifo or socket; image archives contain only files and directories")
            case .regularFile:
                try scanFile(entry, reader: reader, buffer: buffer, layout: layout)
            }
        }
        guard entries > 0 else {
            throw StowageError(.invalidArchive, "\(path) contains no entries")
        }
        bytesRead = reader.bytesRead
    }

    private mutating func scanFile(
        _ entry: ArchiveEntry, reader: ArchiveReader, buffer: UnsafeMutableRawBufferPointer, layout: Layout
    ) throws {
        if entry.path == "index.json" {
            guard entry.size <= Int64(FileSystem.maxIndexSize) else {
                throw failure(entry.path, "is \(entry.size) bytes, more than the \(FileSystem.maxIndexSize) allowed for an index")
            }
            let what = "\(archive): entry index.json"
            index = try Index(reading: JSONReader(what: what) { try reader.read(into: $0) }, what: what)
            return
        }
        if Self.documentNames.contains(entry.path) {
            guard entry.size <= Int64(BlobStore.maxDocumentSize) else {
                throw failure(entry.path, "is \(entry.size) bytes, more than the \(BlobStore.maxDocumentSize) allowed for a metadata file")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(entry.size))
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            documents[entry.path] = bytes
            return
        }

        if entry.path.hasPrefix("blobs/") {
            let digest = try Self.blobDigest(entry.path, archive: archive)
            if let existing = try presentSize(digest, layout: layout) {
                guard existing == entry.size else {
                    throw failure(entry.path, "is \(entry.size) bytes, but the layout's blob \(digest) is \(existing) bytes")
                }
                try reader.skip()
                bytesSkipped += entry.size
                blobs[digest] = .inLayout(size: existing)
                return
            }
            guard case .stage(let staging) = mode else {
                blobs[digest] = try listBlob(entry, digest: digest, reader: reader, buffer: buffer)
                return
            }
            let writer = try layout.blobs.makeWriter(in: staging)
            do {
                try copy(entry, reader: reader, buffer: buffer, into: writer)
                try writer.finish(expecting: digest, size: entry.size, what: "\(archive): entry \(entry.path)")
            } catch {
                writer.discard()
                throw error
            }
            blobs[digest] = .staged(path: writer.temporaryPath, size: entry.size)
            return
        }

        // A docker-archive file named by something other than its digest: hash it to learn it.
        guard case .stage(let staging) = mode else {
            throw StowageError(
                .unsupported, "\(archive): a dry run reads oci-archives only, and entry \(entry.path) makes this a docker-archive; import it without --dry-run")
        }
        let writer = try layout.blobs.makeWriter(in: staging)
        do {
            try copy(entry, reader: reader, buffer: buffer, into: writer)
            let (digest, size) = try writer.finish()
            guard size == entry.size else {
                throw failure(entry.path, "holds \(size) bytes but its header declares \(entry.size)")
            }
            looseFiles[entry.path] = LooseFile(digest: digest, size: size, path: writer.temporaryPath)
        } catch {
            writer.discard()
            throw error
        }
    }

    /// The size of the layout's blob `digest`, or nil when it has none. An import keeps
    /// what it relies on out of gc's reach by refreshing it; a dry run touches nothing.
    func presentSize(_ digest: Digest, layout: Layout) throws -> Int64? {
        if case .list = mode { return try layout.blobs.size(of: digest) }
        return try layout.blobs.sizeRefreshing(digest)
    }

    /// A dry run's blob that the layout lacks: read into memory and checked if it may be
    /// a document (it starts with `{` and is small enough), else skipped unread.
    private func listBlob(
        _ entry: ArchiveEntry, digest: Digest, reader: ArchiveReader, buffer: UnsafeMutableRawBufferPointer
    ) throws -> BlobLocation {
        guard entry.size <= Int64(BlobStore.maxDocumentSize) else {
            try reader.skip()
            return .listed(size: entry.size)
        }
        var bytes: [UInt8] = []
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            if bytes.count > BlobStore.maxDocumentSize { throw failure(entry.path, "holds more bytes than its header declares") }
            guard bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }).map({ $0 == UInt8(ascii: "{") }) ?? true else {
                try reader.skip()
                return .listed(size: entry.size)
            }
        }
        guard Int64(bytes.count) == entry.size else {
            throw failure(entry.path, "holds \(bytes.count) bytes but its header declares \(entry.size)")
        }
        let actual = ContentHasher.digest(of: bytes)
        guard actual == digest else {
            throw failure(entry.path, "is corrupt: its content hashes to \(actual)")
        }
        return .inMemory(bytes)
    }

    private func copy(
        _ entry: ArchiveEntry, reader: ArchiveReader, buffer: UnsafeMutableRawBufferPointer, into writer: BlobWriter
    ) throws {
        // Small entries are not worth a thread hop.
        guard entry.size > Int64(ChunkPipeline.bufferSize) else {
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            return
        }
        // The archive's bytes are counted as they are read; the entry's, to show it.
        let item = progress?.begin(Self.label(entry.path), size: entry.size, countsOverall: false)
        defer { item?.cancel() }
        // Reading the archive on this thread, hashing and writing the blob on the other.
        try pipeline.run(
            produce: { buffer in
                let n = try reader.read(into: buffer)
                item?.advance(n)
                return n
            },
            consume: { try writer.write($0) })
        item?.finish()
    }

    /// How the progress line names an entry: a blob by its short digest, another file by its path.
    static func label(_ path: String) -> String {
        if path.hasPrefix("blobs/sha256/"), let digest = try? Digest(hex: String(path.dropFirst("blobs/sha256/".count))) {
            return digest.short
        }
        return path.count > 40 ? "…" + path.suffix(39) : path
    }

    /// The digest named by a `blobs/ALG/HEX` entry path.
    static func blobDigest(_ path: String, archive: String) throws -> Digest {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw StowageError(.invalidArchive, "\(archive): entry \(path) is not of the form blobs/sha256/<digest>")
        }
        guard parts[1] == "sha256" else {
            throw StowageError(.invalidArchive, "\(archive): entry \(path) uses the digest algorithm '\(parts[1])'; only sha256 is supported")
        }
        guard let digest = Digest(validHex: String(parts[2])) else {
            throw StowageError(.invalidArchive, "\(archive): entry \(path) is not named by a valid sha256 digest (64 lowercase hex digits)")
        }
        return digest
    }

    /// A one-line error naming the archive and the entry.
    func failure(_ entry: String, _ problem: String) -> StowageError {
        StowageError(.invalidArchive, "\(archive): entry \(entry) \(problem)")
    }

    /// Reads a JSON document from the archive's blobs, wherever it is now.
    func readDocument(_ digest: Digest, layout: Layout) throws -> [UInt8] {
        switch blobs[digest] {
        case .staged(let path, _)?:
            return try FileSystem.readFile(path, limit: BlobStore.maxDocumentSize)
        case .inMemory(let bytes)?:
            return bytes
        case .listed?:
            throw StowageError(.invalidArchive, "\(archive): blob \(digest) is read as a manifest, index or config, but it is not a JSON document")
        case .inLayout?, nil:
            return try layout.blobs.readDocument(digest)
        }
    }

    /// The first bytes of a blob, wherever it is now.
    func readPrefix(_ digest: Digest, layout: Layout, count: Int) throws -> [UInt8] {
        if case .staged(let path, _)? = blobs[digest] { return try FileSystem.readPrefix(path, count: count) }
        return try layout.blobs.readPrefix(digest, count: count)
    }
}
