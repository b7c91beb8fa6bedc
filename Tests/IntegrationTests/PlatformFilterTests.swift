import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `--platform A --platform B` on pull, export and sync: a new index of just those
/// platforms, with a new digest, read by real skopeo; `--preserve-digests` refuses it;
/// the referrers of the platforms left out stay behind.
@Suite struct PlatformFilterTests {
    let directory = TemporaryDirectory()
    var source: String { directory.child("source") }
    let environment = ["STOWAGE_RETRY_DELAY": "0.05"]

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: environment)
    }

    /// The digests of the x86_64, aarch64 and ppc64le fixtures' manifests.
    static let amd64 = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
    static let arm64 = "sha256:e7288e276dc3d37f7543e98ff1d662548a890d944542cf379977aa28c931912a"

    /// A layout with a 3-platform index `team/app:v1` and an SBOM of the index and of
    /// each of its arm64 and ppc64le images.
    struct Sample {
        var index: Descriptor
        var indexSBOM: TestArtifact
        var armSBOM: TestArtifact
        var ppcSBOM: TestArtifact
    }

    func makeSource() throws -> Sample {
        let create = try stowage([
            "index", "create", "--layout", source, "--tag", "team/app:v1",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ])
        #expect(create.status == 0, "\(create.stderr)")
        let layout = try Layout.open(source)
        let index = try layout.resolve("team/app:v1")
        let parsed = try JSONCoding.decode(Index.self, from: layout.blobs.readDocument(index.digest), what: "index")
        let arm = try #require(parsed.manifests.first { $0.platform?.architecture == "arm64" })
        let ppc = try #require(parsed.manifests.first { $0.platform?.architecture == "ppc64le" })
        var subject = index
        subject.annotations = nil
        let sample = Sample(
            index: subject, indexSBOM: TestArtifact.sbom(of: subject, seed: 10), armSBOM: TestArtifact.sbom(of: arm, seed: 11),
            ppcSBOM: TestArtifact.sbom(of: ppc, seed: 12))
        for artifact in [sample.indexSBOM, sample.armSBOM, sample.ppcSBOM] {
            for blob in artifact.allBlobs { try layout.blobs.write(blob) }
            try layout.updateIndex(purpose: "test") { $0.addUnnamed(artifact.descriptor) }
        }
        return sample
    }

    func entries(_ root: String) throws -> [Descriptor] {
        try Layout.open(root).readIndex().manifests
    }

    struct PullReport: Decodable {
        struct Filtered: Decodable { var digest: String; var replaces: String; var platforms: [String]; var sourcePlatforms: [String] }
        var digest: String
        var platforms: [String]
        var filtered: Filtered?
    }

    @Test func pullOfTwoPlatformsMakesANewIndexThatSkopeoReads() throws {
        let registry = try RegistryServer.started(.http)
        let sample = try makeSource()
        let push = try stowage(["push", "--layout", source, "--tls-verify=false", "team/app:v1", "\(registry.host)/team/app:v1"])
        #expect(push.status == 0, "\(push.stderr)")
        let remote = "docker://\(registry.host)/team/app:v1"

        let layout = directory.child("pulled")
        let pull = try stowage([
            "pull", "--layout", layout, "--tls-verify=false", "--platform", "linux/amd64", "--platform", "linux/arm64",
            "--tag", "team/app:v1", "--json", remote,
        ])
        #expect(pull.status == 0, "\(pull.stderr)")
        let report = try JSONDecoder().decode(PullReport.self, from: Data(pull.stdout.utf8))
        let filtered = try #require(report.filtered)
        #expect(filtered.replaces == sample.index.digest.string)
        #expect(filtered.digest == report.digest && report.digest != sample.index.digest.string, "a new document, a new digest")
        #expect(filtered.platforms == ["linux/amd64", "linux/arm64/v8"] && filtered.sourcePlatforms.count == 3)
        #expect(report.platforms == ["linux/amd64", "linux/arm64/v8"])

        // The layout's index names exactly those two images, and skopeo reads it.
        let stored = try Layout.open(layout)
        let named = try stored.resolve("team/app:v1")
        #expect(named.digest.string == report.digest)
        let index = try JSONCoding.decode(Index.self, from: stored.blobs.readDocument(named.digest), what: "index")
        #expect(index.manifests.map(\.digest.string) == [Self.amd64, Self.arm64])
        let raw = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):team/app:v1"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(ContentHasher.digest(of: raw.stdoutBytes).string == report.digest)
        let copy = try Command.run("skopeo", ["copy", "--all", "oci:\(layout):team/app:v1", "oci:\(directory.child("check")):x"])
        #expect(copy.status == 0, "skopeo reads every image of it: \(copy.stderr)")
        let verify = try stowage(["verify", "--layout", layout])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        // Referrers of the kept image and of the index came; the ppc64le image's did not.
        let digests = Set(try entries(layout).map(\.digest))
        #expect(digests.contains(sample.armSBOM.digest))
        #expect(digests.contains(sample.indexSBOM.digest))
        #expect(!digests.contains(sample.ppcSBOM.digest))
        #expect(!FileManager.default.fileExists(atPath: "\(layout)/blobs/sha256/\(sample.ppcSBOM.digest.hex)"))

        // The text output says so; the same filter gives the same digest again.
        let again = try stowage([
            "pull", "--layout", directory.child("again"), "--tls-verify=false", "--platform", "linux/arm64", "--platform", "linux/amd64",
            "--tag", "team/app:v1", remote,
        ])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("filtered index \(report.digest) (2 of 3 platforms) replaces \(sample.index.digest)"), "\(again.stdout)")

        // One platform keeps the old behaviour: its image under the name, digest unchanged.
        let one = try stowage(["pull", "--layout", layout, "--tls-verify=false", "--platform", "linux/arm64", "--tag", "team/arm:1", remote])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try stored.resolve("team/arm:1").digest.string == Self.arm64)

        // --preserve-digests refuses a subset; an absent platform is named with what the index has; nothing is written.
        let refused = directory.child("refused")
        let preserve = try stowage([
            "pull", "--layout", refused, "--tls-verify=false", "--preserve-digests", "--platform", "linux/amd64", "--platform", "linux/arm64", remote,
        ])
        #expect(preserve.status != 0)
        #expect(preserve.stderr.contains("cannot preserve digests: --platform selects 2 of 3 platforms of \(registry.host)/team/app:v1"), "\(preserve.stderr)")
        let unknown = try stowage(["pull", "--layout", refused, "--tls-verify=false", "--platform", "linux/amd64", "--platform", "linux/s390x", remote])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no linux/s390x image") && unknown.stderr.contains("linux/ppc64le"), "\(unknown.stderr)")
        #expect(try entries(refused).isEmpty)
        let blobs = (try? FileManager.default.contentsOfDirectory(atPath: "\(refused)/blobs/sha256")) ?? []
        #expect(blobs.isEmpty, "nothing fetched: \(blobs)")
        // With every platform listed, the index stays as it is, and so may its digest.
        let whole = try stowage([
            "pull", "--layout", refused, "--tls-verify=false", "--preserve-digests", "--tag", "team/app:all",
            "--platform", "linux/amd64", "--platform", "linux/arm64", "--platform", "linux/ppc64le", remote,
        ])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(try Layout.open(refused).resolve("team/app:all").digest == sample.index.digest)
    }

    struct ExportReport: Decodable {
        struct Image: Decodable {
            struct Filtered: Decodable { var digest: String; var replaces: String }
            var reference: String?
            var digest: String
            var filtered: Filtered?
        }
        var images: [Image]
    }

    @Test func exportOfTwoPlatformsWritesTheNewIndexToTheArchiveOnly() throws {
        let sample = try makeSource()
        let before = try entries(source)
        let archive = directory.child("two.tar")
        let export = try stowage([
            "export", "--layout", source, "-o", archive, "--platform", "linux/amd64", "--platform", "linux/arm64", "--json", "team/app:v1",
        ])
        #expect(export.status == 0, "\(export.stderr)")
        let report = try JSONDecoder().decode(ExportReport.self, from: Data(export.stdout.utf8))
        let image = try #require(report.images.first { $0.reference == "team/app:v1" })
        #expect(image.filtered?.replaces == sample.index.digest.string)
        #expect(image.digest != sample.index.digest.string)
        #expect(try entries(source) == before, "the layout is not changed")
        #expect(!FileManager.default.fileExists(atPath: "\(source)/blobs/sha256/\(image.digest.dropFirst(7))"))

        let raw = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(archive):team/app:v1"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(ContentHasher.digest(of: raw.stdoutBytes).string == image.digest)
        let site = directory.child("site")
        #expect(try stowage(["import", "--layout", site, archive]).status == 0)
        #expect(try stowage(["inspect", "--platforms", "--layout", site, "team/app:v1"]).stdout == "linux/amd64\nlinux/arm64/v8\n")
        #expect(try stowage(["verify", "--layout", site]).status == 0)
        let digests = Set(try entries(site).map(\.digest))
        #expect(digests.contains(sample.armSBOM.digest) && digests.contains(sample.indexSBOM.digest))
        #expect(!digests.contains(sample.ppcSBOM.digest), "the ppc64le image's SBOM stays home")
        let listing = try Command.run("tar", ["-tf", archive]).stdout
        #expect(!listing.contains(sample.ppcSBOM.digest.hex))

        // The same export twice is byte-identical.
        let twice = directory.child("twice.tar")
        #expect(try stowage(["export", "--layout", source, "-o", twice, "--platform", "linux/amd64", "--platform", "linux/arm64", "team/app:v1"]).status == 0)
        #expect(FileManager.default.contents(atPath: twice) == FileManager.default.contents(atPath: archive))

        let preserve = try stowage([
            "export", "--layout", source, "-o", directory.child("x.tar"), "--preserve-digests",
            "--platform", "linux/amd64", "--platform", "linux/arm64", "team/app:v1",
        ])
        #expect(preserve.status != 0)
        #expect(preserve.stderr.contains("cannot preserve digests: --platform selects 2 of 3 platforms of team/app:v1"), "\(preserve.stderr)")
        let unknown = try stowage(["export", "--layout", source, "-o", directory.child("x.tar"), "--platform", "linux/amd64", "--platform", "linux/s390x", "team/app:v1"])
        #expect(unknown.status != 0 && unknown.stderr.contains("linux/ppc64le"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.child("x.tar")))
    }

    struct SyncReport: Decodable {
        struct Plan: Decodable {
            struct Item: Decodable {
                struct Filtered: Decodable { var digest: String; var replaces: String }
                var reference: String
                var digest: String
                var upToDate: Bool?
                var filtered: Filtered?
            }
            var items: [Item]
        }
        var plan: Plan
    }

    @Test func syncOfTwoPlatformsPushesTheFilteredIndexUnderTheName() throws {
        let registry = try RegistryServer.started(.http)
        let sample = try makeSource()
        let before = try entries(source)
        let flags = ["--platform", "linux/amd64", "--platform", "linux/arm64"]
        let preserve = try stowage(["sync", "--layout", source, "--tls-verify=false", "--preserve-digests"] + flags + [registry.host])
        #expect(preserve.status != 0)
        #expect(preserve.stderr.contains("cannot preserve digests"), "\(preserve.stderr)")
        let unknown = try stowage(["sync", "--layout", source, "--tls-verify=false", "--platform", "linux/s390x", "--platform", "linux/amd64", registry.host])
        #expect(unknown.status != 0 && unknown.stderr.contains("linux/ppc64le"), "\(unknown.stderr)")
        let empty = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/app:v1"])
        #expect(empty.status != 0, "nothing was sent")

        let sync = try stowage(["sync", "--layout", source, "--tls-verify=false", "--json"] + flags + [registry.host])
        #expect(sync.status == 0, "\(sync.stderr)")
        let item = try #require(try JSONDecoder().decode(SyncReport.self, from: Data(sync.stdout.utf8)).plan.items.first)
        #expect(item.filtered?.replaces == sample.index.digest.string)
        #expect(item.digest != sample.index.digest.string)
        #expect(try entries(source) == before, "sync does not change the layout")

        let raw = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/app:v1"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(ContentHasher.digest(of: raw.stdoutBytes).string == item.digest)
        let index = try JSONCoding.decode(Index.self, from: raw.stdoutBytes, what: "index")
        #expect(index.manifests.map(\.digest.string) == [Self.amd64, Self.arm64])
        let copy = try Command.run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(registry.host)/team/app:v1", "oci:\(directory.child("back")):x"])
        #expect(copy.status == 0, "every kept image is there: \(copy.stderr)")
        // The referrers of the kept image and of the index went; the ppc64le image's did not.
        for (artifact, present) in [(sample.armSBOM, true), (sample.indexSBOM, true), (sample.ppcSBOM, false)] {
            let head = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/app@\(artifact.digest)"])
            #expect((head.status == 0) == present, "\(artifact.digest): \(head.stderr)")
        }

        // A second sync with the same filter finds it up to date.
        let again = try stowage(["sync", "--layout", source, "--tls-verify=false", "--json"] + flags + [registry.host])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try JSONDecoder().decode(SyncReport.self, from: Data(again.stdout.utf8)).plan.items.first?.upToDate == true)
        let text = try stowage(["sync", "--layout", source, "--tls-verify=false"] + flags + [registry.host])
        #expect(text.stdout.contains("team/app:v1: filtered index \(item.digest) (2 of 3 platforms) replaces \(sample.index.digest)"), "\(text.stdout)")
    }
}
