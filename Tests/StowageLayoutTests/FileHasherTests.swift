import Foundation
@testable import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("FileHasher: whole files, one read when small, two threads when large")
struct FileHasherTests {
    static let chunk = ChunkPipeline.bufferSize
    static let overlap = Int(FileHasher.overlapThreshold)

    func withFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let dir = try makeTemporaryDirectory("file-hasher")
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/blob"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try body(path)
    }

    @Test func theEmptyFileHasTheDigestOfNothing() throws {
        let (digest, size) = try withFile([]) { try FileHasher().hash(file: $0) }
        #expect(size == 0)
        #expect(digest.string == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func aMillionAsGiveTheStandardsDigest() throws {
        // FIPS 180-2, appendix B.3: smaller than one chunk, read in one call.
        let (digest, size) = try withFile([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) {
            try FileHasher().hash(file: $0)
        }
        #expect(size == 1_000_000)
        #expect(digest.string == "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("every size around the chunk and overlap boundaries hashes like the bytes in one piece", arguments: [
        1, 55, 64, 65, chunk - 1, chunk, chunk + 1, 2 * chunk, overlap - 1, overlap, overlap + 1,
        3 * chunk + 17, 2 * overlap, 2 * overlap + 4095,
    ])
    func sizes(_ count: Int) throws {
        let data = pseudoRandomBytes(count, seed: UInt64(count))
        let (digest, size) = try withFile(data) { try FileHasher().hash(file: $0) }
        #expect(size == Int64(count))
        #expect(digest == ContentHasher.digest(of: data))
    }

    @Test func oneHasherServesManyFilesSmallAndLarge() throws {
        let hasher = FileHasher()
        for (position, count) in [overlapSizes.large, overlapSizes.small, 0, overlapSizes.large + 1, 10].enumerated() {
            let data = pseudoRandomBytes(count, seed: UInt64(position + 7))
            let (digest, _) = try withFile(data) { try hasher.hash(file: $0) }
            #expect(digest == ContentHasher.digest(of: data), "file \(position) of \(count) bytes")
        }
    }

    private var overlapSizes: (small: Int, large: Int) { (Self.chunk / 3, Self.overlap + 3 * Self.chunk) }

    @Test("a file truncated while it is read is an error that says so", arguments: [3 * chunk, 2 * overlap])
    func truncatedMidRead(_ count: Int) throws {
        try withFile(pseudoRandomBytes(count, seed: 3)) { path in
            let hasher = FileHasher()
            hasher.afterRead = { read in
                if read == Int64(Self.chunk) { _ = truncate(path, off_t(count / 2)) }
            }
            let error = try #require(stowageError { _ = try hasher.hash(file: path) })
            #expect(error.code == .io)
            #expect(error.message == "\(path) changed while it was read: it was \(count) bytes when opened, but \(count / 2) bytes were read")
        }
    }

    @Test("a file that grows while it is read is an error that says so", arguments: [2 * chunk, 2 * overlap])
    func grownMidRead(_ count: Int) throws {
        try withFile(pseudoRandomBytes(count, seed: 4)) { path in
            let hasher = FileHasher()
            var grown = false
            hasher.afterRead = { _ in
                guard !grown else { return }
                grown = true
                let fd = open(path, O_WRONLY | O_APPEND)
                _ = [UInt8](repeating: 9, count: 100).withUnsafeBytes { write(fd, $0.baseAddress, 100) }
                close(fd)
            }
            let error = try #require(stowageError { _ = try hasher.hash(file: path) })
            #expect(error.message.contains("changed while it was read: it was \(count) bytes when opened, but \(count + 100) bytes were read"))
        }
    }

    @Test func aSymlinkOrDirectoryIsRefused() throws {
        let dir = try makeTemporaryDirectory("file-hasher")
        defer { removeTemporaryDirectory(dir) }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(dir)/real"))
        #expect(symlink("\(dir)/real", "\(dir)/link") == 0)
        let link = try #require(stowageError { _ = try FileHasher().hash(file: "\(dir)/link") })
        #expect(link.message.contains("is a symbolic link"))
        let directory = try #require(stowageError { _ = try FileHasher().hash(file: dir) })
        #expect(directory.message.contains("is not a regular file"))
        let missing = try #require(stowageError { _ = try FileHasher().hash(file: "\(dir)/none") })
        #expect(missing.code == .io)
    }
}

@Suite("ChunkPipeline: every chunk consumed once, in order; errors stop both sides")
struct ChunkPipelineTests {
    @Test func chunksArriveInOrder() throws {
        let pipeline = ChunkPipeline()
        for round in 0..<2 {
            var produced = 0
            var received: [UInt8] = []
            try pipeline.run(
                produce: { buffer in
                    guard produced < 50 else { return 0 }
                    produced += 1
                    let count = produced % 7 == 0 ? buffer.count : produced
                    for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: produced &+ round) }
                    return count
                },
                consume: { received.append(contentsOf: $0) })
            var expected: [UInt8] = []
            for k in 1...50 {
                expected += [UInt8](repeating: UInt8(truncatingIfNeeded: k + round), count: k % 7 == 0 ? ChunkPipeline.bufferSize : k)
            }
            #expect(received == expected, "round \(round)")
        }
    }

    @Test("the first error of either side stops the run and is thrown", arguments: [false, true])
    func anErrorStopsBothSides(consumerFails: Bool) throws {
        let pipeline = ChunkPipeline()
        var produced = 0
        let error = try #require(stowageError {
            try pipeline.run(
                produce: { _ in
                    produced += 1
                    if !consumerFails && produced == 3 { throw StowageError(.io, "read failed") }
                    return produced > 1000 ? 0 : 1
                },
                consume: { _ in if consumerFails { throw StowageError(.io, "disk full") } })
        })
        #expect(error.message == (consumerFails ? "disk full" : "read failed"))
        #expect(consumerFails ? produced < 1000 : produced == 3, "the producer stopped early")
    }
}
