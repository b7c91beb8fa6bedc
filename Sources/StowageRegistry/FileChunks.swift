#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import StowageModel

/// A byte range of a file as an async sequence of buffers, read as it is sent,
/// so uploads never hold a blob in memory. Each iteration reopens the file,
/// so a retried request can send the range again.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let path: String
    let offset: Int64
    let length: Int64
    let chunkSize: Int
    let onBytes: (@Sendable (Int) -> Void)?

    func makeAsyncIterator() -> Iterator {
        Iterator(path: path, position: offset, remaining: length, chunkSize: chunkSize, onBytes: onBytes)
    }

    final class Iterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        var remaining: Int64
        let chunkSize: Int
        let onBytes: (@Sendable (Int) -> Void)?
        var fd: Int32 = -1

        init(path: String, position: Int64, remaining: Int64, chunkSize: Int, onBytes: (@Sendable (Int) -> Void)?) {
            self.path = path
            self.position = position
            self.remaining = remaining
            self.chunkSize = chunkSize
            self.onBytes = onBytes
        }

        deinit {
            if fd >= 0 { close(fd) }
        }

        func next() async throws -> ByteBuffer? {
            guard remaining > 0 else { return nil }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw StowageError(.io, "cannot open \(path)", cause: String(cString: strerror(errno)))
                }
            }
            let want = Int(Swift.min(Int64(chunkSize), remaining))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer -> Int in
                while true {
                    let got = pread(fd, pointer.baseAddress, want, off_t(position))
                    if got < 0 && errno == EINTR { continue }
                    if got < 0 { throw StowageError(.io, "cannot read \(path)", cause: String(cString: strerror(errno))) }
                    return got
                }
            }
            guard n > 0 else {
                throw StowageError(.io, "\(path) ended \(remaining) bytes early while being sent")
            }
            position += Int64(n)
            remaining -= Int64(n)
            onBytes?(n)
            return buffer
        }
    }
}
