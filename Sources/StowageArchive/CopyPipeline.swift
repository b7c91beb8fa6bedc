import Dispatch
import Foundation
import StowageLayout
import StowageModel

/// Copies an entry's bytes from the archive into a blob writer with reading on
/// one thread and hashing and writing on another, so the two kernel copies
/// (read from the archive, write to the blob) overlap instead of taking turns.
///
/// A few fixed buffers go round: memory stays flat whatever the blob size.
final class CopyPipeline: @unchecked Sendable {
    static let bufferCount = 4
    static let bufferSize = 1 << 20

    private let buffers: [UnsafeMutableRawBufferPointer]
    private let free = DispatchSemaphore(value: CopyPipeline.bufferCount)
    private let queue = DispatchQueue(label: "stowage.copy-pipeline")
    private let lock = NSLock()
    private var failure: Error?

    init() {
        buffers = (0..<Self.bufferCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 64)
        }
    }

    deinit {
        queue.sync {}
        for buffer in buffers { buffer.deallocate() }
    }

    /// Copies the current entry of `reader` into `writer`; returns once every byte is written.
    func copy(from reader: ArchiveReader, into writer: BlobWriter) throws {
        var next = 0
        defer { queue.sync {} }
        while true {
            free.wait()
            if let failure = takeFailure() {
                free.signal()
                throw failure
            }
            // Buffers are handed out in turn and written in order, so the one due next is free.
            let buffer = buffers[next % Self.bufferCount]
            next += 1
            let count: Int
            do {
                count = try reader.read(into: buffer)
            } catch {
                free.signal()
                throw error
            }
            guard count > 0 else {
                free.signal()
                break
            }
            // The buffer is not touched again until `free` is signalled after this write.
            let handoff = Handoff(writer: writer, chunk: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            queue.async { [self] in
                do {
                    try handoff.writer.write(handoff.chunk)
                } catch {
                    lock.withLock { if failure == nil { failure = error } }
                }
                free.signal()
            }
        }
        queue.sync {}
        if let failure = takeFailure() { throw failure }
    }

    /// One chunk in flight to the writing thread.
    private struct Handoff: @unchecked Sendable {
        let writer: BlobWriter
        let chunk: UnsafeRawBufferPointer
    }

    private func takeFailure() -> Error? {
        lock.withLock {
            defer { failure = nil }
            return failure
        }
    }
}
