import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// Faults a real registry will not produce on demand, injected by an in-process
/// proxy in front of it: dropped uploads, 5xx, 429 with Retry-After, a slow link.
@Suite struct RegistryFaultTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String], chunkSize: Int? = nil) throws -> CommandResult {
        var environment = ["STOWAGE_RETRY_DELAY": "0.05"]
        if let chunkSize { environment["STOWAGE_CHUNK_SIZE"] = "\(chunkSize)" }
        return try StowageBinary.run(arguments, environment: environment)
    }

    /// A layout with the 3-platform index and a larger image, so uploads take several chunks.
    func makeLayout() throws {
        try SyncLayout.make(at: layout, bigLayers: [600_000, 300_000], scratch: directory)
    }

    /// Every tag and child on the registry has the layout's exact bytes.
    func expectSynced(_ registry: RegistryServer) throws {
        for name in SyncLayout.names {
            let local = try stowage(["inspect", "--raw", "--layout", layout, name]).stdoutBytes
            let remote = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(name)"])
            #expect(remote.status == 0, "\(remote.stderr)")
            #expect(remote.stdoutBytes == local, "\(name) on the registry is byte-identical")
        }
        let copy = try Command.run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(registry.host)/team/app:v1", "oci:\(directory.child("verify-\(UUID().uuidString.prefix(6))")):x"])
        #expect(copy.status == 0, "every blob is there and intact: \(copy.stderr)")
    }

    /// Blobs the registry confirmed (201 to the final PUT) more than once.
    func blobsConfirmedTwice(_ proxy: FaultProxy) -> [String] {
        var counts: [String: Int] = [:]
        for record in proxy.records where record.method == "PUT" && record.upstreamStatus == 201 && record.uri.contains("digest=") {
            let digest = String(record.uri[record.uri.range(of: "digest=")!.upperBound...].prefix(71))
            counts[digest, default: 0] += 1
        }
        return counts.filter { $0.value > 1 }.map(\.key)
    }

    @Test func syncThroughDropsErrorsAndThrottlingCompletes() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        let proxy = try FaultProxy(upstream: registry.host, rule: FaultProxy.oneFaultOfEachKind())
        let sync = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--json", proxy.host], chunkSize: 200_000)
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(proxy.records.contains { $0.outcome == .dropped }, "an upload was really dropped")
        #expect(proxy.records.filter { $0.method == "PATCH" }.count >= 4, "the large layer went in chunks")
        #expect(blobsConfirmedTwice(proxy).isEmpty, "no blob uploaded again once the registry confirmed it")
        try expectSynced(registry)
    }

    @Test func faultsOnEveryRequestStopAfterBoundedRetriesThenACleanRunCompletes() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        let proxy = try FaultProxy(upstream: registry.host) { request in
            request.path == "/v2/" ? .forward : .respond(status: 503, body: #"{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}"#)
        }
        let failed = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--retry-times", "2", proxy.host])
        #expect(failed.status != 0)
        #expect(failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains(proxy.host) && failed.stderr.contains("503") && failed.stderr.contains("after 2 retries"), "\(failed.stderr)")
        let attempts = proxy.records.filter { $0.path != "/v2/" }.count
        #expect(attempts == 3, "one request and two retries, then stop: \(attempts)")

        proxy.rule = { _ in .forward }
        let clean = try stowage(["sync", "--layout", layout, "--tls-verify=false", proxy.host])
        #expect(clean.status == 0, "\(clean.stderr)")
        try expectSynced(registry)
    }

    @Test func interruptedSyncRunAgainSendsOnlyWhatIsMissing() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        // The registry goes away after a few uploads.
        let uploads = Locked(0)
        let proxy = try FaultProxy(upstream: registry.host) { request in
            guard request.method == "PUT", request.uri.contains("digest=") else { return .forward }
            let count = uploads.withLock { value -> Int in
                value += 1
                return value
            }
            return count > 3 ? .respond(status: 503) : .forward
        }
        let interrupted = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--retry-times", "0", "--jobs", "1", proxy.host])
        #expect(interrupted.status != 0)
        let confirmedBefore = Set(proxy.records.filter { $0.method == "PUT" && $0.upstreamStatus == 201 && $0.uri.contains("digest=") }.map(\.uri))
        #expect(!confirmedBefore.isEmpty)

        proxy.rule = { _ in .forward }
        proxy.resetRecords()
        let resumed = try stowage(["sync", "--layout", layout, "--tls-verify=false", "--json", proxy.host])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let sentAgain = proxy.records.filter { $0.method == "PUT" && $0.uri.contains("digest=") }.map { record in
            String(record.uri[record.uri.range(of: "digest=")!.upperBound...].prefix(71))
        }
        let sentBefore = confirmedBefore.map { String($0[$0.range(of: "digest=")!.upperBound...].prefix(71)) }
        #expect(Set(sentAgain).isDisjoint(with: sentBefore), "blobs confirmed before are not sent again")
        try expectSynced(registry)
    }

    @Test func aFailedChunkResumesFromTheRegistrysOffset() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        // The second PATCH never reaches the registry: its session stays valid at the end of
        // the first chunk, so the client can ask where it stands and go on from there.
        let ranges = Locked<[String]>([])
        let patches = Locked(0)
        let proxy = try FaultProxy(upstream: registry.host) { request in
            guard request.method == "PATCH" else { return .forward }
            ranges.withLock { $0.append(request.header("Content-Range") ?? "") }
            let count = patches.withLock { value -> Int in
                value += 1
                return value
            }
            return count == 2 ? .respond(status: 503) : .forward
        }
        let push = try stowage(["push", "--layout", layout, "--tls-verify=false", "--jobs", "1", "team/big:1", "\(proxy.host)/team/big:1"], chunkSize: 200_000)
        #expect(push.status == 0, "\(push.stderr)")
        let sent = ranges.withLock { $0 }
        #expect(Array(sent.prefix(3)) == ["0-199999", "200000-399999", "200000-399999"], "the refused chunk is sent again from the registry's offset: \(sent)")
        let statusQueries = proxy.records.filter { $0.method == "GET" && $0.path.contains("/blobs/uploads/") }
        #expect(statusQueries.count == 1 && statusQueries.first?.status == 204, "one upload-status query")
        let sessions = proxy.records.filter { $0.method == "POST" && $0.path.hasSuffix("/blobs/uploads/") }
        #expect(sessions.count == 3, "one upload session per blob (config and two layers), none restarted")
        let remote = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/big:1"])
        #expect(remote.stdoutBytes == (try stowage(["inspect", "--raw", "--layout", layout, "team/big:1"]).stdoutBytes))
    }

    @Test func slowLinkStillCompletes() throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        let proxy = try FaultProxy(upstream: registry.host) { request in
            request.method == "PATCH" || request.method == "PUT" ? .slow(bytesPerSecond: 2_000_000) : .forward
        }
        let push = try stowage(["push", "--layout", layout, "--tls-verify=false", "team/big:1", "\(proxy.host)/team/big:1"], chunkSize: 250_000)
        #expect(push.status == 0, "\(push.stderr)")
        let remote = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/big:1"])
        #expect(remote.stdoutBytes == (try stowage(["inspect", "--raw", "--layout", layout, "team/big:1"]).stdoutBytes))
    }

    /// A fault for a fifth of all requests, chosen by `seed` and the request's position:
    /// 500, 502, 503, or 429 with `Retry-After`, on any method (POST, PATCH and PUT included).
    static func fault(seed: UInt64, index: Int) -> FaultProxy.Action {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        x = x &* 0x94D0_49BB_1331_11EB
        x ^= x >> 29
        guard x % 5 == 0 else { return .forward }
        switch (x / 5) % 4 {
        case 0: return .respond(status: 500)
        case 1: return .respond(status: 502)
        case 2: return .respond(status: 503)
        default: return .respond(status: 429, headers: [("Retry-After", "1")])
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func syncThroughFaultsOnAFifthOfAllRequestsCompletes(seed: UInt64) throws {
        let registry = try RegistryServer.started(.http)
        try makeLayout()
        // Requests go out in an order that varies from run to run; counting each method on
        // its own makes the faults land on the same uploads every time, and the first
        // blob PUT always meets one, so every seed tests a fault mid-upload.
        let counters = Locked([String: Int]())
        let proxy = try FaultProxy(upstream: registry.host) { request in
            let position = counters.withLock { counts -> Int in
                counts[request.method, default: 0] += 1
                return counts[request.method]!
            }
            if request.method == "PUT", position == 1 { return .respond(status: 503) }
            return Self.fault(seed: seed &+ UInt64(request.method.utf8.reduce(0) { $0 &* 31 &+ Int($1) }), index: position)
        }
        let sync = try stowage(
            ["sync", "--layout", layout, "--tls-verify=false", "--retry-times", "12", proxy.host], chunkSize: 200_000)
        #expect(sync.status == 0, "seed \(seed): \(sync.stderr)")
        let faulted = proxy.records.filter { if case .respond = $0.action { true } else { false } }
        #expect(faulted.contains { $0.method == "PATCH" } || faulted.contains { $0.method == "PUT" }, "seed \(seed): uploads met faults")
        try expectSynced(registry)
    }
}
