import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// Registries that send headers and then stall, drip a byte now and then, or stop
/// reading an upload: every such transfer ends after `--timeout`, with an error that
/// names the registry, what was being moved and how long Stowage waited, and leaves
/// nothing behind in the layout.
@Suite struct RegistryStallTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    /// Runs `stowage ARGS`, killing it if it outlives `limit` seconds (then `finished` is false).
    func runBounded(_ arguments: [String], limit: Double = 90) throws -> (status: Int32, stderr: String, finished: Bool) {
        let process = try StowageBinary.start(arguments, environment: ["STOWAGE_RETRY_DELAY": "0.05"])
        let finished = eventually(within: limit) { !process.isRunning }
        if !finished { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (process.terminationStatus, StowageBinary.errors(of: process), finished)
    }

    static let image = TestImage.make(layers: [pseudoRandomBytes(1_000_000, seed: 61)])
    static var configDigest: Digest { ContentHasher.digest(of: image.config) }
    static var layerDigest: Digest { ContentHasher.digest(of: image.layers[0]) }

    /// A registry serving `image` as team/app:1, with `override` deciding first.
    func registry(_ override: @escaping @Sendable (HostileRegistry.Request) -> HostileRegistry.Behaviour?) throws -> HostileRegistry {
        let image = Self.image
        return try HostileRegistry { request in
            if let behaviour = override(request) { return behaviour }
            switch request.path {
            case "/v2/": return .respond(status: 200, body: Array("{}".utf8))
            case "/v2/team/app/manifests/1":
                return .respond(status: 200, headers: [
                    ("Content-Type", MediaType.ociManifest.rawValue), ("Docker-Content-Digest", image.descriptor.digest.string),
                ], body: image.manifest)
            case "/v2/team/app/blobs/\(Self.configDigest)": return .respond(status: 200, body: image.config)
            case "/v2/team/app/blobs/\(Self.layerDigest)": return .respond(status: 200, body: image.layers[0])
            default: return .respond(status: 404)
            }
        }
    }

    func expectNothingLeft(_ context: String) throws {
        let temporary = "\(layout)/.stowage/tmp"
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        #expect(leftovers.isEmpty, "\(context): no temporary files left: \(leftovers)")
    }

    @Test func aManifestThatDripsEndsAfterTheTimeout() throws {
        let image = Self.image
        let server = try registry { request in
            guard request.path == "/v2/team/app/manifests/1" else { return nil }
            return .stall(status: 200, headers: [("Content-Type", MediaType.ociManifest.rawValue)],
                          body: image.manifest, sendFirst: 10, dripInterval: 0.5)
        }
        let pull = try runBounded(["pull", "--layout", layout, "--tls-verify=false", "--timeout", "2s", "--retry-times", "1", "\(server.host)/team/app:1"])
        #expect(pull.finished, "the pull ended by itself")
        #expect(pull.status != 0)
        #expect(pull.stderr.contains("registry \(server.host)"), "\(pull.stderr)")
        #expect(pull.stderr.contains("manifest team/app:1"), "\(pull.stderr)")
        #expect(pull.stderr.contains("2s"), "\(pull.stderr)")
        #expect(pull.stderr.split(separator: "\n").count == 1, "\(pull.stderr)")
        try expectNothingLeft("manifest")
    }

    @Test func aManifestWhoseBodyNeverComesEndsAfterTheTimeout() throws {
        let image = Self.image
        let server = try registry { request in
            guard request.path == "/v2/team/app/manifests/1" else { return nil }
            return .stall(status: 200, headers: [("Content-Type", MediaType.ociManifest.rawValue)],
                          body: image.manifest, sendFirst: 0, dripInterval: nil)
        }
        let pull = try runBounded(["pull", "--layout", layout, "--tls-verify=false", "--timeout", "2s", "--retry-times", "0", "\(server.host)/team/app:1"])
        #expect(pull.finished, "the pull ended by itself")
        #expect(pull.status != 0)
        #expect(pull.stderr.contains("registry \(server.host)") && pull.stderr.contains("2s"), "\(pull.stderr)")
    }

    @Test func aStalledBlobDownloadEndsAfterTheTimeoutAndLeavesNothing() throws {
        let image = Self.image
        let server = try registry { request in
            guard request.path == "/v2/team/app/blobs/\(Self.layerDigest)" else { return nil }
            return .stall(status: 200, headers: [], body: image.layers[0], sendFirst: 1000, dripInterval: nil)
        }
        let pull = try runBounded(["pull", "--layout", layout, "--tls-verify=false", "--timeout", "2s", "--retry-times", "1", "\(server.host)/team/app:1"])
        #expect(pull.finished, "the pull ended by itself")
        #expect(pull.status != 0)
        #expect(pull.stderr.contains("registry \(server.host)"), "\(pull.stderr)")
        #expect(pull.stderr.contains("blob \(Self.layerDigest)"), "\(pull.stderr)")
        #expect(pull.stderr.contains("sent nothing for 2s"), "\(pull.stderr)")
        #expect(server.requests.filter { $0.path.contains(Self.layerDigest.hex) }.count == 2, "the stalled attempt was retried once")
        try expectNothingLeft("blob")
        let names = try StowageBinary.run(["ls", "--layout", layout])
        #expect(names.status == 0, "\(names.stderr)")
        #expect(!names.stdout.contains("team/app"), "nothing was named: \(names.stdout)")
    }

    @Test func anUploadTheRegistryStopsReadingEndsAfterTheTimeout() throws {
        let big = TestImage.make(layers: [pseudoRandomBytes(24 << 20, seed: 62)])
        let archive = directory.child("big.tar")
        try ArchiveBuilder.ociArchive(big).write(to: archive)
        let imported = try StowageBinary.run(["import", "--layout", layout, "--tag", "team/big:1", archive])
        #expect(imported.status == 0, "\(imported.stderr)")
        let server = try HostileRegistry { request in
            switch (request.method, request.path) {
            case ("GET", "/v2/"): return .respond(status: 200, body: Array("{}".utf8))
            case ("HEAD", _): return .respond(status: 404)
            case ("POST", _): return .respond(status: 202, headers: [("Location", "/v2/team/big/blobs/uploads/session"), ("Range", "0-0")])
            case ("PUT", _), ("PATCH", _): return .stopReading
            default: return .respond(status: 404)
            }
        }
        let push = try runBounded(["push", "--layout", layout, "--tls-verify=false", "--timeout", "2s", "--retry-times", "0", "--jobs", "1", "team/big:1", "\(server.host)/team/big:1"])
        #expect(push.finished, "the push ended by itself")
        #expect(push.status != 0)
        #expect(push.stderr.contains("registry \(server.host)"), "\(push.stderr)")
        #expect(push.stderr.contains("upload of blob"), "\(push.stderr)")
        #expect(push.stderr.contains("2s"), "\(push.stderr)")
    }

    @Test func retriesAgainstARegistryThatAlwaysFailsEndInBoundedTime() throws {
        let server = try HostileRegistry { request in
            request.path == "/v2/" ? .respond(status: 200, body: Array("{}".utf8))
                : .respond(status: 500, headers: [("Retry-After", "30")])
        }
        let pull = try runBounded(["pull", "--layout", layout, "--tls-verify=false", "--timeout", "3s", "--retry-times", "8", "\(server.host)/team/app:1"])
        #expect(pull.finished, "the pull ended by itself, though each retry asked for 30 s")
        #expect(pull.status != 0)
        #expect(pull.stderr.contains("registry \(server.host)"), "\(pull.stderr)")
        #expect(pull.stderr.contains("answered 500"), "\(pull.stderr)")
        #expect(pull.stderr.contains("retries over 3s"), "\(pull.stderr)")
    }
}
