#if canImport(Glibc)
import Glibc
#endif

import StowageModel

/// The content-addressed blobs of a layout, `blobs/sha256/<hex>`.
///
/// A blob appears only complete: it is written to a temporary file, hashed while
/// written, fsynced, checked, then hard-linked into place. A link never replaces
/// an existing file, so concurrent writers of the same blob are harmless.
public struct BlobStore: Sendable {
    /// `DIR/blobs/sha256`.
    public let directory: String
    /// `DIR/.stowage/tmp`, where blobs are written before they are committed.
    public let temporaryDirectory: String

    /// The largest JSON document (manifest, index, config) Stowage reads into memory.
    public static let maxDocumentSize = ContentDocument.maxSize

    /// The path of a blob.
    public func path(of digest: Digest) -> String { "\(directory)/\(digest.hex)" }

    /// The size of a stored blob, or nil if it is absent.
    public func size(of digest: Digest) throws -> Int64? {
        guard let st = try FileSystem.status(path(of: digest)) else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw StowageError(.invalidLayout, "\(path(of: digest)) is not a regular file")
        }
        return Int64(st.st_size)
    }

    /// The stored blobs whose digest starts with `prefix` (one directory listing).
    public func digests(matching prefix: DigestPrefix) throws -> [Digest] {
        guard FileSystem.isDirectoryFollowingLinks(directory) else { return [] }
        return try FileSystem.listDirectory(directory).compactMap { name in
            name.hasPrefix(prefix.hex) ? Digest(validHex: name) : nil
        }
    }

    /// Whether a blob is stored.
    public func contains(_ digest: Digest) throws -> Bool {
        try size(of: digest) != nil
    }

    /// The size of a stored blob that a writer is about to rely on (dedup), or nil if
    /// it is absent. A present blob's times are set to now, so gc's grace period
    /// protects it until the writer has named it, even where locks do not work.
    public func sizeRefreshing(_ digest: Digest) throws -> Int64? {
        guard let size = try size(of: digest) else { return nil }
        refresh(digest)
        return size
    }

    /// Whether a blob is stored, refreshing its times when it is (see `sizeRefreshing`).
    public func containsRefreshing(_ digest: Digest) throws -> Bool {
        try sizeRefreshing(digest) != nil
    }

    /// Sets a blob's modification time (and so its change time) to now. Best effort:
    /// on a read-only layout nothing is written, and nothing needs protecting.
    public func refresh(_ digest: Digest) {
        _ = utimensat(AT_FDCWD, path(of: digest), nil, AT_SYMLINK_NOFOLLOW)
    }

    /// Starts writing a new blob, in `.stowage/tmp/` or in a staging directory below it.
    public func makeWriter(in stagingDirectory: String? = nil) throws -> BlobWriter {
        let directory = stagingDirectory ?? temporaryDirectory
        try FileSystem.makeDirectories(directory)
        return try BlobWriter(directory: directory)
    }

    /// Moves a finished writer's file into place as `blobs/sha256/<digest>`.
    /// Returns false when the blob was already there (the temporary file is removed either way).
    @discardableResult
    public func commit(_ writer: BlobWriter) throws -> Bool {
        let (digest, _) = try writer.finish()
        defer { writer.discard() }
        let added = try link(file: writer.temporaryPath, as: digest)
        if added { try FileSystem.fsyncDirectory(directory) }
        return added
    }

    /// Hard-links a complete, fsynced and verified file into place as a blob.
    /// Returns false when the blob was already there. The caller syncs the
    /// directory (`syncDirectory`) once after a batch of links.
    public func link(file: String, as digest: Digest) throws -> Bool {
        try FileSystem.makeDirectories(directory)
        return try FileSystem.linkNoReplace(file, path(of: digest))
    }

    /// Makes links into `blobs/sha256/` durable.
    public func syncDirectory() throws {
        try FileSystem.fsyncDirectory(directory)
    }

    /// Stores small content (a manifest Stowage made) and returns its digest and size.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws -> (digest: Digest, size: Int64) {
        let writer = try makeWriter()
        do {
            try writer.write(bytes)
            let result = try writer.finish()
            try commit(writer)
            return result
        } catch {
            writer.discard()
            throw error
        }
    }

    /// Reads a whole JSON document (manifest, index, config), checking its digest and,
    /// when given, its size. Refuses documents over `maxDocumentSize`.
    public func readDocument(_ digest: Digest, expectedSize: Int64? = nil) throws -> [UInt8] {
        let path = path(of: digest)
        let bytes: [UInt8]
        switch try FileSystem.readSmallRegularFile(path, limit: Self.maxDocumentSize) {
        case .bytes(let read): bytes = read
        case .missing: throw StowageError(.notFound, "blob \(digest) is missing from the layout")
        case .notRegularFile: throw StowageError(.invalidLayout, "\(path) is not a regular file")
        case .tooLarge: throw StowageError(.unsupported, "\(path) is larger than \(Self.maxDocumentSize) bytes, the limit for a JSON document")
        }
        if let expectedSize, Int64(bytes.count) != expectedSize {
            throw StowageError(.digestMismatch, "blob \(digest) is \(bytes.count) bytes, but its descriptor says \(expectedSize)")
        }
        let actual = ContentHasher.digest(of: bytes)
        guard actual == digest else {
            throw StowageError(.digestMismatch, "blob \(digest) is corrupt: its content hashes to \(actual)")
        }
        return bytes
    }

    /// Reads the first bytes of a blob (to sniff a compression format).
    public func readPrefix(_ digest: Digest, count: Int) throws -> [UInt8] {
        try FileSystem.readPrefix(path(of: digest), count: count, followLinks: false)
    }

    /// Opens a blob for reading: never through a symlink, never a device or fifo.
    private func openBlob(_ path: String) throws -> Int32 {
        try FileSystem.openRegularFile(path)
    }

    /// Copies a blob from another store, hashed and checked on the way in; nothing
    /// happens when this store has it already.
    public func copy(_ digest: Digest, size: Int64, from source: BlobStore) throws {
        guard try !containsRefreshing(digest) else { return }
        let writer = try makeWriter()
        do {
            try source.read(digest) { try writer.write($0) }
            try writer.finish(expecting: digest, size: size, what: "blob \(digest) of \(source.directory)")
            try commit(writer)
        } catch {
            writer.discard()
            throw error
        }
    }

    /// Streams a blob's bytes to `body` in chunks, never holding it whole.
    public func read(_ digest: Digest, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let path = path(of: digest)
        let fd = try openBlob(path)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try FileSystem.read(fd, into: buffer, path: path)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }
}
