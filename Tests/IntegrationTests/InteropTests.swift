import Foundation
import StowageModel
import StowageTestSupport
import Testing

/// What Stowage writes is read by real skopeo and umoci.
@Suite struct InteropTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: String...) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout])
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    /// Imports every fixture and names the unnamed per-architecture images.
    func importAllFixtures() throws -> [String: String] {
        var names: [String: String] = [:]
        for fixture in Fixtures.perArchitecture {
            let report = try stowage("import", "--json", Fixtures.path(fixture.file))
            let reports = try JSONDecoder().decode([Report].self, from: Data(report.stdout.utf8))
            let digest = try #require(reports.first?.images.first?.digest)
            let name = "team/app:\(fixture.platform.replacingOccurrences(of: "/", with: "-"))"
            _ = try stowage("tag", digest, name)
            names[name] = fixture.platform
        }
        for extra in ["named.tar", "multi.tar", "docker.tar", "x86_64.tar.gz", "aarch64.tar.zst", "v2-x86_64.tar"] {
            _ = try stowage("import", Fixtures.path(extra))
        }
        return names
    }

    struct Report: Decodable {
        struct Image: Decodable { var digest: String; var references: [String]; var platforms: [String] }
        var images: [Image]
    }

    @Test func skopeoInspectsEveryImportedImage() throws {
        let names = try importAllFixtures()
        for (name, platform) in names {
            let result = try Command.run("skopeo", ["inspect", "--config", "oci:\(layout):\(name)"])
            #expect(result.status == 0, "skopeo inspect \(name): \(result.stderr)")
            let config = try JSONDecoder().decode(ImageConfigView.self, from: Data(result.stdout.utf8))
            #expect([config.os, config.architecture, config.variant].compactMap { $0 }.joined(separator: "/") == platform)
        }
        for name in ["team/app:v1.0.0", "docker.io/team/app:docker", "localhost/stowage/x86_64:v1"] {
            let result = try Command.run("skopeo", ["inspect", "oci:\(layout):\(name)"])
            #expect(result.status == 0, "skopeo inspect \(name): \(result.stderr)")
        }
    }

    struct ImageConfigView: Decodable { var os: String; var architecture: String; var variant: String? }

    @Test func skopeoReadsTheExactStoredBytesAndCopiesTheIndex() throws {
        _ = try importAllFixtures()
        let raw = try stowage("inspect", "--raw", "team/app:multi").stdoutBytes
        let skopeoRaw = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):team/app:multi"])
        #expect(skopeoRaw.status == 0)
        #expect(skopeoRaw.stdoutBytes == raw)
        let copy = try Command.run("skopeo", ["copy", "--all", "oci:\(layout):team/app:multi", "oci:\(directory.child("copy")):multi"])
        #expect(copy.status == 0, "\(copy.stderr)")
    }

    @Test func umociListsAndStatsTheLayout() throws {
        let names = try importAllFixtures()
        let list = try Command.run("umoci", ["ls", "--layout", layout])
        #expect(list.status == 0, "\(list.stderr)")
        let listed = Set(list.stdout.split(separator: "\n").map(String.init))
        #expect(listed.isSuperset(of: Set(names.keys)))
        #expect(listed.contains("team/app:v1.0.0"))
        for name in names.keys {
            let stat = try Command.run("umoci", ["stat", "--image", "\(layout):\(name)"])
            #expect(stat.status == 0, "umoci stat \(name): \(stat.stderr)")
        }
    }

    @Test func stowageReadsALayoutWrittenBySkopeo() throws {
        let other = directory.child("skopeo-layout")
        let copy = try Command.run("skopeo", ["copy", "oci-archive:\(Fixtures.path("named.tar"))", "oci:\(other):team/app:v1"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let list = try StowageBinary.run(["ls", "--json", "--layout", other])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("team/app:v1"))
        #expect(list.stdout.contains("linux/amd64"))
        #expect(!FileManager.default.fileExists(atPath: "\(other)/.stowage"), "reading writes nothing")
    }
}
