import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// `inspect`, `ls` and `digest` of docker:// references against Debian's real registry,
/// behind basic auth, checked against the layout's bytes and against skopeo.
@Suite struct RemoteReadTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: environment)
    }

    /// A guarded registry holding the 3-platform index under several tags.
    func registryWithIndex() throws -> RegistryServer {
        let registry = try RegistryServer.started(.basicAuth(user: "reader", password: "pw", tls: nil))
        let made = try stowage([
            "index", "create", "--layout", layout, "--tag", "team/app:v1",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let destinations = ["v1", "v1.1", "v2", "latest", "stable"].map { "\(registry.host)/team/app:\($0)" }
        let pushed = try stowage(["push", "--layout", layout, "--tls-verify=false", "--creds", "reader:pw", "team/app:v1"] + destinations)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        return registry
    }

    let auth = ["--tls-verify=false", "--creds", "reader:pw"]

    @Test func inspectReadsTheRegistryAsTheLayoutDoes() throws {
        let registry = try registryWithIndex()
        let remote = "docker://\(registry.host)/team/app:v1"
        let raw = try stowage(["inspect", "--raw"] + auth + [remote])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(raw.stdoutBytes == (try stowage(["inspect", "--raw", "--layout", layout, "team/app:v1"])).stdoutBytes, "the exact index bytes")
        let platforms = try stowage(["inspect", "--platforms"] + auth + [remote])
        #expect(platforms.stdout == "linux/amd64\nlinux/arm64/v8\nlinux/ppc64le\n")

        // One platform's image, and its config, from the registry and from the layout alike.
        for (where_, arguments) in [("registry", auth + [remote]), ("layout", ["--layout", layout, "team/app:v1"])] {
            let child = try stowage(["inspect", "--raw", "--platform", "linux/arm64"] + arguments)
            #expect(child.status == 0, "\(where_): \(child.stderr)")
            let childDigest = ContentHasher.digest(of: child.stdoutBytes)
            let index = try JSONCoding.decode(Index.self, from: raw.stdoutBytes, what: "index")
            #expect(index.manifests.contains { $0.digest == childDigest && $0.platform?.architecture == "arm64" }, "\(where_): the arm64 image")
            let skopeoChild = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "reader:pw", "docker://\(registry.host)/team/app@\(childDigest)"])
            #expect(skopeoChild.stdoutBytes == child.stdoutBytes, "\(where_): byte for byte")
            let config = try stowage(["inspect", "--raw", "--config", "--platform", "linux/arm64"] + arguments)
            #expect(config.status == 0, "\(where_): \(config.stderr)")
            let skopeoConfig = try Command.run(
                "skopeo", ["inspect", "--config", "--raw", "--override-arch", "arm64", "--override-variant", "v8", "--tls-verify=false", "--creds", "reader:pw", "docker://\(registry.host)/team/app:v1"])
            #expect(skopeoConfig.status == 0, "\(skopeoConfig.stderr)")
            #expect(config.stdoutBytes == skopeoConfig.stdoutBytes, "\(where_): the config skopeo reads")
            let pretty = try stowage(["inspect", "--config", "--platform", "linux/ppc64le"] + arguments)
            #expect(pretty.stdout.contains("\"architecture\" : \"ppc64le\""), "\(where_): \(pretty.stdout)")
        }

        let missing = try stowage(["inspect", "--platform", "linux/s390x"] + auth + [remote])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("has no linux/s390x image (it has: linux/amd64, linux/arm64/v8, linux/ppc64le)"), "\(missing.stderr)")
        let indexConfig = try stowage(["inspect", "--config"] + auth + [remote])
        #expect(indexConfig.status != 0)
        #expect(indexConfig.stderr.contains("is an index of 3 platforms") && indexConfig.stderr.contains("--platform"), "\(indexConfig.stderr)")
        let anonymous = try stowage(["inspect", "--tls-verify=false", remote])
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains(registry.host) && anonymous.stderr.contains("--creds"), "\(anonymous.stderr)")
    }

    @Test func lsListsEveryPageOfTags() throws {
        let registry = try registryWithIndex()
        // Two tags a page: the Link header is followed to the end.
        let listed = try stowage(["ls"] + auth + ["docker://\(registry.host)/team/app"], environment: ["STOWAGE_TAG_PAGE_SIZE": "2"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout == "latest\nstable\nv1\nv1.1\nv2\n")
        let json = try stowage(["ls", "--json"] + auth + ["docker://\(registry.host)/team/app"])
        struct Tags: Decodable {
            var name: String
            var tags: [String]
        }
        let decoded = try JSONDecoder().decode(Tags.self, from: Data(json.stdout.utf8))
        #expect(decoded.name == "\(registry.host)/team/app" && decoded.tags == ["latest", "stable", "v1", "v1.1", "v2"])
        let skopeo = try Command.run("skopeo", ["list-tags", "--tls-verify=false", "--creds", "reader:pw", "docker://\(registry.host)/team/app"])
        #expect(skopeo.stdout.contains("\"v1.1\""), "skopeo sees the same tags: \(skopeo.stdout)")
        let absent = try stowage(["ls"] + auth + ["docker://\(registry.host)/team/none"])
        #expect(absent.status != 0)
        #expect(absent.stderr.contains("has no repository team/none"), "\(absent.stderr)")
        let tagged = try stowage(["ls"] + auth + ["docker://\(registry.host)/team/app:v1"])
        #expect(tagged.status != 0)
        #expect(tagged.stderr.contains("give the repository alone"), "\(tagged.stderr)")
    }

    @Test func digestOfALayoutNameAndOfARegistryTagAgree() throws {
        let registry = try registryWithIndex()
        let local = try stowage(["digest", "--layout", layout, "team/app:v1"])
        #expect(local.status == 0, "\(local.stderr)")
        let remote = try stowage(["digest"] + auth + ["docker://\(registry.host)/team/app:stable"])
        #expect(remote.status == 0, "\(remote.stderr)")
        #expect(remote.stdout == local.stdout)
        let skopeo = try Command.run("skopeo", ["inspect", "--format", "{{.Digest}}", "--tls-verify=false", "--creds", "reader:pw", "docker://\(registry.host)/team/app:stable"])
        #expect(skopeo.stdout == local.stdout)
        let byDigest = try stowage(["digest"] + auth + ["docker://\(registry.host)/team/app@\(local.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"])
        #expect(byDigest.stdout == local.stdout)
        let gone = try stowage(["digest"] + auth + ["docker://\(registry.host)/team/app:nope"])
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("team/app:nope") && gone.stderr.contains("404"), "\(gone.stderr)")
    }
}
