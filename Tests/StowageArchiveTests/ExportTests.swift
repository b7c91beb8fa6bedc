import Foundation
import StowageArchive
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

@Suite struct ExportTests {
    let directory = TemporaryDirectory()

    /// A layout with the fixtures: a named image, a nested index, an unnamed image
    /// and a docker-archive image.
    func makeLayout(_ name: String = "layout") throws -> Layout {
        let layout = try Layout.create(directory.child(name))
        let importer = ArchiveImporter(layout: layout)
        for fixture in ["named.tar", "multi.tar", "s390x.tar", "docker.tar"] {
            try importer.importArchive(Fixtures.path(fixture))
        }
        return layout
    }

    func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Files in `directory` whose names start with `.NAME.stowage-`: an export's temporary file.
    func temporaryFiles(for name: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix(".\(name).stowage-") }
    }

    @Test func roundTripRestoresTheSameReferencesAndDigests() throws {
        let layout = try makeLayout()
        let archive = directory.child("all.tar")
        let report = try ArchiveExporter(layout: layout).export(to: archive)
        #expect(report.images.count == 5)
        #expect(try report.blobs == LayoutSnapshot(layout.root).blobNames.count)

        let other = try Layout.create(directory.child("other"))
        try ArchiveImporter(layout: other).importArchive(archive)
        let original = try layout.readIndex().manifests
        let restored = try other.readIndex().manifests
        #expect(restored.map(\.refName) == original.map(\.refName))
        #expect(restored.map(\.digest) == original.map(\.digest))
        #expect(restored.map(\.platform) == original.map(\.platform))
        #expect(try LayoutSnapshot(other.root).blobNames == LayoutSnapshot(layout.root).blobNames)
        #expect(try LayoutVerifier(root: other.root).verify().clean)
    }

    @Test(arguments: TarWriter.Compression.allCases)
    func aSecondExportIsByteIdentical(_ compression: TarWriter.Compression) throws {
        let layout = try makeLayout()
        let first = directory.child("first-\(compression)")
        let second = directory.child("second-\(compression)")
        try ArchiveExporter(layout: layout).export(to: first, compression: compression)
        // An import that changes nothing (the image is there already) changes no byte.
        try ArchiveImporter(layout: layout).importArchive(Fixtures.path("x86_64.tar"))
        try ArchiveExporter(layout: layout).export(to: second, compression: compression)
        #expect(try bytes(first) == bytes(second))
        // Another layout built the same way exports the same bytes.
        let twin = try makeLayout("twin")
        let third = directory.child("third-\(compression)")
        try ArchiveExporter(layout: twin).export(to: third, compression: compression)
        #expect(try bytes(first) == bytes(third))
    }

    @Test func theArchiveHasBuildahsShapeAndFixedMetadata() throws {
        let layout = try makeLayout()
        let archive = directory.child("shape.tar")
        try ArchiveExporter(layout: layout).export(to: archive)
        let reader = try ArchiveReader(path: archive)
        var paths: [String] = []
        while let entry = try reader.next() {
            paths.append(entry.path)
            try reader.skip()
        }
        let blobs = Array(paths.dropFirst(2).dropLast(2))
        #expect(paths.prefix(2) == ["blobs", "blobs/sha256"])
        #expect(paths.suffix(2) == ["index.json", "oci-layout"])
        #expect(blobs == blobs.sorted())
        #expect(blobs.allSatisfy { $0.hasPrefix("blobs/sha256/") })
        let listing = try Command.run("tar", ["tvf", archive]).stdout
        #expect(listing.split(separator: "\n").allSatisfy { $0.contains("0/0") && $0.contains("1970-01-01") }, "\(listing)")
    }

    @Test func selectedReferencesCarryOnlyWhatTheyReach() throws {
        let layout = try makeLayout()
        let archive = directory.child("some.tar")
        let report = try ArchiveExporter(layout: layout).export(to: archive, references: ["team/app:multi", "team/app:multi"])
        #expect(report.images.map(\.reference) == ["team/app:multi"])
        let other = try Layout.create(directory.child("other"))
        try ArchiveImporter(layout: other).importArchive(archive)
        #expect(try other.readIndex().manifests.map(\.refName) == ["team/app:multi"])
        let graph = ContentGraph.walk(layout.blobs, roots: [ReachabilityRoot(entry: try layout.resolve("team/app:multi"))])
        #expect(try LayoutSnapshot(other.root).blobNames == Set(graph.reachable.map(\.hex)))
        #expect(report.blobs == graph.reachable.count)
    }

    @Test func imagesCanBeChosenByUserNameOrDigest() throws {
        let layout = try makeLayout()
        let archive = directory.child("by-digest.tar")
        let s390x = "sha256:c0aee484b3b138c19df4e70e3c4c8fe6f89e9c35f2de369748a21e355a34a8cd"
        // `docker.io/team/app:docker` is found as typed; the digest gives an unnamed entry.
        let report = try ArchiveExporter(layout: layout).export(to: archive, references: [s390x, "docker.io/team/app:docker"])
        #expect(report.images.map(\.reference) == [nil, "docker.io/team/app:docker"])
        #expect(report.images.map(\.digest).first == s390x)
    }

    @Test func anUnknownReferenceFailsAndWritesNothing() throws {
        let layout = try makeLayout()
        let archive = directory.child("none.tar")
        let error = try #require(throws: StowageError.self) {
            try ArchiveExporter(layout: layout).export(to: archive, references: ["team/app:nope"])
        }
        #expect(error.message.contains("team/app:nope"))
        #expect(!FileManager.default.fileExists(atPath: archive))
    }

    @Test func aCorruptBlobStopsTheExportAndLeavesNoPartialFile() throws {
        let layout = try makeLayout()
        let archive = directory.child("corrupt.tar")
        // A previous good export stays as it was.
        try ArchiveExporter(layout: layout).export(to: archive)
        let good = try bytes(archive)
        let layer = "7e0c4b90eaf6053ae6f7ca4cd3cc6af7dfe0fca9d6f27ef71e42e6dd796dc5f4"
        var content = try bytes("\(layout.blobs.directory)/\(layer)")
        content[20] ^= 0xff
        try Data(content).write(to: URL(fileURLWithPath: "\(layout.blobs.directory)/\(layer)"))
        let error = try #require(throws: StowageError.self) { try ArchiveExporter(layout: layout).export(to: archive) }
        #expect(error.code == .digestMismatch)
        #expect(error.message.contains("sha256:\(layer)"))
        #expect(try bytes(archive) == good)
        #expect(temporaryFiles(for: "corrupt.tar").isEmpty)
    }

    @Test func aMissingBlobStopsTheExport() throws {
        let layout = try makeLayout()
        try FileManager.default.removeItem(atPath: "\(layout.blobs.directory)/bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a")
        let archive = directory.child("missing.tar")
        let error = try #require(throws: StowageError.self) {
            try ArchiveExporter(layout: layout).export(to: archive, references: ["team/app:v1.0.0"])
        }
        #expect(error.message.contains("layer sha256:bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a"))
        #expect(error.message.contains("team/app:v1.0.0"))
        #expect(!FileManager.default.fileExists(atPath: archive))
        #expect(temporaryFiles(for: "missing.tar").isEmpty)
    }

    @Test func exportingWritesNothingToTheLayout() throws {
        let layout = try makeLayout()
        try FileManager.default.removeItem(atPath: layout.privateDirectory)
        let before = try LayoutSnapshot(layout.root)
        try ArchiveExporter(layout: layout).export(to: directory.child("quiet.tar.zst"), compression: .zstd)
        #expect(try LayoutSnapshot(layout.root) == before)
        #expect(!FileManager.default.fileExists(atPath: layout.privateDirectory))
    }

    @Test func anEmptyLayoutHasNothingToExport() throws {
        let layout = try Layout.create(directory.child("empty"))
        let error = try #require(throws: StowageError.self) { try ArchiveExporter(layout: layout).export(to: directory.child("e.tar")) }
        #expect(error.message.contains("nothing to export"))
    }
}
