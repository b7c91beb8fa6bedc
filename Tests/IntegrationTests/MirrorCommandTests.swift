import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// `stowage mirror FILE` against real registries: sources in plain HTTP (behind a proxy that
/// counts requests or injects faults), TLS and basic-auth modes, read back with skopeo.
@Suite struct MirrorCommandTests {
    let directory = TemporaryDirectory()
    var source: String { directory.child("source") }
    var layout: String { directory.child("mirror") }
    var setFile: String { directory.child("set.yaml") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: ["STOWAGE_RETRY_DELAY": "0.05"])
    }

    /// A source layout: the 3-platform index as team/app, and `count` small images of team/web
    /// that share a base layer, each under its own version tag.
    func makeSource(webTags: [String]) throws {
        let index = try stowage([
            "index", "create", "--layout", source, "--tag", "team/app:v1.0.0",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ])
        #expect(index.status == 0, "\(index.stderr)")
        let base = pseudoRandomBytes(40_000, seed: 1)
        let images = webTags.enumerated().map { position, tag in
            (image: TestImage.make(layers: [base, pseudoRandomBytes(5_000, seed: UInt64(100 + position))]), refName: Optional("team/web:\(tag)"))
        }
        let archive = directory.child("web.tar")
        try ArchiveBuilder.ociArchive(images).write(to: archive)
        let imported = try stowage(["import", "--layout", source, archive])
        #expect(imported.status == 0, "\(imported.stderr)")
    }

    /// Pushes names of the source layout to `host` under the same names.
    func push(_ names: [String], to host: String, flags: [String] = ["--tls-verify=false"]) throws {
        for name in names {
            let pushed = try stowage(["push", "--layout", source] + flags + [name, "\(host)/\(name)"])
            #expect(pushed.status == 0, "push \(name): \(pushed.stderr)")
        }
    }

    func writeSet(_ text: String) throws {
        try text.write(toFile: setFile, atomically: true, encoding: .utf8)
    }

    /// A set of one plain-HTTP registry; each repository is its keys, one a line (`name: team/web`, `tags: [v1]`).
    func writeSet(host: String, _ repositories: [[String]]) throws {
        let listed = repositories.map { keys in
            keys.enumerated().map { ($0.offset == 0 ? "      - " : "        ") + $0.element }.joined(separator: "\n")
        }
        try writeSet("registries:\n  - host: \(host)\n    tls-verify: false\n    repositories:\n" + listed.joined(separator: "\n") + "\n")
    }

    struct Report: Decodable {
        struct Image: Decodable {
            var source: String
            var name: String?
            var change: String
            var sourceDigest: String?
            var previousDigest: String?
            var digest: String?
            var error: String?
        }
        struct Summary: Decodable {
            var blobsReceived: Int
            var requests: Int
        }
        var images: [Image]
        var counts: [String: Int]
        var summary: Summary?

        func changes() -> [String: String] {
            Dictionary(uniqueKeysWithValues: images.map { ($0.source, $0.change) })
        }
    }

    func mirror(_ extra: [String] = []) throws -> (result: CommandResult, report: Report?) {
        let result = try stowage(["mirror", "--layout", layout, "--json"] + extra + [setFile])
        return (result, try? JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8)))
    }

    func names(in layout: String) throws -> [String: String] {
        let listed = try stowage(["ls", "--layout", layout, "--json"])
        struct Entry: Decodable {
            var reference: String?
            var digest: String
        }
        let entries = try JSONDecoder().decode([Entry].self, from: Data(listed.stdout.utf8))
        return Dictionary(entries.compactMap { entry in entry.reference.map { ($0, entry.digest) } }, uniquingKeysWith: { first, _ in first })
    }

    func remoteDigest(_ reference: String, flags: [String]) throws -> String {
        let raw = try Command.run("skopeo", ["inspect", "--raw"] + flags + ["docker://\(reference)"])
        #expect(raw.status == 0, "\(raw.stderr)")
        return ContentHasher.digest(of: raw.stdoutBytes).string
    }

    @Test func aSetFromThreeRegistriesComesInAndARerunCostsOneHeadPerTag() throws {
        let webTags = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1-rc.1", "v2.0.0", "latest"]
        try makeSource(webTags: webTags)
        let plain = try RegistryServer.started(.http)
        let proxy = try FaultProxy(upstream: plain.host)
        let ca = try TestCertificateAuthority()
        let secure = try RegistryServer.started(.tls(ca))
        let guarded = try RegistryServer.started(.basicAuth(user: "mirror", password: "s3cret", tls: nil))
        try push(webTags.map { "team/web:\($0)" }, to: plain.host)
        try push(["team/app:v1.0.0"], to: secure.host, flags: ["--ca-file", ca.caCertificate])
        try push(["team/app:v1.0.0", "team/web:v1.0.0"], to: guarded.host, flags: ["--tls-verify=false", "--creds", "mirror:s3cret"])
        let pinned = try names(in: source)["team/web:v1.1.0"]!
        try writeSet("""
            name: weekly
            platforms: [linux/arm64/v8, linux/ppc64le]
            registries:
              - host: \(proxy.host)
                tls-verify: false
                repositories:
                  - name: team/web
                    tags: [latest]
                    semver: ">=1.1 <2"
                    latest: 2
                  - name: team/web
                    tags: ["v1.0.*"]
                    digests: [\(pinned)]
              - host: \(secure.host)
                ca-file: \(ca.caCertificate)
                repositories:
                  - name: team/app
                    tags: [v1.0.0]
              - host: \(guarded.host)
                tls-verify: false
                creds: mirror:s3cret
                repositories:
                  - name: team/app
                    tags: [v1.0.0]
                    platforms: []
                    referrers: false
            """)

        let (first, report) = try mirror()
        #expect(first.status == 0, "\(first.stderr)")
        let webNames = ["latest", "v1.0.0", "v1.1.0", "v1.2.0"].map { "\(proxy.host)/team/web:\($0)" }
        let expected = webNames + ["\(secure.host)/team/app:v1.0.0", "\(guarded.host)/team/app:v1.0.0", "\(proxy.host)/team/web@\(pinned)"]
        #expect(report?.images.filter { $0.change == "added" }.compactMap(\.name).sorted() == expected.sorted(), "\(first.stdout)")
        #expect(report?.changes()["\(proxy.host)/team/web@\(pinned)"] == "added")
        #expect(report?.counts == ["added": 7])
        let mirrored = try names(in: layout)
        for name in webNames {
            let tag = String(name.split(separator: ":").last!)
            #expect(mirrored[name] == (try names(in: source))["team/web:\(tag)"], "\(name) has the source's digest")
        }
        #expect(mirrored["\(guarded.host)/team/app:v1.0.0"] == (try names(in: source))["team/app:v1.0.0"], "the whole index came from the guarded registry")
        let platforms = try stowage(["inspect", "--platforms", "--layout", layout, "\(secure.host)/team/app:v1.0.0"])
        #expect(platforms.stdout == "linux/arm64/v8\nlinux/ppc64le\n", "the platform filter kept two of three: \(platforms.stdout)")
        let filtered = report?.images.first { $0.source == "\(secure.host)/team/app:v1.0.0" }
        #expect(filtered?.sourceDigest == (try names(in: source))["team/app:v1.0.0"])
        #expect(filtered?.digest != filtered?.sourceDigest, "a filtered index is a new document")
        #expect(mirrored["\(secure.host)/team/app:v1.0.0"] == filtered?.digest)
        // Single images are taken as they are by a platform filter.
        #expect(mirrored["\(proxy.host)/team/web:latest"] == (try names(in: source))["team/web:latest"])
        #expect(try stowage(["verify", "--layout", layout]).status == 0)
        // The image listed by digest is named HOST/REPO@DIGEST, and sync sends it by digest.
        #expect(mirrored["\(proxy.host)/team/web@\(pinned)"] == pinned, "\(mirrored)")
        #expect(report?.images.first { $0.source == "\(proxy.host)/team/web@\(pinned)" }?.name == "\(proxy.host)/team/web@\(pinned)")
        let site = try RegistryServer.started(.http)
        let synced = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--ref", "*@sha256:*", site.host])
        #expect(synced.status == 0, "\(synced.stderr)")
        let byDigest = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(site.host)/team/web@\(pinned)"])
        #expect(byDigest.status == 0 && ContentHasher.digest(of: byDigest.stdoutBytes).string == pinned, "\(byDigest.stderr)")
        let siteTags = try stowage(["ls", "--tls-verify=false", "docker://\(site.host)/team/web"])
        #expect(siteTags.stdout.isEmpty, "an image by digest adds no tag: \(siteTags.stdout)")
        // skopeo reads what the mirror wrote.
        let skopeo = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):\(proxy.host)/team/web:v1.2.0"])
        #expect(skopeo.status == 0, "\(skopeo.stderr)")

        // A rerun with nothing changed: one tag list per repository and one HEAD per tag, nothing else.
        proxy.resetRecords()
        let (second, again) = try mirror()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(again?.counts == ["unchanged": 7], "\(second.stdout)")
        let requests = proxy.records.map { "\($0.method) \($0.path)" }
        #expect(requests.filter { $0.hasPrefix("HEAD /v2/team/web/manifests/") }.count == 4, "\(requests)")
        #expect(requests.filter { $0.hasSuffix("/tags/list") }.count == 1, "the repository listed twice is listed once: \(requests)")
        #expect(requests.filter { $0.hasPrefix("GET /v2/team/web/") }.count == 1, "no manifest or blob is fetched: \(requests)")
        #expect(requests.count == 6, "a ping, a tag list and four HEADs: \(requests)")
    }

    @Test func updatesAreReportedAndPruneRemovesWhatTheSetDropped() throws {
        try makeSource(webTags: ["v1.0.0", "v1.1.0", "v1.2.0"])
        let registry = try RegistryServer.started(.http)
        try push(["team/web:v1.0.0", "team/web:v1.1.0"], to: registry.host)
        try writeSet(host: registry.host, [["name: team/web", "tags: [\"v1.*\"]"]])
        #expect(try mirror().result.status == 0)
        let before = try names(in: layout)
        // The registry moves v1.1.0 to another image and gains v1.2.0.
        let moved = try stowage(["push", "--layout", source, "--tls-verify=false", "team/web:v1.2.0", "\(registry.host)/team/web:v1.1.0"])
        #expect(moved.status == 0, "\(moved.stderr)")
        try push(["team/web:v1.2.0"], to: registry.host)
        let (rerun, report) = try mirror()
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let v11 = report?.images.first { $0.source == "\(registry.host)/team/web:v1.1.0" }
        #expect(v11?.change == "updated")
        #expect(v11?.previousDigest == before["\(registry.host)/team/web:v1.1.0"])
        #expect(v11?.digest == (try names(in: source))["team/web:v1.2.0"])
        #expect(report?.changes()["\(registry.host)/team/web:v1.2.0"] == "added")
        #expect(report?.changes()["\(registry.host)/team/web:v1.0.0"] == "unchanged")
        #expect(report?.summary?.blobsReceived == 2, "v1.1.0 and v1.2.0 now share one image: its config and top layer come once")

        // The set narrows: the dropped tags are kept and reported until --prune.
        try writeSet(host: registry.host, [["name: team/web", "tags: [v1.2.0]"]])
        let (narrowed, kept) = try mirror()
        #expect(narrowed.status == 0)
        #expect(kept?.counts == ["unchanged": 1, "retired": 2], "\(narrowed.stdout)")
        #expect(try names(in: layout)["\(registry.host)/team/web:v1.0.0"] != nil, "kept without --prune")
        let text = try stowage(["mirror", "--layout", layout, setFile])
        #expect(text.stdout.contains("no longer in the set: \(registry.host)/team/web:v1.0.0 (kept; --prune removes it)"), "\(text.stdout)")
        let (pruned, removed) = try mirror(["--prune"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(removed?.counts == ["unchanged": 1, "removed": 2])
        #expect(Set(try names(in: layout).keys) == ["\(registry.host)/team/web:v1.2.0"])
        let gc = try stowage(["gc", "--layout", layout, "--grace", "0s"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(try stowage(["verify", "--layout", layout]).status == 0)
        // The record no longer lists what was pruned: a further run reports nothing removed.
        #expect(try mirror().report?.counts == ["unchanged": 1])
    }

    @Test func aTagThatCannotBeFetchedFailsTheRunAndTheRestIsNamed() throws {
        try makeSource(webTags: ["v1.0.0"])
        let registry = try RegistryServer.started(.http)
        try push(["team/web:v1.0.0", "team/app:v1.0.0"], to: registry.host)
        try writeSet(host: registry.host, [["name: team/web", "tags: [v1.0.0, v9.9.9]"], ["name: team/app", "tags: [v1.0.0]"], ["name: team/gone", "tags: [\"v*\"]"]])
        let (run, report) = try mirror()
        #expect(run.status != 0)
        #expect(run.stderr.contains("2 of the set's images could not be brought in"), "\(run.stderr)")
        #expect(run.stderr.contains("\(registry.host)/team/web:v9.9.9") && run.stderr.contains("\(registry.host)/team/gone"), "\(run.stderr)")
        #expect(report?.counts == ["added": 2, "failed": 2])
        #expect(Set(try names(in: layout).keys) == ["\(registry.host)/team/web:v1.0.0", "\(registry.host)/team/app:v1.0.0"])
        #expect(try stowage(["verify", "--layout", layout]).status == 0)
    }

    @Test func badSetsFailBeforeAnythingIsFetched() throws {
        try makeSource(webTags: ["v1.0.0", "v1.1.0"])
        let registry = try RegistryServer.started(.http)
        let proxy = try FaultProxy(upstream: registry.host)
        try push(["team/web:v1.0.0", "team/web:v1.1.0"], to: registry.host)
        let cases: [(set: String, message: [String])] = [
            ("registries:\n  - host: \(proxy.host)\n    tls-verify: false\n    repositories:\n      - name: team/web\n        tag: [v1.0.0]\n",
             ["set.yaml:6:9", "unknown key 'tag'", "did you mean tags?"]),
            ("registries:\n  - host: \(proxy.host)\n    tls-verify: false\n    repositories:\n      - name: team/web\n        regex: '[v'\n",
             ["set.yaml:6:16", "regex", "not a valid regular expression"]),
            ("registries: []\n", ["set.yaml", "empty"]),
            ("registries:\n  - host: \(proxy.host)\n  repositories: x\n", ["set.yaml", "not valid YAML"]),
            ("registries:\n  - host: \(proxy.host)\n    tls-verify: false\n    repositories:\n      - name: team/web\n        tags: [v1.0.0]\n        semver: '>=3 <4'\n",
             ["set.yaml:7:17", "semver range '>=3 <4' matches none of the 2 tags of \(proxy.host)/team/web"]),
        ]
        for (set, message) in cases {
            try writeSet(set)
            proxy.resetRecords()
            let run = try stowage(["mirror", "--layout", layout, setFile])
            #expect(run.status != 0, "\(set)")
            for part in message { #expect(run.stderr.contains(part), "\(part): \(run.stderr)") }
            let fetched = proxy.records.filter { $0.method == "GET" && ($0.path.contains("/manifests/") || $0.path.contains("/blobs/")) }
            #expect(fetched.isEmpty, "nothing fetched: \(fetched)")
            let named = FileManager.default.fileExists(atPath: "\(layout)/index.json") ? try names(in: layout) : [:]
            #expect(named.isEmpty, "nothing named")
        }
    }

    @Test func aDryRunChangesNothing() throws {
        try makeSource(webTags: ["v1.0.0", "v1.1.0"])
        let registry = try RegistryServer.started(.http)
        try push(["team/web:v1.0.0", "team/web:v1.1.0"], to: registry.host)
        try writeSet(host: registry.host, [["name: team/web", "tags: [v1.0.0]"]])
        let (dry, planned) = try mirror(["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(planned?.counts == ["added": 1])
        #expect(!FileManager.default.fileExists(atPath: layout), "a dry run does not even create the layout")
        #expect(try mirror().result.status == 0)
        try writeSet(host: registry.host, [["name: team/web", "tags: [v1.1.0]"]])
        let index = try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))
        let record = try Data(contentsOf: URL(fileURLWithPath: "\(layout)/.stowage/records/mirror/set.json"))
        let text = try stowage(["mirror", "--layout", layout, "--dry-run", "--prune", setFile])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("would be added: \(registry.host)/team/web:v1.1.0"), "\(text.stdout)")
        #expect(text.stdout.contains("would be removed: \(registry.host)/team/web:v1.0.0"), "\(text.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json")) == index)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/.stowage/records/mirror/set.json")) == record)
    }

    @Test func mirrorSurvivesDropsErrorsAndThrottling() throws {
        try makeSource(webTags: ["v1.0.0", "v1.1.0", "v1.2.0"])
        let registry = try RegistryServer.started(.http)
        try push(["team/web:v1.0.0", "team/web:v1.1.0", "team/web:v1.2.0", "team/app:v1.0.0"], to: registry.host)
        let faults = Locked<[String: Int]>([:])
        @Sendable func once(_ key: String) -> Bool {
            faults.withLock { seen in
                seen[key, default: 0] += 1
                return seen[key] == 1
            }
        }
        let proxy = try FaultProxy(upstream: registry.host) { request in
            if request.method == "GET", request.path == "/v2/", once("ping-502") { return .respond(status: 502) }
            if request.method == "GET", request.path.hasSuffix("/tags/list"), once("list-503") { return .respond(status: 503) }
            if request.method == "HEAD", request.path.contains("/manifests/"), once("head-429") {
                return .respond(status: 429, headers: [("Retry-After", "1")])
            }
            if request.method == "GET", request.path.contains("/manifests/"), once("manifest-drop") { return .disconnect }
            if request.method == "GET", request.path.contains("/blobs/"), once("blob-500") { return .respond(status: 500) }
            if request.method == "GET", request.path.contains("/blobs/"), once("blob-drop") { return .dropAfterRequestBytes(0) }
            return .forward
        }
        try writeSet(host: proxy.host, [["name: team/web", "semver: \">=1\""], ["name: team/app", "tags: [v1.0.0]"]])
        let (run, report) = try mirror()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(report?.counts == ["added": 4])
        #expect(proxy.records.contains { $0.outcome == .dropped }, "a connection was really dropped")
        let mirrored = try names(in: layout)
        for name in ["team/web:v1.0.0", "team/web:v1.1.0", "team/web:v1.2.0", "team/app:v1.0.0"] {
            #expect(mirrored["\(proxy.host)/\(name)"] == (try remoteDigest("\(registry.host)/\(name)", flags: ["--tls-verify=false"])), "\(name)")
        }
        #expect(try stowage(["verify", "--layout", layout]).status == 0)
    }
}
