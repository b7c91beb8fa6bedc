import Dispatch
import Foundation

/// Moves a stream of chunks from a producer on the calling thread to a consumer on
/// a second thread, so that the two overlap instead of taking turns: reading an
/// archive while the previous chunk is hashed and written (import), reading a blob
/// while the previous chunk is hashed (verify).
///
/// A few fixed buffers go round, handed out in turn and consumed in order: memory
/// stays flat whatever the stream's length. One pipeline serves one stream at a
/// time and may be reused for the next.
public final class ChunkPipeline: @unchecked Sendable {
    /// The buffers that go round.
    public static let bufferCount = 4
    /// The size of each buffer, hence the most a producer is asked for at once.
    public static let bufferSize = 1 << 20

    private let buffers: [UnsafeMutableRawBufferPointer]
    private let free = DispatchSemaphore(value: ChunkPipeline.bufferCount)
    private let queue = DispatchQueue(label: "stowage.chunk-pipeline")
    private let lock = NSLock()
    private var failure: Error?

    /// A pipeline with its buffers allocated.
    public init() {
        buffers = (0..<Self.bufferCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
        }
    }

    deinit {
        queue.sync {}
        for buffer in buffers { buffer.deallocate() }
    }

    /// Calls `produce` on this thread to fill a buffer (it returns how many bytes it
    /// put there, 0 at the end) and `consume` on the pipeline's thread with each
    /// filled part, in order. Returns once every chunk has been consumed; the first
    /// error of either side stops both and is thrown.
    public func run(
        produce: (UnsafeMutableRawBufferPointer) throws -> Int,
        consume: @escaping (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let consumer = Consumer(body: consume)
        var next = 0
        defer { queue.sync {} }
        while true {
            free.wait()
            if let failure = takeFailure() {
                free.signal()
                throw failure
            }
            // Buffers are handed out in turn and consumed in order, so the one due next is free.
            let buffer = buffers[next % Self.bufferCount]
            next += 1
            let count: Int
            do {
                count = try produce(buffer)
            } catch {
                free.signal()
                throw error
            }
            guard count > 0 else {
                free.signal()
                break
            }
            // The buffer is not touched again until `free` is signalled after it is consumed.
            let chunk = Chunk(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            queue.async { [self] in
                do {
                    if !hasFailed { try consumer.body(chunk.bytes) }
                } catch {
                    lock.withLock { if failure == nil { failure = error } }
                }
                free.signal()
            }
        }
        queue.sync {}
        if let failure = takeFailure() { throw failure }
    }

    /// The consumer, called on the pipeline's queue only, one chunk after the other.
    private struct Consumer: @unchecked Sendable {
        let body: (UnsafeRawBufferPointer) throws -> Void
    }

    /// One chunk in flight to the consuming thread.
    private struct Chunk: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
    }

    private var hasFailed: Bool {
        lock.withLock { failure != nil }
    }

    private func takeFailure() -> Error? {
        lock.withLock {
            defer { failure = nil }
            return failure
        }
    }
}
