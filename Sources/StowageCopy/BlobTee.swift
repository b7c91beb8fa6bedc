#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import StowageModel
import StowageRegistry

/// Bytes read from the layout's blobs to send them, counted across threads: what
/// shows that a sync to several registries reads each blob once.
public final class ReadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Int64 = 0

    /// A counter at zero.
    public init() {}

    /// Adds `bytes` read.
    public func add(_ bytes: Int) {
        lock.withLock { total += Int64(bytes) }
    }

    /// Bytes read so far.
    public var bytes: Int64 { lock.withLock { total } }
}

/// One read of a blob from the layout shared by its uploads to several registries.
///
/// The blob is read a piece at a time; each upload (a consumer) is handed slices of
/// the piece in hand. The next piece is read once every consumer still sending is done
/// with the current one, so the uploads go in step and a piece is read from disk
/// once, however many registries it goes to. A consumer that falls behind (a resumed
/// or restarted upload) reads what it needs again from disk, counted too, and never
/// holds the others up. Memory is one piece per blob in flight.
actor BlobTee {
    private let path: String
    private let size: Int64
    private let pieceSize: Int
    private let reads: ReadCounter
    private var fd: Int32 = -1
    private var piece: (offset: Int64, bytes: ByteBuffer)?
    /// Where each consumer still sending asked to read last; 0 before its first read.
    private var positions: [Int: Int64]
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// A tee of the blob at `path` for `consumers` uploads.
    init(path: String, size: Int64, consumers: Int, pieceSize: Int = 1 << 20, reads: ReadCounter) {
        self.path = path
        self.size = size
        self.pieceSize = pieceSize
        self.reads = reads
        positions = Dictionary(uniqueKeysWithValues: (0..<consumers).map { ($0, 0) })
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// The reader for consumer `id` (0 ..< consumers).
    nonisolated func reader(_ id: Int) -> Reader {
        Reader(tee: self, id: id)
    }

    /// Consumer `id` sends no more (done, the registry had the blob, or it failed).
    func leave(_ id: Int) {
        positions[id] = nil
        wake()
    }

    /// Bytes from `offset` for consumer `id`.
    func read(_ id: Int, at offset: Int64, maxLength: Int) async throws -> ByteBuffer {
        positions[id] = offset
        wake()
        while true {
            if let piece, offset >= piece.offset, offset < piece.offset + Int64(piece.bytes.readableBytes) {
                let start = Int(offset - piece.offset)
                let length = Swift.min(maxLength, piece.bytes.readableBytes - start)
                positions[id] = offset + Int64(length)
                wake()
                return piece.bytes.getSlice(at: piece.bytes.readerIndex + start, length: length)!
            }
            let next = piece.map { $0.offset + Int64($0.bytes.readableBytes) } ?? 0
            guard offset == next else {
                // Behind (or ahead after a resume): its own read, so the others go on.
                return try readFromDisk(at: offset, length: Swift.min(maxLength, pieceSize))
            }
            if othersHoldCurrentPiece(besides: id) {
                await withCheckedContinuation { waiters.append($0) }
                continue
            }
            piece = (offset, try readFromDisk(at: offset, length: pieceSize))
        }
    }

    /// Whether a consumer other than `id` still reads within the piece in hand.
    private func othersHoldCurrentPiece(besides id: Int) -> Bool {
        guard let piece else { return false }
        let end = piece.offset + Int64(piece.bytes.readableBytes)
        return positions.contains { other, position in other != id && position >= piece.offset && position < end }
    }

    private func wake() {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume() }
    }

    private func readFromDisk(at offset: Int64, length wanted: Int) throws -> ByteBuffer {
        if fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StowageError(.io, "cannot open \(path)", cause: String(cString: strerror(errno))) }
        }
        let length = Int(Swift.min(Int64(wanted), size - offset))
        guard length > 0 else { return ByteBuffer() }
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        let fd = self.fd
        let path = self.path
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer -> Int in
            var done = 0
            while done < length {
                let got = pread(fd, pointer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { throw StowageError(.io, "cannot read \(path)", cause: String(cString: strerror(errno))) }
                if got == 0 { break }
                done += got
            }
            return done
        }
        guard n == length else { throw StowageError(.io, "\(path) ended \(length - n) bytes early while being sent") }
        reads.add(n)
        return buffer
    }

    /// One consumer's view of the tee, as an upload's `BlobReader`.
    struct Reader: BlobReader {
        let tee: BlobTee
        let id: Int

        func read(at offset: Int64, maxLength: Int) async throws -> ByteBuffer {
            try await tee.read(id, at: offset, maxLength: maxLength)
        }
    }
}
