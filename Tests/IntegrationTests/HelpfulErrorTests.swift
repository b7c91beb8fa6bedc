import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// Mistakes a first-time user makes get one line that says what happened and what to do.
@Suite struct HelpfulErrorTests: LayoutSuite {
    let directory = TemporaryDirectory()

    /// `stowage: error: MESSAGE` and nothing else on stderr.
    func expectError(_ result: CommandResult, _ message: String, status: Int32 = 1, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "exit status of: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr == "stowage: error: \(message)\n", sourceLocation: sourceLocation)
    }

    @Test func typosNameTheCommandMeant() throws {
        expectError(try StowageBinary.run(["imprt", "x.tar"]), "unknown command 'imprt'; did you mean 'import'?", status: 64)
        expectError(try StowageBinary.run(["index", "crete", "--tag", "a:1", "b"]), "unknown command 'index crete'; did you mean 'index create'?", status: 64)
        expectError(try StowageBinary.run(["sl"]), "unknown command 'sl'; did you mean 'ls'?", status: 64)
        expectError(try StowageBinary.run(["--layout", layout, "expotr"]), "unknown command 'expotr'; did you mean 'export'?", status: 64)
        expectError(try StowageBinary.run(["frobnicate"]), "unknown command 'frobnicate'; `stowage --help` lists the commands", status: 64)
        expectError(try StowageBinary.run(["index", "zap"]), "unknown command 'index zap'; `stowage index --help` lists the commands", status: 64)
        expectError(try StowageBinary.run(["help", "imprt"]), "unknown command 'imprt'; did you mean 'import'?", status: 64)
        expectError(try StowageBinary.run(["help", "index", "crete"]), "unknown command 'index crete'; did you mean 'index create'?", status: 64)
        let help = try StowageBinary.run(["help", "index", "create"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: stowage index create"), "\(help.stdout)")
    }

    @Test func aConnectionRefusedNamesHostAndPortAndAsksWhetherTheRegistryRuns() throws {
        let port = try FreePort.next()
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let attempts: [[String]] = [
            ["push", "--tls-verify=false", "--retry-times", "0", "team/app:v1.0.0", "127.0.0.1:\(port)/team/app:v1"],
            ["pull", "--tls-verify=false", "--retry-times", "0", "127.0.0.1:\(port)/team/app:v1"],
        ]
        let message = "cannot reach registry 127.0.0.1:\(port) at https://127.0.0.1:\(port): connection refused by 127.0.0.1:\(port); is a registry running there?"
        for attempt in attempts {
            expectError(try stowage(attempt), message)
        }
        let copy = try StowageBinary.run([
            "copy", "--retry-times", "0", "--dest-tls-verify=false", "oci:\(layout):team/app:v1.0.0", "docker://127.0.0.1:\(port)/team/app:v1",
        ])
        expectError(copy, message)
    }

    @Test func anUntrustedCertificateSaysSoAndWhatToPass() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let registry = try RegistryServer.started(.tls(ca))
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let result = try stowage(["push", "--retry-times", "0", "team/app:v1.0.0", "\(registry.host)/team/app:v1"])
        expectError(
            result,
            "cannot reach registry \(registry.host) at https://\(registry.host): the certificate of \(registry.host) is signed by an unknown authority; "
                + "pass --ca-file or --cert-dir, or --tls-verify=false for a trusted registry")
        for word in ["BoringSSL", ".build/", "errno", "NIO"] { #expect(!result.stderr.contains(word), "\(result.stderr)") }
    }

    @Test func transportPrefixesAreTakenOrExplained() throws {
        let imported = try stowage(["import", "oci-archive:\(Fixtures.path("named.tar"))"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let docker = try stowage(["import", "docker-archive:\(Fixtures.path("docker.tar"))"])
        #expect(docker.status == 0, "\(docker.stderr)")
        let withReference = "oci-archive:\(Fixtures.path("named.tar")):team/app:v1.0.0"
        expectError(
            try stowage(["import", withReference]),
            "'\(withReference)': import reads every image of \(Fixtures.path("named.tar")), so drop ':team/app:v1.0.0'; to take one image, use `stowage copy \(withReference) oci:LAYOUT:NAME`",
            status: 2)
        expectError(
            try stowage(["tag", "team/app:v1.0.0", "docker://127.0.0.1:5000/team/app:v1"]),
            "'docker://127.0.0.1:5000/team/app:v1' is a registry reference, but names in a layout have no transport: drop 'docker://' (pull, push and copy reach registries)")
        expectError(
            try StowageBinary.run(["copy", "oci:\(layout):team/app:v1.0.0", "127.0.0.1:5000/r:t"]),
            "'127.0.0.1:5000/r:t' names no transport; for an image in a registry write docker://127.0.0.1:5000/r:t", status: 2)
    }

    @Test func aLayoutThatIsAFileIsCalledAFile() throws {
        let file = directory.child("file")
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        expectError(try StowageBinary.run(["ls", "--layout", file]), "\(file) is a file, not a layout directory; give --layout the directory of an OCI layout")
        expectError(try StowageBinary.run(["import", "--layout", file, Fixtures.path("named.tar")]), "\(file) is a file, not a layout directory; give --layout the directory of an OCI layout")
    }

    @Test func exportIntoAMissingDirectoryNamesTheDirectory() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let missing = directory.child("no/such/dir")
        expectError(try stowage(["export", "-o", "\(missing)/app.tar"]), "cannot write \(missing)/app.tar: directory \(missing) does not exist; create it first")
    }

    @Test func inspectOfALayerSaysItIsALayer() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let manifest = try JSONCoding.decode(Manifest.self, from: try stowage(["inspect", "--raw", "team/app:v1.0.0"]).stdoutBytes, what: "manifest")
        let layer = manifest.layers[0].digest
        expectError(
            try stowage(["inspect", layer.string]),
            "blob \(layer) is a layer, not a manifest or index; give an image's name or manifest digest (`stowage ls` lists them)")
        expectError(
            try stowage(["inspect", manifest.config.digest.string]),
            "blob \(manifest.config.digest) is an image config or another JSON blob, not a manifest or index; give an image's name or manifest digest (`stowage ls` lists them)")
    }

    @Test func aShortNameGetsTheFullNameItMayMean() throws {
        #expect(try stowage(["import", "--tag", "docker.io/team/app:docker", Fixtures.path("x86_64.tar")]).status == 0)
        let message = "no image named 'team/app:docker' in layout \(layout); did you mean 'docker.io/team/app:docker'?"
        expectError(try stowage(["inspect", "team/app:docker"]), message)
        expectError(try stowage(["tag", "team/app:docker", "team/app:new"]), message)
        expectError(try stowage(["rm", "team/app:docker"]), message)
    }
}
