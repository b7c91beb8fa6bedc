import Foundation
import RegistryTestSupport
import StowageTestSupport
import Testing

/// `copy --src-*` and `--dest-*` reach one side only, between two real registries:
/// the source on HTTPS with its own CA and user, the destination on plain HTTP with another.
@Suite struct CopySideOptionsTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: ["STOWAGE_RETRY_DELAY": "0.05"])
    }

    @Test func eachSideGetsItsOwnOptions() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let source = try RegistryServer.started(.basicAuth(user: "reader", password: "src-pass", tls: ca))
        let destination = try RegistryServer.started(.basicAuth(user: "writer", password: "dest-pass", tls: nil))
        let certs = try ca.makeCertificateDirectory(at: directory.child("certs"), includeClientCertificate: false)
        #expect(try stowage(["import", "--layout", layout, "--tag", "team/app:v1", Fixtures.path("multi.tar")]).status == 0)
        let seeded = try stowage([
            "push", "--layout", layout, "--cert-dir", certs, "--creds", "reader:src-pass", "team/app:v1", "\(source.host)/team/app:v1",
        ])
        #expect(seeded.status == 0, "\(seeded.stderr)")

        let from = "docker://\(source.host)/team/app:v1"
        let to = "docker://\(destination.host)/mirror/app:v1"
        let sourceOptions = ["--src-cert-dir", certs, "--src-creds", "reader:src-pass"]
        let destinationOptions = ["--dest-tls-verify=false", "--dest-creds", "writer:dest-pass"]
        let copy = try stowage(["copy", "--retry-times", "0", "--all"] + sourceOptions + destinationOptions + [from, to])
        #expect(copy.status == 0, "\(copy.stderr)")
        let copied = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "writer:dest-pass", to])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(copied.stdoutBytes == (try stowage(["inspect", "--raw", "--layout", layout, "team/app:v1"]).stdoutBytes), "the index bytes, unchanged")

        // --dest-tls-verify=false does not reach the source: its certificate is checked.
        let noSourceCA = try stowage(["copy", "--retry-times", "0", "--src-creds", "reader:src-pass"] + destinationOptions + [from, to])
        #expect(noSourceCA.status == 1)
        #expect(noSourceCA.stderr.contains("registry \(source.host)") && noSourceCA.stderr.contains("unknown authority"), "\(noSourceCA.stderr)")
        // --dest-creds do not reach the source.
        let noSourceCreds = try stowage(["copy", "--retry-times", "0", "--src-cert-dir", certs] + destinationOptions + [from, to])
        #expect(noSourceCreds.status == 1)
        #expect(noSourceCreds.stderr.contains(source.host) && !noSourceCreds.stderr.contains(destination.host), "\(noSourceCreds.stderr)")
        // --src-creds and --src-tls-verify do not reach the destination.
        let noDestinationCreds = try stowage(["copy", "--retry-times", "0", "--dest-tls-verify=false"] + sourceOptions + [from, to])
        #expect(noDestinationCreds.status == 1)
        #expect(noDestinationCreds.stderr.contains(destination.host), "\(noDestinationCreds.stderr)")
        let plainRefused = try stowage(["copy", "--retry-times", "0", "--src-tls-verify=false", "--src-creds", "reader:src-pass", "--dest-creds", "writer:dest-pass", from, to])
        #expect(plainRefused.status == 1)
        #expect(plainRefused.stderr.contains(destination.host) && plainRefused.stderr.contains("--tls-verify=false"), "\(plainRefused.stderr)")
    }
}
