import Foundation
import StowageLayout
import StowageModel
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("BlobStore")
struct BlobStoreTests {
    @Test("write stores small content as blobs/sha256/<hex>")
    func writeSmall() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let (digest, size) = try layout.blobs.write(Array("abc".utf8))
        #expect(digest.string == "sha256:" + abcSHA256)
        #expect(size == 3)
        #expect(layout.blobs.path(of: digest) == "\(dir)/blobs/sha256/\(abcSHA256)")
        #expect(try contents("\(dir)/blobs/sha256/\(abcSHA256)") == Array("abc".utf8))
        #expect(listing("\(dir)/blobs/sha256") == [abcSHA256])
        #expect(try layout.blobs.contains(digest))
        #expect(try layout.blobs.size(of: digest) == 3)
        #expect(listing(layout.temporaryDirectory).isEmpty)
    }

    @Test("the empty blob has the well-known digest")
    func writeEmpty() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let (digest, size) = try layout.blobs.write([])
        #expect(digest.hex == emptySHA256)
        #expect(size == 0)
        #expect(try layout.blobs.size(of: digest) == 0)
        #expect(try layout.blobs.readDocument(digest, expectedSize: 0) == [])
        var calls = 0
        try layout.blobs.read(digest) { _ in calls += 1 }
        #expect(calls == 0)
    }

    @Test("an absent blob is not contained and has no size")
    func absent() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let digest = try Digest(hex: abcSHA256)
        #expect(try !layout.blobs.contains(digest))
        #expect(try layout.blobs.size(of: digest) == nil)
        let error = try #require(stowageError { _ = try layout.blobs.readDocument(digest) })
        #expect(error.code == .notFound)
        #expect(error.message.contains(digest.string))
        #expect(throws: StowageError.self) { try layout.blobs.read(digest) { _ in } }
    }

    @Test("a directory in place of a blob is an .invalidLayout error")
    func blobIsDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let digest = try Digest(hex: abcSHA256)
        try FileManager.default.createDirectory(atPath: layout.blobs.path(of: digest), withIntermediateDirectories: false)
        let error = try #require(stowageError { _ = try layout.blobs.size(of: digest) })
        #expect(error.code == .invalidLayout)
        #expect(error.message.contains(abcSHA256))
    }

    @Test("readDocument returns the bytes and checks the size")
    func readDocumentSize() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let document = Array(#"{"schemaVersion":2}"#.utf8)
        let (digest, size) = try layout.blobs.write(document)
        #expect(try layout.blobs.readDocument(digest) == document)
        #expect(try layout.blobs.readDocument(digest, expectedSize: size) == document)
        for wrong in [size - 1, size + 1, 0] {
            let error = try #require(stowageError { _ = try layout.blobs.readDocument(digest, expectedSize: wrong) })
            #expect(error.code == .digestMismatch)
            #expect(error.message.contains("says \(wrong)"))
            #expect(error.message.contains(digest.string))
        }
    }

    @Test("readDocument detects a corrupt blob", arguments: ["abd", "ab", "abcd", ""])
    func readDocumentCorrupt(_ replacement: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let (digest, _) = try layout.blobs.write(Array("abc".utf8))
        try writeFile(layout.blobs.path(of: digest), replacement)
        let error = try #require(stowageError { _ = try layout.blobs.readDocument(digest) })
        #expect(error.code == .digestMismatch)
        #expect(error.message.contains("corrupt"))
        #expect(error.message.contains(digest.string))
        #expect(error.message.contains(ContentHasher.digest(of: Array(replacement.utf8)).string))
    }

    @Test("readDocument refuses documents over the size limit")
    func readDocumentTooLarge() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let big = [UInt8](repeating: 0x20, count: BlobStore.maxDocumentSize + 1)
        let (digest, _) = try layout.blobs.write(big)
        let error = try #require(stowageError { _ = try layout.blobs.readDocument(digest) })
        #expect(error.code == .unsupported)
        #expect(error.message.contains(digest.hex))
    }

    @Test("a writer counts and hashes what it is given")
    func writerHashes() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let writer = try layout.blobs.makeWriter()
        #expect(writer.temporaryPath.hasPrefix(layout.temporaryDirectory + "/"))
        #expect(FileManager.default.fileExists(atPath: writer.temporaryPath))
        try writer.write(Array("a".utf8))
        try writer.write([])
        try writer.write(Array("bc".utf8))
        #expect(writer.size == 3)
        let (digest, size) = try writer.finish()
        #expect(digest.hex == abcSHA256)
        #expect(size == 3)
        let again = try writer.finish()
        #expect(again.digest == digest && again.size == size, "finish is idempotent")
        #expect(try !layout.blobs.contains(digest), "nothing is a blob before commit")
        writer.discard()
        #expect(!FileManager.default.fileExists(atPath: writer.temporaryPath))
        #expect(listing(layout.temporaryDirectory).isEmpty)
    }

    @Test("finish(expecting:size:what:) accepts matching content")
    func finishExpectingMatch() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let writer = try layout.blobs.makeWriter()
        try writer.write(Array("abc".utf8))
        try writer.finish(expecting: try Digest(hex: abcSHA256), size: 3, what: "entry")
        #expect(try layout.blobs.commit(writer))
        let other = try layout.blobs.makeWriter()
        try other.write(Array("abc".utf8))
        try other.finish(expecting: try Digest(hex: abcSHA256), size: nil, what: "entry")
        other.discard()
    }

    @Test("finish(expecting:size:what:) refuses a wrong digest or size with .digestMismatch")
    func finishExpectingMismatch() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let abc = try Digest(hex: abcSHA256)
        let empty = try Digest(hex: emptySHA256)
        let what = "ARCHIVE: entry blobs/sha256/\(abcSHA256)"

        let wrongDigest = try layout.blobs.makeWriter()
        try wrongDigest.write(Array("abd".utf8))
        let e1 = try #require(stowageError { try wrongDigest.finish(expecting: abc, size: 3, what: what) })
        #expect(e1.code == .digestMismatch)
        #expect(e1.message.hasPrefix(what + ": "))
        #expect(e1.message.contains("not \(abc)"))
        wrongDigest.discard()

        let wrongSize = try layout.blobs.makeWriter()
        try wrongSize.write(Array("abc".utf8))
        let e2 = try #require(stowageError { try wrongSize.finish(expecting: abc, size: 4, what: what) })
        #expect(e2.code == .digestMismatch)
        #expect(e2.message.contains("size is 3 bytes, expected 4"))
        wrongSize.discard()

        let wrongBoth = try layout.blobs.makeWriter()
        try wrongBoth.write(Array("abc".utf8))
        let e3 = try #require(stowageError { try wrongBoth.finish(expecting: empty, size: nil, what: what) })
        #expect(e3.code == .digestMismatch)
        wrongBoth.discard()

        #expect(listing(layout.blobs.directory).isEmpty, "a refused writer never becomes a blob")
        #expect(listing(layout.temporaryDirectory).isEmpty)
    }

    @Test("committing the same blob twice returns false the second time and keeps one file")
    func commitTwice() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let first = try layout.blobs.makeWriter()
        let second = try layout.blobs.makeWriter()
        #expect(first.temporaryPath != second.temporaryPath)
        try first.write(Array("same".utf8))
        try second.write(Array("same".utf8))
        #expect(try layout.blobs.commit(first) == true)
        let inodeAfterFirst = try inode(layout.blobs.path(of: ContentHasher.digest(of: Array("same".utf8))))
        #expect(try layout.blobs.commit(second) == false)
        let digest = ContentHasher.digest(of: Array("same".utf8))
        #expect(listing(layout.blobs.directory) == [digest.hex])
        #expect(try inode(layout.blobs.path(of: digest)) == inodeAfterFirst, "an existing blob is never replaced")
        #expect(try contents(layout.blobs.path(of: digest)) == Array("same".utf8))
        #expect(listing(layout.temporaryDirectory).isEmpty)

        // write() of existing content is harmless too.
        #expect(try layout.blobs.write(Array("same".utf8)).digest == digest)
        #expect(listing(layout.blobs.directory) == [digest.hex])
    }

    @Test("after a commit no temporary file remains and the blob has a single link")
    func commitCleansUp() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        for i in 0..<5 {
            let writer = try layout.blobs.makeWriter()
            try writer.write(Array("blob \(i)".utf8))
            #expect(listing(layout.temporaryDirectory).count == 1)
            #expect(try layout.blobs.commit(writer))
            #expect(!FileManager.default.fileExists(atPath: writer.temporaryPath))
        }
        #expect(listing(layout.temporaryDirectory).isEmpty)
        #expect(listing(layout.blobs.directory).count == 5)
        for name in listing(layout.blobs.directory) {
            var st = stat()
            #expect(lstat("\(layout.blobs.directory)/\(name)", &st) == 0)
            #expect(st.st_nlink == 1)
        }
    }

    @Test("a writer in a staging directory commits like any other")
    func stagingDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let staging = try layout.makeStagingDirectory("import")
        #expect(staging.hasPrefix(layout.temporaryDirectory + "/import-"))
        let writer = try layout.blobs.makeWriter(in: staging)
        #expect(writer.temporaryPath.hasPrefix(staging + "/"))
        try writer.write(Array("abc".utf8))
        #expect(try layout.blobs.commit(writer))
        #expect(listing(staging).isEmpty)
        #expect(try layout.blobs.readDocument(try Digest(hex: abcSHA256)) == Array("abc".utf8))
    }

    @Test("read streams exactly the stored bytes in chunks", arguments: [1, 7, 1000, 4096, 1 << 20])
    func readStreams(_ chunkSize: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        var generator = SystemRandomNumberGenerator()
        let data = (0..<10_007).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let (digest, size) = try layout.blobs.write(data)
        #expect(size == 10_007)
        var received: [UInt8] = []
        var chunks = 0
        try layout.blobs.read(digest, chunkSize: chunkSize) { buffer in
            #expect(buffer.count > 0 && buffer.count <= chunkSize)
            received.append(contentsOf: buffer)
            chunks += 1
        }
        #expect(received == data)
        #expect(chunks >= (data.count + chunkSize - 1) / chunkSize)
    }

    @Test("an error thrown by the read body stops the read")
    func readBodyThrows() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let (digest, _) = try layout.blobs.write([UInt8](repeating: 1, count: 100))
        var chunks = 0
        let error = try #require(stowageError {
            try layout.blobs.read(digest, chunkSize: 10) { _ in
                chunks += 1
                if chunks == 2 { throw StowageError(.conflict, "stop") }
            }
        })
        #expect(error.message == "stop")
        #expect(chunks == 2)
    }

    @Test("readPrefix reads at most the first bytes")
    func readPrefix() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let (digest, _) = try layout.blobs.write(Array("hello world".utf8))
        #expect(try layout.blobs.readPrefix(digest, count: 5) == Array("hello".utf8))
        #expect(try layout.blobs.readPrefix(digest, count: 100) == Array("hello world".utf8))
    }

    @Test("ContentHasher gives the SHA-256 of what it is fed, in any number of pieces")
    func contentHasher() {
        #expect(ContentHasher.digest(of: []).hex == emptySHA256)
        #expect(ContentHasher.digest(of: Array("abc".utf8)).hex == abcSHA256)
        var hasher = ContentHasher()
        for piece in ["a", "", "b", "c"] { Array(piece.utf8).withUnsafeBytes { hasher.update($0) } }
        #expect(hasher.finalize().hex == abcSHA256)
        // FIPS 180-2 test vector.
        #expect(
            ContentHasher.digest(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hex
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
