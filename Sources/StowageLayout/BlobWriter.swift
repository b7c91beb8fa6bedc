#if canImport(Glibc)
import Glibc
#endif

import StowageModel

/// A blob being written: a temporary file under `.stowage/tmp/` that hashes
/// and counts every byte as it is written. It only ever becomes a blob through
/// `BlobStore.commit`, after its digest and size have been checked.
public final class BlobWriter {
    /// The temporary file.
    public let temporaryPath: String
    private var fd: Int32
    private var hasher = ContentHasher()
    /// Bytes written so far.
    public private(set) var size: Int64 = 0
    private var finished: (digest: Digest, size: Int64)?

    init(directory: String) throws {
        temporaryPath = "\(directory)/blob-\(getpid())-\(FileSystem.randomSuffix())"
        fd = try FileSystem.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Appends bytes to the blob.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        precondition(finished == nil, "write after finish")
        guard buffer.count > 0 else { return }
        hasher.update(buffer)
        try FileSystem.writeAll(fd, buffer, path: temporaryPath)
        size += Int64(buffer.count)
    }

    /// Appends bytes to the blob.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Flushes the file to disk and returns its digest and size.
    @discardableResult
    public func finish() throws -> (digest: Digest, size: Int64) {
        if let finished { return finished }
        try FileSystem.fsync(fd, path: temporaryPath)
        close(fd)
        fd = -1
        let result = (hasher.finalize(), size)
        finished = result
        return result
    }

    /// Finishes and checks the content against what it was declared to be.
    /// `what` names the source in the error ("ARCHIVE: entry blobs/sha256/…").
    public func finish(expecting digest: Digest, size expectedSize: Int64?, what: String) throws {
        let (actual, actualSize) = try finish()
        if let expectedSize, actualSize != expectedSize {
            throw StowageError(.digestMismatch, "\(what): size is \(actualSize) bytes, expected \(expectedSize)")
        }
        guard actual == digest else {
            throw StowageError(.digestMismatch, "\(what): content hashes to \(actual), not \(digest)")
        }
    }

    /// Removes the temporary file (after a failure, or once it has been linked).
    public func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temporaryPath)
    }
}
