import Foundation
import StowageLayout
import StowageModel
import Testing

@Suite("Symbolic links")
struct SymlinkTests {
    @Test("create works through a symlink to an existing layout")
    func createThroughSymlink() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try Layout.create("\(dir)/real")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link", withDestinationPath: "\(dir)/real")
        let layout = try Layout.create("\(dir)/link")
        #expect(try layout.readIndex().manifests.isEmpty)
    }

    @Test(
        "open and create follow a symlinked layout directory")
    func openThroughSymlink() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try Layout.create("\(dir)/real")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link", withDestinationPath: "\(dir)/real")
        let layout = try Layout.open("\(dir)/link")
        #expect(try layout.readIndex().manifests.isEmpty)

        try FileManager.default.createDirectory(atPath: "\(dir)/empty", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link2", withDestinationPath: "\(dir)/empty")
        _ = try Layout.create("\(dir)/link2")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/empty/oci-layout"))
    }

    @Test("size(of:) refuses a blob that is a symlink")
    func symlinkedBlobSize() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create("\(dir)/layout")
        let digest = try Digest(hex: abcSHA256)
        try writeFile("\(dir)/outside", "abc")
        try FileManager.default.createSymbolicLink(atPath: layout.blobs.path(of: digest), withDestinationPath: "\(dir)/outside")
        let error = try #require(stowageError { _ = try layout.blobs.size(of: digest) })
        #expect(error.code == .invalidLayout)
        #expect(error.message.contains("not a regular file"))
        #expect(throws: StowageError.self) { try layout.blobs.contains(digest) }
    }

    @Test(
        "readDocument and read refuse a blob that is a symlink, as size(of:) does")
    func symlinkedBlobRead() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create("\(dir)/layout")
        let digest = try Digest(hex: abcSHA256)
        try writeFile("\(dir)/outside", "abc")
        try FileManager.default.createSymbolicLink(atPath: layout.blobs.path(of: digest), withDestinationPath: "\(dir)/outside")
        let readError = try #require(stowageError { _ = try layout.blobs.readDocument(digest) })
        #expect(readError.code == .invalidLayout)
        let streamError = try #require(stowageError { try layout.blobs.read(digest) { _ in } })
        #expect(streamError.code == .invalidLayout)
        let prefixError = try #require(stowageError { _ = try layout.blobs.readPrefix(digest, count: 2) })
        #expect(prefixError.code == .invalidLayout)
    }
}
