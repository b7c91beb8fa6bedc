import Foundation
import NIOCore
@testable import StowageCopy
import StowageRegistry
import StowageTestSupport
import Testing

/// `BlobTee`: the uploads of one blob to several registries share one read of it.
@Suite struct BlobTeeTests {
    let directory = TemporaryDirectory()

    func blob(_ size: Int) throws -> (path: String, bytes: [UInt8]) {
        let bytes = pseudoRandomBytes(size, seed: UInt64(size))
        let path = directory.child("blob-\(size)")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    /// Reads `length` bytes from `offset` through `reader`, `step` at a time, as an upload does.
    static func drain(_ reader: some BlobReader, from offset: Int64 = 0, length: Int64, step: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        var position = offset
        while position < offset + length {
            let buffer = try await reader.read(at: position, maxLength: Swift.min(step, Int(offset + length - position)))
            #expect(buffer.readableBytes > 0)
            out += buffer.readableBytesView
            position += Int64(buffer.readableBytes)
        }
        return out
    }

    @Test func threeConsumersGetEveryByteAndTheBlobIsReadOnce() async throws {
        let (path, bytes) = try blob(5_000_000)
        let reads = ReadCounter()
        let tee = BlobTee(path: path, size: Int64(bytes.count), consumers: 3, pieceSize: 1 << 20, reads: reads)
        let results = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for (id, step) in [(0, 256 << 10), (1, 100_000), (2, 777_777)] {
                group.addTask {
                    let got = try await Self.drain(tee.reader(id), length: Int64(bytes.count), step: step)
                    await tee.leave(id)
                    return got
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 3 && results.allSatisfy { $0 == bytes })
        #expect(reads.bytes == Int64(bytes.count), "read once for three")
    }

    @Test func aConsumerThatLeavesOrFallsBehindHoldsNobodyUp() async throws {
        let (path, bytes) = try blob(3_000_000)
        let reads = ReadCounter()
        let tee = BlobTee(path: path, size: Int64(bytes.count), consumers: 3, pieceSize: 1 << 20, reads: reads)
        // Consumer 2 never reads (its registry had the blob) and leaves; consumer 1 reads
        // half, starts over from the beginning (a restarted upload), then finishes.
        await tee.leave(2)
        async let first = Self.drain(tee.reader(0), length: Int64(bytes.count), step: 300_000)
        let half = try await Self.drain(tee.reader(1), length: 1_500_000, step: 300_000)
        let again = try await Self.drain(tee.reader(1), length: Int64(bytes.count), step: 300_000)
        await tee.leave(1)
        let whole = try await first
        await tee.leave(0)
        #expect(whole == bytes && again == bytes && half == Array(bytes.prefix(1_500_000)))
        #expect(reads.bytes >= Int64(bytes.count) && reads.bytes <= Int64(bytes.count) + 1_500_000 + (2 << 20), "\(reads.bytes)")
    }
}
