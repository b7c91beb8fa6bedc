import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `stowage index`: the merge step of the mission, checked with real skopeo.
@Suite struct IndexCommandTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout])
    }

    struct Report: Decodable {
        struct Entry: Decodable { var digest: String; var platform: String?; var source: String }
        struct Skip: Decodable { var source: String; var reason: String }
        var tags: [String]
        var digest: String
        var entries: [Entry]
        var skipped: [Skip]
    }

    @Test func mergeStepFromBuilderArchivesIsReadBySkopeo() throws {
        let archives = Fixtures.perArchitecture.map { Fixtures.path($0.file) }
        let result = try stowage(["index", "create", "--json", "--tag", "team/app:v1.0.0", "--tag", "team/app:latest"] + archives)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(report.tags == ["team/app:v1.0.0", "team/app:latest"])

        // What `crane manifest IMG | jq -r '.manifests[].platform | "\(.os)/\(.architecture)"'` shows.
        let platforms = try stowage(["inspect", "--platforms", "team/app:latest"])
        #expect(platforms.stdout.split(separator: "\n").map(String.init) == Fixtures.perArchitecture.map(\.platform))

        let stored = try stowage(["inspect", "--raw", "team/app:v1.0.0"]).stdoutBytes
        #expect(ContentHasher.digest(of: stored).string == report.digest)
        for tag in ["team/app:v1.0.0", "team/app:latest"] {
            let raw = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):\(tag)"])
            #expect(raw.status == 0, "\(raw.stderr)")
            #expect(raw.stdoutBytes == stored)
        }
        let other = directory.child("other")
        let copy = try Command.run("skopeo", ["copy", "--all", "oci:\(layout):team/app:v1.0.0", "oci:\(other):team/app:v1.0.0"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let copied = try Command.run("skopeo", ["inspect", "--raw", "oci:\(other):team/app:v1.0.0"])
        #expect(copied.stdoutBytes == stored, "skopeo copies the index byte for byte")
        // Each child is what the builder wrote: the same manifest digest as in its archive.
        for (entry, fixture) in zip(report.entries, Fixtures.perArchitecture) {
            let inArchive = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(Fixtures.path(fixture.file))"])
            #expect(ContentHasher.digest(of: inArchive.stdoutBytes).string == entry.digest)
            #expect(entry.platform == fixture.platform)
        }
    }

    @Test func mergeRuleViolationsFailWithOneLine() throws {
        let conflict = try stowage(["index", "create", "--tag", "team/app:1", Fixtures.path("x86_64.tar"), Fixtures.path("v2-x86_64.tar")])
        #expect(conflict.status != 0)
        #expect(conflict.stderr.split(separator: "\n").count == 1)
        #expect(conflict.stderr.contains("--replace"))
        let noTag = try stowage(["index", "create", Fixtures.path("x86_64.tar")])
        #expect(noTag.status != 0)
        #expect(noTag.stderr.contains("--tag"))
        let noSource = try stowage(["index", "create", "--tag", "team/app:1"])
        #expect(noSource.status != 0)
        #expect(noSource.stderr.contains("SOURCE"))
        let badPlatform = try stowage(["index", "create", "--tag", "team/app:1", "--platform-of", "x=linux", Fixtures.path("x86_64.tar")])
        #expect(badPlatform.status != 0)
        let skipped = try stowage(["index", "create", "--tag", "team/app:1", Fixtures.path("x86_64.tar"), Fixtures.path("named.tar")])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stdout.contains("skipped \(Fixtures.path("named.tar")): same image as \(Fixtures.path("x86_64.tar"))"))
    }

    @Test func dockerFormatIndexSaysSkopeoCannotLookItUp() throws {
        let sources = [Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar")]
        let docker = try stowage(["index", "create", "--format", "docker", "--tag", "team/dl:v1"] + sources)
        #expect(docker.status == 0, "\(docker.stderr)")
        #expect(docker.stderr.contains("skopeo's oci: transport does not look up"), "\(docker.stderr)")
        #expect(docker.stderr.contains("team/dl:v1") && docker.stderr.contains("--format oci"), "\(docker.stderr)")
        #expect(!docker.stdout.contains("skopeo"), "the note goes to stderr")
        // What the note says is what skopeo 1.9.3 does, in the layout and in an export of it.
        let inLayout = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):team/dl:v1"])
        #expect(inLayout.status != 0 && inLayout.stderr.contains("no descriptor found"), "\(inLayout.stderr)")
        let archive = directory.child("dl.tar")
        #expect(try stowage(["export", "-o", archive, "team/dl:v1"]).status == 0)
        let inArchive = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(archive):team/dl:v1"])
        #expect(inArchive.status != 0 && inArchive.stderr.contains("no descriptor found"), "\(inArchive.stderr)")
        // An OCI index gets no such note.
        let oci = try stowage(["index", "create", "--tag", "team/ol:v1"] + sources)
        #expect(oci.status == 0, "\(oci.stderr)")
        #expect(!oci.stderr.contains("skopeo"), "\(oci.stderr)")
    }

    @Test func addAndRemoveMoveTheTag() throws {
        #expect(try stowage(["index", "create", "--tag", "team/app:1", Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar")]).status == 0)
        #expect(try stowage(["index", "add", "--tag", "team/app:1", Fixtures.path("s390x.tar")]).status == 0)
        #expect(try stowage(["index", "remove", "--tag", "team/app:1", "--platform", "linux/arm64"]).status == 0)
        let platforms = try stowage(["inspect", "--platforms", "team/app:1"]).stdout
        #expect(platforms == "linux/amd64\nlinux/s390x\n")
        let raw = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):team/app:1"])
        #expect(raw.status == 0)
    }

    @Test func buildersImportingWhileTheMergeRunsLoseNothing() throws {
        // Builders keep importing their own tags while merge steps build indexes of what is there.
        #expect(try stowage(["import", "--tag", "team/app:amd64", Fixtures.path("x86_64.tar")]).status == 0)
        #expect(try stowage(["import", "--tag", "team/app:arm64", Fixtures.path("aarch64.tar")]).status == 0)
        var builders: [Process] = []
        var merges: [Process] = []
        for round in 0..<4 {
            for i in 0..<4 {
                let image = TestImage.make(architecture: "riscv64", layers: [pseudoRandomBytes(100_000, seed: UInt64(round * 10 + i))])
                let archive = directory.child("b\(round)-\(i).tar")
                try ArchiveBuilder.ociArchive(image).write(to: archive)
                builders.append(try StowageBinary.start(["import", "--layout", layout, "--tag", "team/build:\(round)-\(i)", archive]))
            }
            merges.append(try StowageBinary.start([
                "index", "create", "--layout", layout, "--tag", "team/app:merge\(round)",
                "team/app:amd64", "team/app:arm64", Fixtures.path("ppc64le.tar"),
            ]))
        }
        for process in builders + merges { process.waitUntilExit() }
        #expect((builders + merges).allSatisfy { $0.terminationStatus == 0 }, "\(StowageBinary.failures(builders + merges))")
        let names = Set(try Layout.open(layout).readIndex().manifests.compactMap(\.refName))
        for round in 0..<4 {
            #expect(names.contains("team/app:merge\(round)"))
            for i in 0..<4 { #expect(names.contains("team/build:\(round)-\(i)")) }
        }
        let digests = Set(try (0..<4).map { try Layout.open(layout).resolve("team/app:merge\($0)").digest })
        #expect(digests.count == 1, "every merge of the same inputs gives the same index")
    }
}
