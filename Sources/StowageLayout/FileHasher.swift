#if canImport(Glibc)
import Glibc
#endif
import StowageModel

/// Hashes whole stored files at the pace of the disk or of SHA-256, whichever is
/// slower: the one place Stowage reads a file only to hash it (`verify`).
///
/// A small file costs one `open`, one `fstat` and one `read` into a buffer the
/// hasher keeps for every file it hashes. A large file is read on the calling
/// thread while the previous chunk is hashed on a second one (`ChunkPipeline`),
/// so reading never waits for hashing or hashing for reading.
///
/// Not thread-safe: one hasher per thread.
public final class FileHasher {
    /// Files larger than this are read and hashed on two threads; smaller ones on one,
    /// where a thread hop would cost more than it hides.
    public static let overlapThreshold: Int64 = 4 * Int64(ChunkPipeline.bufferSize)

    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ChunkPipeline.bufferSize, alignment: 64)
    private var pipeline: ChunkPipeline?
    /// Called on the reading thread after each read with the bytes read so far (tests
    /// change the file there, to see a file that changes while it is read).
    var afterRead: ((Int64) -> Void)?

    /// A hasher with its buffer allocated.
    public init() {}

    deinit {
        buffer.deallocate()
    }

    /// The digest and size of the regular file at `path`, reached without a symlink.
    /// Throws when it is no regular file, cannot be read, or is not the size it had
    /// when opened once every byte is read (it was truncated or grew meanwhile). The bytes
    /// read are counted in `progress` as they come.
    public func hash(file path: String, progress: TransferProgress.Item? = nil) throws -> (digest: Digest, size: Int64) {
        let (fd, size) = try FileSystem.openRegularFileWithSize(path)
        defer { close(fd) }
        var hasher = ContentHasher()
        var total: Int64 = 0
        if size <= Self.overlapThreshold {
            while true {
                let n = try FileSystem.read(fd, into: buffer, path: path)
                if n == 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                total += Int64(n)
                progress?.advance(n)
                afterRead?(total)
                // A short read of a regular file ends it: a small file takes one read.
                if n < buffer.count && total == size { break }
            }
        } else {
            let pipeline = self.pipeline ?? ChunkPipeline()
            self.pipeline = pipeline
            let afterRead = self.afterRead
            try pipeline.run(
                produce: { buffer in
                    let n = try FileSystem.read(fd, into: buffer, path: path)
                    total += Int64(n)
                    progress?.advance(n)
                    if n > 0 { afterRead?(total) }
                    return n
                },
                consume: { hasher.update($0) })
        }
        guard total == size else {
            throw StowageError(
                .io, "\(path) changed while it was read: it was \(size) bytes when opened, but \(total) bytes were read")
        }
        return (hasher.finalize(), size)
    }
}
