import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `stowage sync DEST1 DEST2…` against several real registries: identical digests on
/// each, every blob read from disk once, and a destination that fails stops only itself.
@Suite struct MultiSyncTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    /// Small chunks, so the larger layers go up in several PATCHes fed by one read.
    func stowage(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        let environment = ["STOWAGE_RETRY_DELAY": "0.05", "STOWAGE_CHUNK_SIZE": "200000"].merging(extra) { _, new in new }
        return try StowageBinary.run(arguments, environment: environment)
    }

    /// The 3-platform index and an image with two larger layers (3 MB and 1 MB).
    func makeLayout() throws {
        try SyncLayout.make(at: layout, bigLayers: [3_000_000, 1_000_000], scratch: directory)
    }

    /// The configs and layers the layout's images (or those of `names`) reach, each once: how many, and their bytes.
    func layoutBlobs(_ names: [String]? = nil) throws -> (count: Int, bytes: Int64) {
        let store = try Layout.open(layout)
        let entries = try store.readIndex().manifests.filter { entry in names.map { $0.contains(entry.refName ?? "") } ?? true }
        let graph = ContentGraph.walk(store.blobs, entries: entries)
        var sizes: [Digest: Int64] = [:]
        for edge in graph.edges where edge.role == .config || edge.role == .layer { sizes[edge.descriptor.digest] = edge.descriptor.size }
        return (sizes.count, sizes.values.reduce(0, +))
    }

    /// Every name and child on the registry has the layout's exact bytes, and skopeo copies it all.
    func expectSynced(_ host: String, skopeoFlags: [String] = ["--tls-verify=false"]) throws {
        for name in SyncLayout.names {
            let local = try stowage(["inspect", "--raw", "--layout", layout, name]).stdoutBytes
            let remote = try Command.run("skopeo", ["inspect", "--raw"] + skopeoFlags + ["docker://\(host)/\(name)"])
            #expect(remote.status == 0, "\(host)/\(name): \(remote.stderr)")
            #expect(remote.stdoutBytes == local, "\(host)/\(name) is byte-identical")
        }
        let copyFlags = skopeoFlags.map { $0.replacingOccurrences(of: "--tls-verify", with: "--src-tls-verify").replacingOccurrences(of: "--creds", with: "--src-creds") }
        let copy = try Command.run("skopeo", ["copy", "--all"] + copyFlags + ["docker://\(host)/team/app:v1", "oci:\(directory.child("check-\(UUID().uuidString.prefix(6))")):x"])
        #expect(copy.status == 0, "every blob on \(host) is there and intact: \(copy.stderr)")
    }

    /// An auth file with credentials for `host` only.
    func authFile(_ entries: [(host: String, user: String, password: String)]) throws -> String {
        let auths = entries.map { entry in
            let secret = Data("\(entry.user):\(entry.password)".utf8).base64EncodedString()
            return #""http://\#(entry.host)":{"auth":"\#(secret)"}"#
        }
        let path = directory.child("auth-\(UUID().uuidString.prefix(6)).json")
        try Data(#"{"auths":{\#(auths.joined(separator: ","))}}"#.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    struct Report: Decodable {
        struct Summary: Decodable {
            var blobsSent: Int
            var blobsPresent: Int
            var blobBytesRead: Int64
        }
        struct Destination: Decodable {
            struct Plan: Decodable {
                struct Item: Decodable { var upToDate: Bool? }
                var items: [Item]
            }
            struct Summary: Decodable { var blobsSent: Int; var manifests: Int }
            var target: String
            var plan: Plan?
            var summary: Summary
            var error: String?
        }
        var summary: Summary?
        var destinations: [Destination]
    }

    func report(_ result: CommandResult) throws -> Report {
        try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
    }

    @Test func twoRegistriesGetIdenticalDigestsAndEachBlobIsReadOnce() throws {
        let plain = try RegistryServer.started(.http)
        let guarded = try RegistryServer.started(.basicAuth(user: "site", password: "s3cret", tls: nil))
        try makeLayout()
        let (blobs, expected) = try layoutBlobs()
        // Credentials resolved per host: the auth file has an entry for the guarded registry only.
        let auth = try authFile([(guarded.host, "site", "s3cret")])
        let sync = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--authfile", auth, "--json", plain.host, guarded.host])
        #expect(sync.status == 0, "\(sync.stderr)")
        let first = try report(sync)
        #expect(first.destinations.map(\.target) == [plain.host, guarded.host])
        #expect(first.destinations.allSatisfy { $0.error == nil && $0.summary.blobsSent == blobs }, "every blob to each")
        #expect(first.summary?.blobBytesRead == expected, "each blob read from disk once for both: \(first.summary?.blobBytesRead ?? -1) of \(expected)")
        try expectSynced(plain.host)
        try expectSynced(guarded.host, skopeoFlags: ["--tls-verify=false", "--creds", "site:s3cret"])

        // Again: nothing to send anywhere, nothing read.
        let again = try report(try stowage(["sync", "--layout", layout, "--tls-verify=false", "--authfile", auth, "--json", plain.host, guarded.host]))
        #expect(again.destinations.allSatisfy { $0.plan?.items.allSatisfy { $0.upToDate == true } == true })
        #expect(again.summary?.blobBytesRead == 0 && again.summary?.blobsSent == 0)

        // A third registry next to an up-to-date one: only it gets the blobs, read once.
        let third = try RegistryServer.started(.http)
        let text = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--authfile", auth, plain.host, third.host])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("team/app:v1 -> \(plain.host)/team/app:v1: up to date"), "\(text.stdout)")
        #expect(text.stdout.contains("team/app:v1 -> \(third.host)/team/app:v1: pushed"), "\(text.stdout)")
        #expect(text.stdout.contains("\(third.host): \(blobs) blobs sent"), "\(text.stdout)")
        #expect(text.stdout.contains("of blobs read from disk for 2 destinations"), "\(text.stdout)")
        try expectSynced(third.host)
    }

    @Test func aFailingDestinationDoesNotStopTheOthers() throws {
        let good = try RegistryServer.started(.http)
        let refusing = try RegistryServer.started(.basicAuth(user: "site", password: "s3cret", tls: nil))
        // A registry that is gone: its port is closed.
        let gone = try RegistryServer.started(.http)
        let goneHost = gone.host
        gone.stop()
        try makeLayout()
        let auth = try authFile([(refusing.host, "site", "wrong")])
        let sync = try stowage([
            "sync", "--layout", layout, "--tls-verify=false", "--retry-times", "1", "--authfile", auth, "--json",
            goneHost, good.host, refusing.host,
        ])
        #expect(sync.status != 0, "a destination failed")
        #expect(sync.stderr.contains("sync failed for 2 of 3 destinations") && sync.stderr.contains(goneHost) && sync.stderr.contains(refusing.host), "\(sync.stderr)")
        #expect(sync.stderr.split(separator: "\n").count == 1, "\(sync.stderr)")
        let result = try report(sync)
        #expect(result.destinations.map(\.target) == [goneHost, good.host, refusing.host])
        #expect(result.destinations[0].error?.contains(goneHost) == true, "\(result.destinations[0].error ?? "")")
        #expect(result.destinations[1].error == nil)
        #expect(result.destinations[2].error?.contains("401") == true, "\(result.destinations[2].error ?? "")")
        #expect(result.destinations[1].summary.blobsSent == (try layoutBlobs().count))
        try expectSynced(good.host)

        // The text summary names each destination's result.
        let text = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--retry-times", "0", "--authfile", auth, good.host, goneHost])
        #expect(text.status != 0)
        #expect(text.stdout.contains("\(goneHost): failed: "), "\(text.stdout)")
        #expect(text.stdout.contains("team/app:v1 -> \(good.host)/team/app:v1: up to date"), "\(text.stdout)")
    }

    @Test func dropsErrorsAndThrottlingOnOneDestinationEndWithIdenticalDigests() throws {
        let direct = try RegistryServer.started(.http)
        let behind = try RegistryServer.started(.http)
        try makeLayout()
        let expected = try layoutBlobs().bytes
        let proxy = try FaultProxy(upstream: behind.host, rule: FaultProxy.oneFaultOfEachKind())
        let sync = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--json", direct.host, proxy.host])
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(proxy.records.contains { $0.outcome == .dropped }, "an upload was really dropped")
        #expect(proxy.records.filter { $0.method == "PATCH" }.count >= 10, "the large layers went in chunks")
        let result = try report(sync)
        // A resumed upload reads again what it resends; nothing else is read twice.
        let read = result.summary?.blobBytesRead ?? 0
        #expect(read >= expected && read < 2 * expected, "\(read) of \(expected)")
        try expectSynced(direct.host)
        try expectSynced(behind.host)
        for name in SyncLayout.names {
            let one = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(direct.host)/\(name)"]).stdoutBytes
            let other = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(behind.host)/\(name)"]).stdoutBytes
            #expect(ContentHasher.digest(of: one) == ContentHasher.digest(of: other), "\(name): identical digests")
        }
    }

    @Test func pushToTwoRegistriesReadsEachBlobOnce() throws {
        let one = try RegistryServer.started(.http)
        let two = try RegistryServer.started(.http)
        try makeLayout()
        let push = try stowage([
            "push", "--layout", layout, "--tls-verify=false", "--json", "team/big:1", "\(one.host)/team/big:1", "\(two.host)/team/big:1",
            "\(two.host)/other/big:1",
        ])
        #expect(push.status == 0, "\(push.stderr)")
        struct PushReport: Decodable {
            struct Summary: Decodable { var blobsSent: Int; var blobsMounted: Int; var blobBytesRead: Int64 }
            var summary: Summary
        }
        let report = try JSONDecoder().decode(PushReport.self, from: Data(push.stdout.utf8))
        let (count, bytes) = try layoutBlobs(["team/big:1"])
        #expect(report.summary.blobsSent == 2 * count && report.summary.blobsMounted == count, "sent to each registry, mounted in the second repository")
        #expect(report.summary.blobBytesRead == bytes, "read once for both registries")
        for host in [one.host, two.host] {
            let local = try stowage(["inspect", "--raw", "--layout", layout, "team/big:1"]).stdoutBytes
            #expect(try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(host)/team/big:1"]).stdoutBytes == local)
        }
    }
}
