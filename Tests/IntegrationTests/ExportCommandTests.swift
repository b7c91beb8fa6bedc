import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `stowage export` for air-gapped transport: what goes out comes back the same,
/// the bytes are reproducible, and skopeo reads the archive.
@Suite struct ExportCommandTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String], layout: String? = nil) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout ?? self.layout])
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    func importFixtures() throws {
        _ = try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar"), Fixtures.path("docker.tar"),
                         Fixtures.path("s390x.tar")])
        _ = try stowage(["tag", "sha256:c0aee484b3b138c19df4e70e3c4c8fe6f89e9c35f2de369748a21e355a34a8cd", "registry.example.com:5000/team/app:s390x"])
    }

    /// A row of `stowage ls --json`.
    typealias Row = ImageSummary

    func list(_ layout: String) throws -> [Row] {
        try JSONDecoder().decode([Row].self, from: Data(try stowage(["ls", "--json"], layout: layout).stdout.utf8))
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func exportThenImportRestoresTheSameReferencesAndDigests() throws {
        try importFixtures()
        let archive = directory.child("transport.tar")
        let result = try stowage(["export", "-o", archive])
        #expect(result.stdout.hasPrefix("exported 5 images, "))
        let other = directory.child("air-gapped")
        _ = try stowage(["import", archive], layout: other)
        #expect(try list(other) == list(layout))
        #expect(try StowageBinary.run(["verify", "--layout", other]).status == 0)
        #expect(try LayoutSnapshot(other).blobNames == LayoutSnapshot(layout).blobNames)
        // Manifests and indexes are the exact stored bytes.
        for name in ["team/app:multi", "registry.example.com:5000/team/app:s390x", "docker.io/team/app:docker"] {
            #expect(try stowage(["inspect", "--raw", name], layout: other).stdoutBytes == stowage(["inspect", "--raw", name]).stdoutBytes)
        }
    }

    @Test func theSameLayoutExportsTheSameBytes() throws {
        try importFixtures()
        for (suffix, flags) in [("tar", [String]()), ("tar.gz", []), ("tar.zst", []), ("gz-flag.tar", ["--compress", "gzip"])] {
            let first = directory.child("first.\(suffix)")
            let second = directory.child("second.\(suffix)")
            _ = try stowage(["export", "-o", first] + flags)
            _ = try stowage(["export", "-o", second] + flags)
            #expect(try bytes(first) == bytes(second), "\(suffix)")
        }
        #expect(try bytes(directory.child("first.tar.gz")).prefix(2) == [0x1f, 0x8b])
        #expect(try bytes(directory.child("first.gz-flag.tar")).prefix(2) == [0x1f, 0x8b])
        #expect(try bytes(directory.child("first.tar.zst")).prefix(4) == [0x28, 0xb5, 0x2f, 0xfd])
        // Compressed archives import like plain ones.
        let other = directory.child("from-zstd")
        _ = try stowage(["import", directory.child("first.tar.zst")], layout: other)
        #expect(try list(other) == list(layout))
    }

    @Test func someReferencesCarryOnlyTheirBlobs() throws {
        try importFixtures()
        let archive = directory.child("some.tar")
        let result = try stowage(["export", "-o", archive, "team/app:v1.0.0", "team/app:multi", "--json"])
        struct Report: Decodable {
            struct Image: Decodable { var reference: String? }
            var images: [Image]
            var blobs: Int
            var compression: String
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(report.images.map(\.reference) == ["team/app:v1.0.0", "team/app:multi"])
        #expect(report.blobs == 11)
        #expect(report.compression == "none")
        let other = directory.child("other")
        _ = try stowage(["import", archive], layout: other)
        #expect(try list(other).map(\.reference) == ["team/app:v1.0.0", "team/app:multi"])
        #expect(try LayoutSnapshot(other).blobNames.count == 11)
    }

    @Test func skopeoCopiesOutOfTheArchive() throws {
        try importFixtures()
        for (name, flags) in [("plain.tar", [String]()), ("compressed.tar.gz", [])] {
            let archive = directory.child(name)
            _ = try stowage(["export", "-o", archive] + flags)
            let destination = directory.child("skopeo-\(name)")
            for reference in ["team/app:v1.0.0", "registry.example.com:5000/team/app:s390x"] {
                let copy = try Command.run("skopeo", ["copy", "oci-archive:\(archive):\(reference)", "oci:\(destination):\(reference)"])
                #expect(copy.status == 0, "skopeo copy \(reference) from \(name): \(copy.stderr)")
            }
            let copied = try list(destination)
            let original = try list(layout)
            for row in copied {
                #expect(original.contains { $0.reference == row.reference && $0.digest == row.digest }, "\(row)")
            }
            #expect(copied.count == 2)
            let raw = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(archive):team/app:multi"])
            #expect(raw.status == 0, "\(raw.stderr)")
            #expect(raw.stdoutBytes == (try stowage(["inspect", "--raw", "team/app:multi"]).stdoutBytes))
        }
    }

    @Test func aFailedExportLeavesNoFile() throws {
        try importFixtures()
        let blob = "\(layout)/blobs/sha256/bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a"
        var content = try bytes(blob)
        content[content.count - 1] ^= 0xff
        try Data(content).write(to: URL(fileURLWithPath: blob))
        let archive = directory.child("broken.tar")
        let result = try StowageBinary.run(["export", "-o", archive, "--layout", layout])
        #expect(result.status == 1)
        #expect(result.stderr.contains("blob sha256:bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a"))
        #expect(result.stderr.contains("corrupt"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: archive))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("stowage-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        // Images that do not reach the broken blob still export.
        _ = try stowage(["export", "-o", archive, "registry.example.com:5000/team/app:s390x"])
    }

    @Test func usageMistakesAreRefused() throws {
        try importFixtures()
        let badCompression = try StowageBinary.run(["export", "-o", directory.child("x.tar"), "--compress", "lz4", "--layout", layout])
        #expect(badCompression.status != 0)
        #expect(badCompression.stderr.contains("--compress must be gzip or zstd"))
        let noOutput = try StowageBinary.run(["export", "--layout", layout])
        #expect(noOutput.status != 0)
        #expect(noOutput.stderr.contains("-o"))
        let unknown = try StowageBinary.run(["export", "-o", directory.child("y.tar"), "team/app:nope", "--layout", layout])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("team/app:nope"))
        #expect(!FileManager.default.fileExists(atPath: directory.child("y.tar")))
    }

    @Test(arguments: ["../../../evil/app:1", "team/app:\u{1B}[31mred", "team/app:v1\nsecond"])
    func aHostileNameInTheLayoutIsRefusedBeforeAnythingIsWritten(_ hostile: String) throws {
        _ = try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")])
        // Another tool, or a hand, wrote a name that import would refuse.
        let path = "\(layout)/index.json"
        var index = try JSONCoding.decode(Index.self, from: bytes(path), what: "index.json")
        index.manifests[0].refName = hostile
        try Data(try JSONCoding.encode(index)).write(to: URL(fileURLWithPath: path))

        let out = directory.child("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let export = try StowageBinary.run(["export", "--layout", layout, "-o", "\(out)/app.tar"])
        #expect(export.status != 0)
        #expect(export.stderr.contains("not a valid name"), "\(export.stderr)")
        #expect(export.stderr.split(separator: "\n").count == 1, "\(export.stderr)")
        #expect(!export.stderr.contains("\u{1B}"), "no escape sequence reaches the terminal")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty, "nothing was written")

        let sync = try StowageBinary.run(["sync", "--layout", layout, "--dry-run", "--tls-verify=false", "127.0.0.1:9/mirror"])
        #expect(sync.status != 0)
        #expect(sync.stderr.contains("not a valid name") && sync.stderr.contains("nothing was sent"), "\(sync.stderr)")

        let listing = try stowage(["ls"])
        #expect(!listing.stdout.contains("\u{1B}"), "ls shows the name escaped: \(listing.stdout)")
        #expect(listing.stdout.split(separator: "\n").count == 2, "one line per image: \(listing.stdout)")
        if hostile.contains("\u{1B}") { #expect(listing.stdout.contains("team/app:\\u{1B}[31mred")) }
    }
}
