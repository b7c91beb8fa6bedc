#if canImport(Glibc)
import Glibc
#endif
import StowageLayout
import StowageModel

/// The result of reading an archive once, front to back: its small metadata
/// documents in memory, and every blob either found already in the layout
/// (skipped unread) or staged, verified, under `.stowage/tmp/`.
struct ArchiveScan {
    /// Where a blob of the archive is.
    enum BlobLocation {
        /// Already in the layout; the archive's copy was skipped without being read.
        case inLayout(size: Int64)
        /// Copied from the archive into a staging file, hash and size checked.
        case staged(path: String, size: Int64)

        var size: Int64 {
            switch self {
            case .inLayout(let size), .staged(_, let size): size
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
    private let pipeline = ChunkPipeline()

    /// Reads the whole archive, staging what the layout lacks into `stagingDirectory`.
    init(archive path: String, layout: Layout, stagingDirectory: String) throws {
        archive = path
        let reader = try ArchiveReader(path: path)
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
                try scanFile(entry, reader: reader, buffer: buffer, layout: layout, staging: stagingDirectory)
            }
        }
        guard entries > 0 else {
            throw StowageError(.invalidArchive, "\(path) contains no entries")
        }
        bytesRead = reader.bytesRead
    }

    private mutating func scanFile(
        _ entry: ArchiveEntry, reader: ArchiveReader, buffer: UnsafeMutableRawBufferPointer,
        layout: Layout, staging: String
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
            if let existing = try layout.blobs.sizeRefreshing(digest) {
                guard existing == entry.size else {
                    throw failure(entry.path, "is \(entry.size) bytes, but the layout's blob \(digest) is \(existing) bytes")
                }
                try reader.skip()
                bytesSkipped += entry.size
                blobs[digest] = .inLayout(size: existing)
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
        // Reading the archive on this thread, hashing and writing the blob on the other.
        try pipeline.run(produce: { try reader.read(into: $0) }, consume: { try writer.write($0) })
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
        guard Digest.isValidHex(String(parts[2])) else {
            throw StowageError(.invalidArchive, "\(archive): entry \(path) is not named by a valid sha256 digest (64 lowercase hex digits)")
        }
        return try Digest(hex: String(parts[2]))
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
