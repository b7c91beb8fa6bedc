import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Push, sync and pull against Debian's real registry (distribution), in each of
/// its security modes, checked with real skopeo.
@Suite struct RegistryTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }
    /// Fast retries, so fault tests do not sleep for long.
    let environment = ["STOWAGE_RETRY_DELAY": "0.05"]

    func stowage(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: environment.merging(extra) { _, new in new })
    }

    /// A layout holding a 3-platform index under two tags, as the merge step leaves it.
    func makeLayout() throws {
        let result = try stowage([
            "index", "create", "--layout", layout, "--tag", "team/app:v1.0.0", "--tag", "team/app:latest",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func stored(_ query: String) throws -> [UInt8] {
        try stowage(["inspect", "--raw", "--layout", layout, query]).stdoutBytes
    }

    /// `skopeo inspect --raw` of every tag and child equals the layout's stored bytes.
    func expectRegistryHoldsTheIndex(_ host: String, repository: String, tags: [String], skopeoFlags: [String]) throws {
        let index = try stored("team/app:v1.0.0")
        for tag in tags {
            let raw = try Command.run("skopeo", ["inspect", "--raw"] + skopeoFlags + ["docker://\(host)/\(repository):\(tag)"])
            #expect(raw.status == 0, "skopeo inspect \(tag): \(raw.stderr)")
            #expect(raw.stdoutBytes == index, "\(repository):\(tag) holds the exact index bytes")
        }
        let parsed = try JSONCoding.decode(Index.self, from: index, what: "index")
        for child in parsed.manifests {
            let raw = try Command.run("skopeo", ["inspect", "--raw"] + skopeoFlags + ["docker://\(host)/\(repository)@\(child.digest)"])
            #expect(raw.status == 0, "\(raw.stderr)")
            #expect(raw.stdoutBytes == (try stored(child.digest.string)))
        }
    }

    struct PushReport: Decodable {
        struct Summary: Decodable {
            var blobsSent: Int
            var blobsPresent: Int
            var blobsMounted: Int
            var manifests: Int
        }
        var summary: Summary
    }

    @Test func plainHTTPPushIsReadBySkopeo() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        let push = try stowage([
            "push", "--layout", layout, "--tls-verify=false", "--json", "team/app:v1.0.0",
            "\(registry.host)/team/app:v1.0.0", "\(registry.host)/team/app:latest", "\(registry.host)/mirror/app:v1.0.0",
        ])
        #expect(push.status == 0, "\(push.stderr)")
        let report = try JSONDecoder().decode(PushReport.self, from: Data(push.stdout.utf8))
        #expect(report.summary.blobsSent == 7, "3 configs, 3 top layers, 1 shared base layer, each sent once")
        #expect(report.summary.blobsMounted == 7, "the second repository mounts what the first received")
        try expectRegistryHoldsTheIndex(registry.host, repository: "team/app", tags: ["v1.0.0", "latest"], skopeoFlags: ["--tls-verify=false"])
        try expectRegistryHoldsTheIndex(registry.host, repository: "mirror/app", tags: ["v1.0.0"], skopeoFlags: ["--tls-verify=false"])
        // skopeo copies it all back, and the platforms are the builders'.
        let copy = try Command.run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(registry.host)/team/app:v1.0.0", "oci:\(directory.child("back")):x"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let platforms = try stowage(["inspect", "--platforms", "--layout", directory.child("back"), "x"])
        #expect(platforms.stdout == "linux/amd64\nlinux/arm64/v8\nlinux/ppc64le\n")
        // A plain-HTTP registry is refused while certificates are checked.
        let strict = try stowage(["push", "--layout", layout, "team/app:v1.0.0", "\(registry.host)/team/app:strict"])
        #expect(strict.status != 0)
        #expect(strict.stderr.contains(registry.host) && strict.stderr.contains("--tls-verify=false"), "\(strict.stderr)")
    }

    @Test func tlsWithCAFileOrCertDirAndRefusedWithout() throws {
        let ca = try TestCertificateAuthority()
        let registry = try RegistryServer.started(.tls(ca))
        try makeLayout()
        let refused = try stowage(["push", "--layout", layout, "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("certificate") && refused.stderr.contains("--ca-file"), "\(refused.stderr)")
        let withCAFile = try stowage(["push", "--layout", layout, "--ca-file", ca.caCertificate, "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(withCAFile.status == 0, "\(withCAFile.stderr)")
        let certDir = try ca.makeCertificateDirectory(at: directory.child("certs"))
        let withCertDir = try stowage(["push", "--layout", layout, "--cert-dir", certDir, "team/app:v1.0.0", "\(registry.host)/team/app:latest"])
        #expect(withCertDir.status == 0, "\(withCertDir.stderr)")
        try expectRegistryHoldsTheIndex(registry.host, repository: "team/app", tags: ["v1.0.0", "latest"], skopeoFlags: ["--cert-dir", certDir])
        let skipVerify = try stowage(["push", "--layout", layout, "--tls-verify=false", "team/app:v1.0.0", "\(registry.host)/team/app:insecure"])
        #expect(skipVerify.status == 0, "\(skipVerify.stderr)")
    }

    @Test func mutualTLSUsesTheClientCertificateOfTheCertDir() throws {
        let ca = try TestCertificateAuthority()
        let registry = try RegistryServer.started(.mutualTLS(ca))
        try makeLayout()
        let certDir = try ca.makeCertificateDirectory(at: directory.child("certs"))
        let push = try stowage(["push", "--layout", layout, "--cert-dir", certDir, "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(push.status == 0, "\(push.stderr)")
        let withoutClient = try stowage(["push", "--layout", layout, "--ca-file", ca.caCertificate, "team/app:v1.0.0", "\(registry.host)/team/app:x"])
        #expect(withoutClient.status != 0)
    }

    @Test func basicAuthFromCredsAuthfileAndCredentialHelper() throws {
        let registry = try RegistryServer.started(.basicAuth(user: "builder", password: "s3cret", tls: nil))
        try makeLayout()
        let anonymous = try stowage(["push", "--layout", layout, "--tls-verify=false", "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains(registry.host), "\(anonymous.stderr)")

        let wrong = try stowage(["push", "--layout", layout, "--tls-verify=false", "--creds", "builder:wrong", "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains(registry.host) && wrong.stderr.contains("401"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("wrong"), "the password never appears in errors")

        let creds = try stowage(["push", "--layout", layout, "--tls-verify=false", "--creds", "builder:s3cret", "team/app:v1.0.0", "\(registry.host)/team/app:creds"])
        #expect(creds.status == 0, "\(creds.stderr)")

        // An auth file in docker's config.json shape, given with --authfile and found through DOCKER_CONFIG.
        let auth = Data("builder:s3cret".utf8).base64EncodedString()
        let dockerConfig = directory.child("docker")
        try FileManager.default.createDirectory(atPath: dockerConfig, withIntermediateDirectories: true)
        try Data(#"{"auths":{"http://\#(registry.host)":{"auth":"\#(auth)"}}}"#.utf8).write(to: URL(fileURLWithPath: "\(dockerConfig)/config.json"))
        let authfile = try stowage(["push", "--layout", layout, "--tls-verify=false", "--authfile", "\(dockerConfig)/config.json", "team/app:v1.0.0", "\(registry.host)/team/app:authfile"])
        #expect(authfile.status == 0, "\(authfile.stderr)")
        let fromEnvironment = try stowage(
            ["push", "--layout", layout, "--tls-verify=false", "team/app:v1.0.0", "\(registry.host)/team/app:env"],
            environment: ["DOCKER_CONFIG": dockerConfig, "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": "", "HOME": directory.path])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")

        // A credential helper on PATH, named by credHelpers.
        let bin = directory.child("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let helper = "\(bin)/docker-credential-stowagetest"
        try Data("#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"builder\\\",\\\"Secret\\\":\\\"s3cret\\\"}\"\n".utf8)
            .write(to: URL(fileURLWithPath: helper))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: helper)
        let helperConfig = directory.child("helper.json")
        try Data(#"{"credHelpers":{"\#(registry.host)":"stowagetest"}}"#.utf8).write(to: URL(fileURLWithPath: helperConfig))
        let path = "\(bin):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"
        let viaHelper = try stowage(
            ["push", "--layout", layout, "--tls-verify=false", "--authfile", helperConfig, "team/app:v1.0.0", "\(registry.host)/team/app:helper"],
            environment: ["PATH": path])
        #expect(viaHelper.status == 0, "\(viaHelper.stderr)")
        try expectRegistryHoldsTheIndex(
            registry.host, repository: "team/app", tags: ["creds", "authfile", "env", "helper"],
            skopeoFlags: ["--tls-verify=false", "--creds", "builder:s3cret"])
    }

    @Test func tokenAuthWithCachedTokensAndIdentityTokens() throws {
        let tokens = try TokenServer(users: ["builder": "s3cret"])
        let registry = try RegistryServer.started(.tokenAuth(tokens, tls: nil))
        try makeLayout()
        let push = try stowage(["push", "--layout", layout, "--tls-verify=false", "--creds", "builder:s3cret", "team/app:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(push.status == 0, "\(push.stderr)")
        // One token for the repository, reused for the 7 blobs and 4 manifests.
        #expect(tokens.totalTokenRequests == 1, "one token for the repository, cached: \(tokens.totalTokenRequests) fetched")
        try expectRegistryHoldsTheIndex(registry.host, repository: "team/app", tags: ["v1.0.0"], skopeoFlags: ["--tls-verify=false", "--creds", "builder:s3cret"])

        let wrong = try stowage(["push", "--layout", layout, "--tls-verify=false", "--creds", "builder:nope", "team/app:v1.0.0", "\(registry.host)/team/app:x"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains(registry.host) && wrong.stderr.contains("refused"), "\(wrong.stderr)")

        // An identity token from an auth file is exchanged by OAuth2 POST.
        let authfile = directory.child("auth.json")
        let refresh = tokens.makeRefreshToken(for: "builder")
        try Data(#"{"auths":{"\#(registry.host)":{"identitytoken":"\#(refresh)"}}}"#.utf8).write(to: URL(fileURLWithPath: authfile))
        tokens.resetRequests()
        let viaIdentity = try stowage(["push", "--layout", layout, "--tls-verify=false", "--authfile", authfile, "team/app:v1.0.0", "\(registry.host)/team/app:identity"])
        #expect(viaIdentity.status == 0, "\(viaIdentity.stderr)")
        #expect(tokens.tokenRequests["POST", default: 0] >= 1)
    }

    struct SyncReport: Decodable {
        struct Plan: Decodable {
            struct Item: Decodable {
                var reference: String
                var destination: String
                var upToDate: Bool?
                var missingBlobs: Int?
            }
            var items: [Item]
            var skipped: [String]
        }
        struct Summary: Decodable { var blobsSent: Int; var blobsPresent: Int; var blobsMounted: Int }
        var plan: Plan
        var summary: Summary?
    }

    @Test func syncPlansPushesEverythingAndResyncsNothing() throws {
        let registry = try RegistryServer.started(.http)
        let proxy = try FaultProxy(upstream: registry.host)
        try makeLayout()
        for (archive, name) in [("s390x.tar", "team/other:s390x"), ("docker.tar", "team/docker:1")] {
            #expect(try stowage(["import", "--layout", layout, "--tag", name, Fixtures.path(archive)]).status == 0)
        }
        // Another tool's archive names its image by a bare tag.
        let tagOnly = directory.child("tag-only.tar")
        try ArchiveBuilder.ociArchive(TestImage.make(architecture: "riscv64", layers: [pseudoRandomBytes(2000, seed: 3)]), refName: "v1.0.0")
            .write(to: tagOnly)
        #expect(try stowage(["import", "--layout", layout, tagOnly]).status == 0)

        // Tag-only names need --repository.
        let noRepository = try stowage(["sync", "--layout", layout, "--tls-verify=false", "\(proxy.host)/site"])
        #expect(noRepository.status != 0)
        #expect(noRepository.stderr.contains("--repository"), "\(noRepository.stderr)")

        let dryRun = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--repository", "tagged/app", "--dry-run", "--json", "\(proxy.host)/site"])
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        let plan = try JSONDecoder().decode(SyncReport.self, from: Data(dryRun.stdout.utf8)).plan
        #expect(plan.items.map(\.destination) == [
            "\(proxy.host)/site/team/app:v1.0.0", "\(proxy.host)/site/team/app:latest", "\(proxy.host)/site/team/other:s390x",
            "\(proxy.host)/site/team/docker:1", "\(proxy.host)/site/tagged/app:v1.0.0",
        ])
        #expect(plan.items.allSatisfy { $0.upToDate == false && ($0.missingBlobs ?? 0) > 0 })
        #expect(proxy.records.allSatisfy { $0.method == "HEAD" || ($0.method == "GET" && $0.path == "/v2/") }, "a dry run only asks")

        let sync = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--repository", "tagged/app", "--json", "\(proxy.host)/site"])
        #expect(sync.status == 0, "\(sync.stderr)")
        let first = try JSONDecoder().decode(SyncReport.self, from: Data(sync.stdout.utf8))
        // 7 for the index, 2 for s390x (its base layer is mounted), 2 for docker.tar (its config is
        // the amd64 image's, mounted), 2 for the tag-only image: each blob crosses the wire once.
        #expect(first.summary?.blobsSent == 13)
        #expect((first.summary?.blobsMounted ?? 0) >= 2)
        try expectRegistryHoldsTheIndex(registry.host, repository: "site/team/app", tags: ["v1.0.0", "latest"], skopeoFlags: ["--tls-verify=false"])
        let tagged = try Command.run("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/site/tagged/app:v1.0.0"])
        #expect(tagged.status == 0 && tagged.stdout.contains("riscv64"), "\(tagged.stderr)")

        proxy.resetRecords()
        let again = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--repository", "tagged/app", "--json", "\(proxy.host)/site"])
        #expect(again.status == 0, "\(again.stderr)")
        let second = try JSONDecoder().decode(SyncReport.self, from: Data(again.stdout.utf8))
        #expect(second.plan.items.allSatisfy { $0.upToDate == true })
        #expect(second.summary?.blobsSent == 0)
        #expect(!proxy.records.contains { $0.method == "PUT" || $0.method == "PATCH" || $0.method == "POST" }, "an unchanged layout sends nothing")

        let filtered = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--ref", "team/other:*", "--json", "\(registry.host)/only"])
        #expect(filtered.status == 0, "\(filtered.stderr)")
        let only = try JSONDecoder().decode(SyncReport.self, from: Data(filtered.stdout.utf8))
        #expect(only.plan.items.map(\.reference) == ["team/other:s390x"])
    }

    @Test func syncRefusesNamesThatWouldOverwriteOneDestinationAndKeepsHostsApartOnRequest() throws {
        let registry = try RegistryServer.started(.http)
        let proxy = try FaultProxy(upstream: registry.host)
        // Two registries' images under one repository and tag, and one image under two names.
        for (archive, name) in [
            ("x86_64.tar", "quay.io/team/app:v1"), ("aarch64.tar", "ghcr.io/team/app:v1"), ("s390x.tar", "registry.example.com/team/z:1"),
        ] {
            #expect(try stowage(["import", "--layout", layout, "--tag", name, Fixtures.path(archive)]).status == 0)
        }
        #expect(try stowage(["tag", "--layout", layout, "registry.example.com/team/z:1", "team/z:1"]).status == 0)
        let amd64 = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
        let arm64 = "sha256:e7288e276dc3d37f7543e98ff1d662548a890d944542cf379977aa28c931912a"
        let collision = "collision: \(proxy.host)/site/team/app:v1 <- quay.io/team/app:v1 (\(amd64.prefix(19))), ghcr.io/team/app:v1 (\(arm64.prefix(19)))"

        // Refused before anything is sent: one line for the collision, one for the error.
        let sync = try stowage(["sync", "--layout", layout, "--tls-verify=false", "\(proxy.host)/site"])
        #expect(sync.status != 0)
        #expect(sync.stderr.split(separator: "\n").map(String.init) == [
            collision,
            "stowage: error: 1 destination would get different images from several layout names, and the last push would win (\(proxy.host)/site/team/app:v1 <- quay.io/team/app:v1, ghcr.io/team/app:v1); keep registry hosts apart with --keep-registry-host, or leave names out with --ref",
        ], "\(sync.stderr)")
        #expect(proxy.records.isEmpty, "nothing is sent: \(proxy.records)")
        for repository in ["site/team/app:v1", "site/team/z:1"] {
            let absent = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(repository)"])
            #expect(absent.status != 0, "\(repository) was not pushed")
        }

        // A dry run shows it too, and fails; it only asks.
        let dryRun = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--dry-run", "\(proxy.host)/site"])
        #expect(dryRun.status != 0)
        #expect(dryRun.stderr.contains(collision), "\(dryRun.stderr)")
        #expect(dryRun.stderr.contains("--keep-registry-host"), "\(dryRun.stderr)")
        #expect(!dryRun.stdout.contains("team/app:v1 ->"), "a colliding name is not planned: \(dryRun.stdout)")
        let dryJSON = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--dry-run", "--json", "\(proxy.host)/site"])
        #expect(dryJSON.status != 0)
        struct Collisions: Decodable {
            struct Plan: Decodable { var collisions: [SyncPlanCollision] }
            struct SyncPlanCollision: Decodable, Equatable { var destination: String; var references: [String]; var digests: [String] }
            var plan: Plan
        }
        let listed = try JSONDecoder().decode(Collisions.self, from: Data(dryJSON.stdout.utf8)).plan.collisions
        #expect(listed == [.init(destination: "\(proxy.host)/site/team/app:v1", references: ["quay.io/team/app:v1", "ghcr.io/team/app:v1"], digests: [amd64, arm64])])
        #expect(proxy.records.allSatisfy { $0.method == "HEAD" || ($0.method == "GET" && $0.path == "/v2/") }, "a dry run only asks")

        // Two names of one image going to one destination are harmless: sent once.
        let same = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--ref", "*team/z:1", "--json", "\(registry.host)/site"])
        #expect(same.status == 0, "\(same.stderr)")
        let sameReport = try JSONDecoder().decode(SyncReport.self, from: Data(same.stdout.utf8))
        #expect(sameReport.plan.items.map(\.destination) == ["\(registry.host)/site/team/z:1"])
        #expect(sameReport.plan.skipped.contains("team/z:1"))

        // --keep-registry-host sends both, each under its own host.
        let kept = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--keep-registry-host", "--json", "\(registry.host)/site"])
        #expect(kept.status == 0, "\(kept.stderr)")
        let keptReport = try JSONDecoder().decode(SyncReport.self, from: Data(kept.stdout.utf8))
        #expect(keptReport.plan.items.map(\.destination) == [
            "\(registry.host)/site/quay.io/team/app:v1", "\(registry.host)/site/ghcr.io/team/app:v1",
            "\(registry.host)/site/registry.example.com/team/z:1", "\(registry.host)/site/team/z:1",
        ])
        for (repository, architecture) in [("quay.io/team/app:v1", "amd64"), ("ghcr.io/team/app:v1", "arm64"), ("team/z:1", "s390x")] {
            let inspect = try Command.run("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/site/\(repository)"])
            #expect(inspect.status == 0 && inspect.stdout.contains(#""Architecture": "\#(architecture)""#), "\(repository): \(inspect.stderr)")
        }

        // A host with a port is no repository component: refused, naming it.
        #expect(try stowage(["tag", "--layout", layout, "quay.io/team/app:v1", "localhost:5000/team/p:1"]).status == 0)
        let port = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--keep-registry-host", "--ref", "localhost*", "\(registry.host)/site"])
        #expect(port.status != 0)
        #expect(port.stderr.contains("'localhost:5000'") && port.stderr.contains("--ref"), "\(port.stderr)")
        #expect(port.stderr.split(separator: "\n").count == 1, "\(port.stderr)")
    }

    @Test func pullWhatSkopeoPushedKeepsEveryDigest() throws {
        let registry = try RegistryServer.started(.http)
        let push = try Command.run("skopeo", [
            "copy", "--all", "--dest-tls-verify=false", "oci-archive:\(Fixtures.path("multi.tar"))", "docker://\(registry.host)/team/multi:1",
        ])
        #expect(push.status == 0, "\(push.stderr)")
        let remote = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/multi:1"])
        let pull = try stowage(["pull", "--layout", layout, "--tls-verify=false", "docker://\(registry.host)/team/multi:1"])
        #expect(pull.status == 0, "\(pull.stderr)")
        let name = "\(registry.host)/team/multi:1"
        #expect(try stored(name) == remote.stdoutBytes, "the index is stored byte for byte")
        #expect(try stowage(["inspect", "--platforms", "--layout", layout, name]).stdout == "linux/amd64\nlinux/arm64/v8\nlinux/ppc64le\n")
        // Every child and blob arrived intact: skopeo reads them all back from the layout.
        let copy = try Command.run("skopeo", ["copy", "--all", "oci:\(layout):\(name)", "oci:\(directory.child("check")):x"])
        #expect(copy.status == 0, "\(copy.stderr)")

        let arm = try stowage(["pull", "--layout", layout, "--tls-verify=false", "--platform", "linux/arm64", "--tag", "team/arm:1", "\(registry.host)/team/multi:1"])
        #expect(arm.status == 0, "\(arm.stderr)")
        #expect(try stowage(["inspect", "--platforms", "--layout", layout, "team/arm:1"]).stdout == "linux/arm64/v8\n")
        let byDigest = try stowage(["pull", "--layout", directory.child("other"), "--tls-verify=false", "\(registry.host)/team/multi@\(ContentHasher.digest(of: remote.stdoutBytes))"])
        #expect(byDigest.status == 0, "\(byDigest.stderr)")
    }

    @Test func copyBetweenTransports() throws {
        let registry = try RegistryServer.started(.http)
        let archive = directory.child("out.tar")
        let steps: [[String]] = [
            ["copy", "oci-archive:\(Fixtures.path("named.tar"))", "oci:\(layout):team/app:v1"],
            ["copy", "--tls-verify=false", "oci:\(layout):team/app:v1", "docker://\(registry.host)/team/app:v1"],
            ["copy", "--tls-verify=false", "docker://\(registry.host)/team/app:v1", "docker://\(registry.host)/other/app:v1"],
            ["copy", "--tls-verify=false", "docker://\(registry.host)/other/app:v1", "oci-archive:\(archive):team/app:exported"],
            ["copy", "--tls-verify=false", "docker-archive:\(Fixtures.path("docker.tar"))", "docker://\(registry.host)/team/docker:1"],
        ]
        for step in steps {
            let result = try stowage(step)
            #expect(result.status == 0, "\(step.joined(separator: " ")): \(result.stderr)")
        }
        let digest = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
        let fromArchive = try Command.run("skopeo", ["inspect", "--raw", "oci-archive:\(archive):team/app:exported"])
        #expect(ContentHasher.digest(of: fromArchive.stdoutBytes).string == digest)
        let unsupported = try stowage(["copy", "oci:\(layout):team/app:v1", "docker-archive:\(directory.child("d.tar"))"])
        #expect(unsupported.status != 0)
    }

    /// team/multi:1 in a fresh registry, pushed by skopeo; returns the registry and the index bytes.
    func registryWithMulti() throws -> (RegistryServer, [UInt8]) {
        let registry = try RegistryServer.started(.http)
        let push = try Command.run("skopeo", [
            "copy", "--all", "--dest-tls-verify=false", "oci-archive:\(Fixtures.path("multi.tar"))", "docker://\(registry.host)/team/multi:1",
        ])
        #expect(push.status == 0, "\(push.stderr)")
        let remote = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/multi:1"])
        return (registry, remote.stdoutBytes)
    }

    @Test func aPullCompletesAnImageThatLostBlobs() throws {
        let (registry, _) = try registryWithMulti()
        let source = "docker://\(registry.host)/team/multi:1"
        #expect(try stowage(["pull", "--layout", layout, "--tls-verify=false", source]).status == 0)
        #expect(try stowage(["rm", "--layout", layout, "\(registry.host)/team/multi:1"]).status == 0)
        // gc (or a hand) took one layer of the unnamed image; the manifests are still there.
        #expect(unlink("\(layout)/blobs/sha256/60a94090f544e240fb0043dc5d0de4bab0acda5d0ae48da14213e2a0c39cd42e") == 0)
        let again = try stowage(["pull", "--layout", layout, "--tls-verify=false", source])
        #expect(again.status == 0, "\(again.stderr)")
        let verify = try stowage(["verify", "--layout", layout])
        #expect(verify.status == 0, "the pull fetched what was missing: \(verify.stdout)\(verify.stderr)")
    }

    @Test func aPullRefusesDocumentsServedAsWhatTheyAreNot() throws {
        let (registry, indexBytes) = try registryWithMulti()
        let index = try JSONCoding.decode(Index.self, from: indexBytes, what: "index")
        let child = index.manifests[2]
        let childBytes = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/multi@\(child.digest)"]).stdoutBytes
        // A child manifest served as an index, and a tag whose index is served as a manifest.
        let cases: [(path: String, bytes: [UInt8], contentType: MediaType, mentions: [String])] = [
            ("/v2/team/multi/manifests/\(child.digest)", childBytes, .ociIndex, [child.digest.string, MediaType.ociIndex.rawValue, child.mediaType.rawValue]),
            ("/v2/team/multi/manifests/1", indexBytes, .ociManifest, [MediaType.ociManifest.rawValue, MediaType.ociIndex.rawValue]),
        ]
        for (i, hostile) in cases.enumerated() {
            let proxy = try FaultProxy(upstream: registry.host) { request in
                guard request.method == "GET", request.path == hostile.path else { return .forward }
                return .respond(
                    status: 200,
                    headers: [("Content-Type", hostile.contentType.rawValue), ("Docker-Content-Digest", ContentHasher.digest(of: hostile.bytes).string)],
                    body: String(decoding: hostile.bytes, as: UTF8.self))
            }
            let target = directory.child("mislabelled-\(i)")
            let pull = try stowage(["pull", "--layout", target, "--tls-verify=false", "docker://\(proxy.host)/team/multi:1"])
            #expect(pull.status != 0, "case \(i)")
            for mention in hostile.mentions { #expect(pull.stderr.contains(mention), "case \(i): \(pull.stderr)") }
            #expect(pull.stderr.split(separator: "\n").count == 1, "case \(i): \(pull.stderr)")
            let names = (try? Layout.open(target).readIndex().manifests.compactMap(\.refName)) ?? []
            #expect(names.isEmpty, "case \(i): nothing was named")
        }
    }
}
