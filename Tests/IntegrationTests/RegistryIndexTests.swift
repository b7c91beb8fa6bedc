import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// `index create --tag docker://…` against Debian's real registry: the merge step done
/// where the per-architecture images already are, checked with the registry's access
/// log and real skopeo.
@Suite struct RegistryIndexTests {
    let directory = TemporaryDirectory()
    /// The builders' layout: each per-architecture image under its own name.
    var build: String { directory.child("build") }
    /// Fast retries; and no layout unless a test gives one.
    let environment = ["STOWAGE_RETRY_DELAY": "0.05", "STOWAGE_LAYOUT": ""]

    func stowage(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: environment.merging(extra) { _, new in new })
    }

    /// What the builders left in the registry: `team/app:amd64`, `:arm64`, `:amd64-v2` (another
    /// amd64 image), `:trio` (an index of amd64, arm64 and ppc64le) and `other/s390x:v1`.
    func registryWithImages(_ mode: RegistryServer.Mode = .http, flags: [String] = ["--tls-verify=false"]) throws -> RegistryServer {
        let registry = try RegistryServer.started(mode)
        for (file, name) in [("x86_64.tar", "amd64"), ("aarch64.tar", "arm64"), ("v2-x86_64.tar", "amd64-v2"), ("s390x.tar", "s390x")] {
            let imported = try stowage(["import", "--layout", build, "--tag", "team/app:\(name)", Fixtures.path(file)])
            #expect(imported.status == 0, "\(imported.stderr)")
        }
        let trio = try stowage([
            "index", "create", "--layout", build, "--tag", "team/app:trio",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ])
        #expect(trio.status == 0, "\(trio.stderr)")
        for (name, destination) in [
            ("amd64", "team/app:amd64"), ("arm64", "team/app:arm64"), ("amd64-v2", "team/app:amd64-v2"), ("trio", "team/app:trio"),
            ("s390x", "other/s390x:v1"),
        ] {
            let pushed = try stowage(["push", "--layout", build] + flags + ["team/app:\(name)", "\(registry.host)/\(destination)"])
            #expect(pushed.status == 0, "\(pushed.stderr)")
        }
        return registry
    }

    /// The image named `name` in the builders' layout.
    func manifest(_ name: String) throws -> (digest: Digest, manifest: Manifest) {
        let bytes = try stowage(["inspect", "--raw", "--layout", build, name]).stdoutBytes
        return (ContentHasher.digest(of: bytes), try JSONCoding.decode(Manifest.self, from: bytes, what: name))
    }

    /// The requests the registry logged after `mark` (a length of its log), once every
    /// request made before this call is in the log: a request of its own is logged last.
    func requests(_ registry: RegistryServer, since mark: Int) throws -> [(method: String, path: String)] {
        let sentinel = "/v2/sentinel-\(UUID().uuidString)/tags/list"
        _ = try Command.run("curl", ["-s", "-o", "/dev/null", "\(registry.url)\(sentinel)"])
        var log = registry.log
        for _ in 0..<200 where !log.contains(sentinel) {
            Thread.sleep(forTimeInterval: 0.05)
            log = registry.log
        }
        #expect(log.contains(sentinel), "the registry logs its requests")
        let recent = String(decoding: Array(log.utf8).dropFirst(mark), as: UTF8.self)
        return recent.split(separator: "\n").compactMap { line in
            guard let quote = line.firstIndex(of: "\"") else { return nil }
            let request = line[line.index(after: quote)...].split(separator: " ", maxSplits: 2)
            guard request.count >= 2, request[1].hasPrefix("/v2/") else { return nil }
            return (String(request[0]), String(request[1]))
        }
    }

    struct Report: Decodable {
        struct Entry: Decodable {
            var source: String
            var digest: String
            var platform: String?
        }
        struct Skip: Decodable {
            var source: String
            var reason: String
        }
        struct Summary: Decodable {
            var blobsSent: Int
            var blobsPresent: Int
            var blobsMounted: Int
            var blobsReceived: Int
            var manifests: Int
        }
        var tags: [String]
        var digest: String
        var entries: [Entry]
        var skipped: [Skip]
        var removed: [Entry]
        var warnings: [String]
        var summary: Summary?
        var layoutNames: [String]?
    }

    func report(_ result: CommandResult) throws -> Report {
        try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
    }

    /// `skopeo inspect --raw` of `reference`, with its digest.
    func skopeoRaw(_ reference: String, flags: [String] = ["--tls-verify=false"]) throws -> (status: Int32, digest: Digest, bytes: [UInt8]) {
        let raw = try Command.run("skopeo", ["inspect", "--raw"] + flags + ["docker://\(reference)"])
        return (raw.status, ContentHasher.digest(of: raw.stdoutBytes), raw.stdoutBytes)
    }

    @Test func theMergeReadsNoLayerAndEveryTagHoldsTheIndex() throws {
        let registry = try registryWithImages()
        let amd64 = try manifest("team/app:amd64")
        let arm64 = try manifest("team/app:arm64")
        let configs = Set([amd64.manifest.config.digest, arm64.manifest.config.digest].map(\.string))
        let repository = "docker://\(registry.host)/team/app"
        let temporary = directory.child("tmp")
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let mark = registry.log.utf8.count
        let result = try stowage(
            [
                "index", "create", "--json", "--tls-verify=false", "--tag", "\(repository):multi", "--tag", "\(repository):latest",
                "\(repository):amd64", "\(repository):arm64", "\(repository):amd64", "\(repository)@\(amd64.digest)",
            ], environment: ["TMPDIR": temporary])
        #expect(result.status == 0, "\(result.stderr)")
        let made = try report(result)
        #expect(made.entries.map(\.platform) == ["linux/amd64", "linux/arm64/v8"])
        #expect(made.entries.map(\.digest) == [amd64.digest.string, arm64.digest.string])
        #expect(made.skipped.map(\.reason) == ["duplicate source", "same image as \(repository):amd64"])
        #expect(made.tags == ["\(registry.host)/team/app:multi", "\(registry.host)/team/app:latest"])
        #expect(made.summary?.manifests == 2 && made.summary?.blobsSent == 0 && made.summary?.blobsMounted == 0)
        #expect(made.layoutNames == nil)

        // Manifests and the two configs are read; no layer is.
        let logged = try requests(registry, since: mark)
        let blobReads = logged.filter { $0.method == "GET" && $0.path.contains("/blobs/") }
        #expect(!blobReads.isEmpty, "the configs are read: \(logged)")
        for read in blobReads {
            #expect(configs.contains(String(read.path.split(separator: "/").last!)), "only configs are read, not \(read.path)")
        }
        #expect(logged.filter { $0.method == "PUT" }.map(\.path) == ["/v2/team/app/manifests/multi", "/v2/team/app/manifests/latest"])

        // Every tag holds exactly the index of the report, and its platforms are the builders'.
        for tag in ["multi", "latest"] {
            let raw = try skopeoRaw("\(registry.host)/team/app:\(tag)")
            #expect(raw.status == 0)
            #expect(raw.digest.string == made.digest, "team/app:\(tag) holds the index of the report")
            let index = try JSONCoding.decode(Index.self, from: raw.bytes, what: tag)
            #expect(index.mediaType == .ociIndex)
            #expect(index.manifests.map { $0.platform?.description } == ["linux/amd64", "linux/arm64/v8"])
        }
        let text = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "\(repository):amd64", "\(repository):arm64"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("created \(registry.host)/team/app:multi -> \(made.digest) (oci-index, 2 platforms)"), "\(text.stdout)")
        #expect(text.stdout.contains("0 blobs sent"), "\(text.stdout)")
        // Without a layout nothing local is written, not even a temporary file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory.child("layout")))
    }

    @Test func anIndexSourceAddsItsEntriesAndAPlatformConflictNeedsReplace() throws {
        let registry = try registryWithImages()
        let repository = "docker://\(registry.host)/team/app"
        let v2 = try manifest("team/app:amd64-v2")
        let conflict = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):both", "\(repository):trio", "\(repository):amd64-v2"])
        #expect(conflict.status != 0)
        #expect(conflict.stderr.contains("are both linux/amd64; pass --replace"), "\(conflict.stderr)")
        #expect(try skopeoRaw("\(registry.host)/team/app:both").status != 0, "nothing was PUT")

        let replaced = try stowage([
            "index", "create", "--json", "--replace", "--tls-verify=false", "--tag", "\(repository):both", "\(repository):trio", "\(repository):amd64-v2",
        ])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let made = try report(replaced)
        #expect(made.entries.map(\.platform) == ["linux/arm64/v8", "linux/ppc64le", "linux/amd64"])
        #expect(made.entries.last?.digest == v2.digest.string)
        #expect(made.removed.map(\.platform) == ["linux/amd64"])
        #expect(try skopeoRaw("\(registry.host)/team/app:both").digest.string == made.digest)

        // Docker format, annotations and --platform-of as in the layout.
        let annotated = try stowage([
            "index", "create", "--json", "--tls-verify=false", "--annotation", "org.example.release=1", "--platform-of", "\(repository):amd64=linux/amd64/v3",
            "--tag", "\(repository):annotated", "\(repository):amd64", "\(repository):arm64",
        ])
        #expect(annotated.status == 0, "\(annotated.stderr)")
        let index = try JSONCoding.decode(Index.self, from: try skopeoRaw("\(registry.host)/team/app:annotated").bytes, what: "annotated")
        #expect(index.annotations == ["org.example.release": "1"])
        #expect(index.manifests.first?.platform?.description == "linux/amd64/v3")
        let docker = try stowage([
            "index", "create", "--tls-verify=false", "--format", "docker", "--annotation", "a=b", "--tag", "\(repository):docker", "\(repository):amd64",
        ])
        #expect(docker.status != 0)
        #expect(docker.stderr.contains("use --format oci to annotate"), "\(docker.stderr)")
    }

    @Test func aSourceOfAnotherRepositoryIsMountedNotCopied() throws {
        let registry = try registryWithImages(.basicAuth(user: "ci", password: "pw", tls: nil), flags: ["--tls-verify=false", "--creds", "ci:pw"])
        let s390x = try manifest("team/app:s390x")
        let mark = registry.log.utf8.count
        let result = try stowage([
            "index", "create", "--json", "--tls-verify=false", "--creds", "ci:pw", "--tag", "docker://\(registry.host)/team/app:multi",
            "docker://\(registry.host)/team/app:amd64", "docker://\(registry.host)/other/s390x:v1",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let made = try report(result)
        #expect(made.warnings.contains { $0.contains("other/s390x:v1 is not in \(registry.host)/team/app") && $0.contains("mounted there from other/s390x") }, "\(made.warnings)")
        // The s390x config and top layer are mounted; the shared base layer is there already.
        #expect(made.summary?.blobsMounted == 2 && made.summary?.blobsPresent == 1 && made.summary?.blobsSent == 0, "\(String(describing: made.summary))")
        let logged = try requests(registry, since: mark)
        let layers = Set(s390x.manifest.layers.map(\.digest.string))
        #expect(!logged.contains { $0.method == "GET" && layers.contains(String($0.path.split(separator: "/").last!)) }, "no layer is read")
        #expect(logged.contains { $0.method == "POST" && $0.path.contains("mount=") && $0.path.contains("from=other/s390x") })
        #expect(logged.contains { $0.method == "PUT" && $0.path == "/v2/team/app/manifests/\(s390x.digest)" }, "the child goes by digest")

        // The target repository serves the image and its layers.
        for layer in s390x.manifest.layers {
            let head = try Command.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "-u", "ci:pw", "\(registry.url)/v2/team/app/blobs/\(layer.digest)"])
            #expect(head.stdout == "200", "team/app serves layer \(layer.digest)")
        }
        let flags = ["--tls-verify=false", "--creds", "ci:pw"]
        #expect(try skopeoRaw("\(registry.host)/team/app:multi", flags: flags).digest.string == made.digest)
        let copied = try Command.run(
            "skopeo", ["copy", "--all", "--src-tls-verify=false", "--src-creds", "ci:pw", "docker://\(registry.host)/team/app:multi", "oci:\(directory.child("back")):x"])
        #expect(copied.status == 0, "skopeo copies the whole index back: \(copied.stderr)")
        // The text report prints the warning on stderr.
        let again = try stowage([
            "index", "create", "--tls-verify=false", "--creds", "ci:pw", "--tag", "docker://\(registry.host)/team/app:multi",
            "docker://\(registry.host)/team/app:amd64", "docker://\(registry.host)/other/s390x:v1",
        ])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("warning: docker://\(registry.host)/other/s390x:v1 is not in"), "\(again.stderr)")
        #expect(again.stdout.contains("0 blobs sent"), "\(again.stdout)")
    }

    @Test func aSourceOfAnotherRegistryIsCopiedLayersIncluded() throws {
        let registry = try registryWithImages()
        let target = try RegistryServer.started(.http)
        let arm64 = try manifest("team/app:arm64")
        let result = try stowage([
            "index", "create", "--json", "--tls-verify=false", "--tag", "docker://\(target.host)/team/app:multi",
            "docker://\(registry.host)/team/app:amd64", "docker://\(registry.host)/team/app:arm64",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let made = try report(result)
        #expect(made.warnings.contains { $0.contains("layers included, are copied there from \(registry.host)") }, "\(made.warnings)")
        // Two configs, two top layers and the shared base layer, each fetched and sent once.
        #expect(made.summary?.blobsSent == 5 && made.summary?.blobsReceived == 5, "\(String(describing: made.summary))")
        #expect(try skopeoRaw("\(target.host)/team/app:multi").digest.string == made.digest)
        #expect(try skopeoRaw("\(target.host)/team/app@\(arm64.digest)").status == 0)
        let copied = try Command.run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(target.host)/team/app:multi", "oci:\(directory.child("back")):x"])
        #expect(copied.status == 0, "\(copied.stderr)")
    }

    @Test func withALayoutTheIndexIsKeptThereWhole() throws {
        let registry = try registryWithImages()
        let repository = "docker://\(registry.host)/team/app"
        // The builders' layout has every blob already: no layer is read.
        let mark = registry.log.utf8.count
        let kept = try stowage([
            "index", "create", "--json", "--tls-verify=false", "--layout", build, "--tag", "\(repository):multi", "--tag", "\(repository):latest",
            "\(repository):amd64", "\(repository):arm64",
        ])
        #expect(kept.status == 0, "\(kept.stderr)")
        let made = try report(kept)
        #expect(made.layoutNames == ["\(registry.host)/team/app:multi", "\(registry.host)/team/app:latest"])
        #expect(made.summary?.blobsReceived == 0)
        let amd64 = try manifest("team/app:amd64")
        let layers = Set(amd64.manifest.layers.map(\.digest.string))
        #expect(!(try requests(registry, since: mark)).contains { $0.method == "GET" && layers.contains(String($0.path.split(separator: "/").last!)) })
        for name in made.layoutNames ?? [] {
            #expect(try stowage(["digest", "--layout", build, name]).stdout == made.digest + "\n")
        }
        let verified = try stowage(["verify", "--layout", build])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")

        // A new layout gets the whole image, so that it verifies and pushes like any other.
        let fresh = directory.child("fresh")
        let whole = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "\(repository):amd64", "\(repository):arm64"],
                                environment: ["STOWAGE_LAYOUT": fresh])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stdout.contains("kept in layout ") && whole.stdout.contains(" as \(registry.host)/team/app:multi\n"), "\(whole.stdout)")
        #expect(try stowage(["verify", "--layout", fresh]).status == 0)
        let platforms = try stowage(["inspect", "--platforms", "--layout", fresh, "\(registry.host)/team/app:multi"])
        #expect(platforms.stdout == "linux/amd64\nlinux/arm64/v8\n")
        let pushed = try stowage(["push", "--layout", fresh, "--tls-verify=false", "\(registry.host)/team/app:multi", "\(registry.host)/again/app:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
    }

    @Test func aMissingSourceOrABlobFailsAndNothingIsPut() throws {
        let registry = try registryWithImages()
        let repository = "docker://\(registry.host)/team/app"
        let amd64 = try manifest("team/app:amd64")
        let mark = registry.log.utf8.count
        let missing = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "\(repository):amd64", "\(repository):nope"])
        #expect(missing.status != 0)
        #expect(missing.stderr == "stowage: error: SOURCE '\(repository):nope' does not exist: registry \(registry.host) has no manifest team/app:nope\n")
        let layer = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "\(repository)@\(amd64.manifest.layers[0].digest)"])
        #expect(layer.status != 0)
        #expect(layer.stderr.contains("is a blob (a layer or config) of \(registry.host)/team/app, not an image manifest or index"), "\(layer.stderr)")
        let unknown = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "docker://\(registry.host)/team/none:v1"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("SOURCE 'docker://\(registry.host)/team/none:v1' does not exist"), "\(unknown.stderr)")
        let writes = try requests(registry, since: mark).filter { ["PUT", "POST", "PATCH"].contains($0.method) }
        #expect(writes.isEmpty, "nothing is written: \(writes)")
        #expect(try skopeoRaw("\(registry.host)/team/app:multi").status != 0)

        // Usage errors: layout and registry tags mixed; a layout SOURCE for a registry index.
        let mixed = try stowage(["index", "create", "--tag", "team/app:v1", "--tag", "\(repository):multi", "\(repository):amd64"])
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("give only docker:// tags"), "\(mixed.stderr)")
        let amend = try stowage(["index", "add", "--layout", build, "--tag", "\(repository):multi", "\(repository):amd64"])
        #expect(amend.status == 2)
        #expect(amend.stderr.contains("only `stowage index create` builds an index there"), "\(amend.stderr)")
        let local = try stowage(["index", "create", "--tls-verify=false", "--tag", "\(repository):multi", "team/app:amd64"])
        #expect(local.status == 2)
        #expect(local.stderr.contains("SOURCE 'team/app:amd64' is not docker://"), "\(local.stderr)")
        let remoteInLayout = try stowage(["index", "create", "--layout", build, "--tag", "team/app:multi", "\(repository):amd64"])
        #expect(remoteInLayout.status == 2)
        #expect(remoteInLayout.stderr.contains("docker:// --tag"), "\(remoteInLayout.stderr)")
    }
}
