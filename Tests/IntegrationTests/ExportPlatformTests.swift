import Foundation
import StowageModel
import StowageTestSupport
import Testing

/// `stowage export --platform`: carry one platform of a multi-platform image.
@Suite struct ExportPlatformTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    @Test func anIndexIsReplacedByItsImageForThePlatform() throws {
        #expect(try StowageBinary.run([
            "index", "create", "--layout", layout, "--tag", "team/app:v1",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ]).status == 0)
        let archive = directory.child("arm.tar")
        let export = try StowageBinary.run(["export", "--layout", layout, "-o", archive, "--platform", "linux/arm64", "team/app:v1"])
        #expect(export.status == 0, "\(export.stderr)")
        // The arm64 image as the builder made it, under the index's name.
        let raw = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(archive):team/app:v1"])
        #expect(ContentHasher.digest(of: raw.stdoutBytes).string == "sha256:e7288e276dc3d37f7543e98ff1d662548a890d944542cf379977aa28c931912a")
        let other = directory.child("site")
        #expect(try StowageBinary.run(["import", "--layout", other, archive]).status == 0)
        #expect(try StowageBinary.run(["inspect", "--platforms", "--layout", other, "team/app:v1"]).stdout == "linux/arm64/v8\n")
        let listing = try Command.run("tar", ["-tf", archive]).stdout
        #expect(!listing.contains("340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"), "the amd64 manifest stays home")

        let missing = try StowageBinary.run(["export", "--layout", layout, "-o", directory.child("x.tar"), "--platform", "linux/s390x", "team/app:v1"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("linux/ppc64le"), "the error lists what the index has: \(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.child("x.tar")))
    }
}
