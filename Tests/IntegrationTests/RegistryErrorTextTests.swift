import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// What a user reads when a registry cannot be reached, is not trusted, or sends
/// hostile text: one line, in the user's terms, with no library internals and no
/// terminal escape sequences.
@Suite struct RegistryErrorTextTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func pull(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(["pull", "--layout", layout, "--retry-times", "0"] + arguments, environment: ["STOWAGE_RETRY_DELAY": "0.05"])
    }

    func expectClean(_ result: CommandResult) {
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        for word in ["errno", "NIO", "BoringSSL", "HTTPClientError", ".build/", "Error(", "\u{1B}"] {
            #expect(!result.stderr.contains(word), "no '\(word)' in: \(result.stderr)")
        }
    }

    @Test func aRegistryThatIsNotRunning() throws {
        let port = try FreePort.next()
        let result = try pull(["--tls-verify=false", "127.0.0.1:\(port)/team/app:1"])
        expectClean(result)
        #expect(result.stderr.contains("connection refused by 127.0.0.1:\(port); is a registry running there?"), "\(result.stderr)")
    }

    @Test func aCertificateFromAnUnknownAuthority() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let registry = try RegistryServer.started(.tls(ca))
        let result = try pull(["\(registry.host)/team/app:1"])
        expectClean(result)
        #expect(result.stderr.contains("signed by an unknown authority"), "\(result.stderr)")
        #expect(result.stderr.contains("--ca-file") && result.stderr.contains("--cert-dir") && result.stderr.contains("--tls-verify=false"), "\(result.stderr)")
    }

    @Test func hostileTextFromARegistryIsCleaned() throws {
        let server = try HostileRegistry { request in
            if request.path == "/v2/" { return .respond(status: 200, body: Array("{}".utf8)) }
            let body = #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"\u001b[2J\u001b]0;owned\u0007gone\nfake: line"}]}"#
            return .respond(status: 404, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        }
        let result = try pull(["--tls-verify=false", "\(server.host)/team/app:1"])
        expectClean(result)
        #expect(result.stderr.contains("MANIFEST_UNKNOWN gone fake: line"), "\(result.stderr)")
    }

    @Test func aManifestLargerThanStowageReads() throws {
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: (16 << 20) + 1)
        let server = try HostileRegistry { request in
            if request.path == "/v2/" { return .respond(status: 200, body: Array("{}".utf8)) }
            return .respond(status: 200, headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: huge)
        }
        let result = try pull(["--tls-verify=false", "\(server.host)/team/app:1"])
        expectClean(result)
        #expect(result.stderr.contains("larger than 16 MiB"), "\(result.stderr)")
    }
}
