import Foundation
import RegistryTestSupport
import StowageTestSupport
import Testing

/// The README's walk-through is part of the product: its `sh` blocks under "Using it"
/// run here as written, in order, in one bash with `set -euo pipefail`. Only the places
/// change: `/srv`, `/media/disk` and `/run/secrets` move into a temporary directory, and
/// `registry.example.com` is a real local registry that wants HTTPS and a password,
/// trusted and logged in to the way a skopeo user's machine is (a CA under
/// `~/.config/containers/certs.d/HOST/`, credentials in `~/.docker/config.json`).
/// `buildah push` stands for the builders: their archives are the bundled fixtures.
@Suite(.serialized) struct ReadmeTests {
    static let readme = "\(Fixtures.repositoryRoot)/README.md"

    /// The `sh` blocks of the section "Using it", in order.
    static func walkThrough() throws -> [String] {
        let text = try String(contentsOfFile: readme, encoding: .utf8)
        guard let start = text.range(of: "\n## Using it\n") else { throw ReadmeError("README.md has no '## Using it' section") }
        let section = text[start.upperBound...].components(separatedBy: "\n## ").first ?? ""
        var blocks: [String] = []
        var current: [String]?
        for line in section.components(separatedBy: "\n") {
            if current == nil, line == "```sh" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    struct ReadmeError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func theWalkThroughRunsAsWritten() throws {
        try #require(RegistryServer.isAvailable, "docker-registry is not installed")
        let blocks = try Self.walkThrough()
        #expect(blocks.count >= 3, "the walk-through has its three parts")
        let commands = blocks.joined(separator: "\n")
        for command in ["import", "index create", "inspect", "export", "inventory", "sync", "push", "pull", "mirror"] {
            #expect(commands.contains("stowage \(command)") || commands.contains(" \(command) "), "the walk-through shows \(command)")
        }

        let directory = TemporaryDirectory("readme")
        let ca = try TestCertificateAuthority()
        let registry = try RegistryServer.started(.basicAuth(user: "builder", password: "s3cret", tls: ca))
        defer { registry.stop() }
        let root = directory.path
        let fm = FileManager.default
        for folder in ["srv/oci-images", "media/disk", "run/secrets", "work", "home/.docker", "home/.config/containers/certs.d/\(registry.host)"] {
            try fm.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
        }
        for (file, _) in Fixtures.perArchitecture {
            try fm.copyItem(atPath: Fixtures.path(file), toPath: "\(root)/srv/oci-images/\(file)")
        }
        try fm.copyItem(atPath: ca.caCertificate, toPath: "\(root)/home/.config/containers/certs.d/\(registry.host)/ca.crt")
        let auth = Data("builder:s3cret".utf8).base64EncodedString()
        let config = Data(#"{"auths":{"\#(registry.host)":{"auth":"\#(auth)"}}}"#.utf8)
        try config.write(to: URL(fileURLWithPath: "\(root)/home/.docker/config.json"))
        try config.write(to: URL(fileURLWithPath: "\(root)/run/secrets/config.json"))

        var script = commands
        for (place, moved) in [
            ("/srv/", "\(root)/srv/"), ("/media/disk", "\(root)/media/disk"), ("/run/secrets/", "\(root)/run/secrets/"),
            ("registry.example.com", registry.host),
        ] {
            script = script.replacingOccurrences(of: place, with: moved)
        }
        // The line that says which platforms it prints also keeps what it printed.
        let platformsLine = try #require(script.components(separatedBy: "\n").first { $0.hasPrefix("stowage inspect --platforms") })
        let parts = platformsLine.components(separatedBy: "# ")
        try #require(parts.count == 2, "the `inspect --platforms` line says what it prints in a comment")
        let promised = parts[1].trimmingCharacters(in: .whitespaces)
        script = script.replacingOccurrences(of: platformsLine, with: "\(parts[0]) | tee \(root)/platforms.txt")

        let bin = URL(fileURLWithPath: StowageBinary.path).deletingLastPathComponent().path
        let prelude = """
            set -euo pipefail
            cd \(root)/work
            buildah() { echo "buildah $*: the fixture is in place"; }

            """
        let result = try Command.run("bash", ["-c", prelude + script], environment: [
            "PATH": "\(bin):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
            "HOME": "\(root)/home", "STOWAGE_LAYOUT": "", "DOCKER_CONFIG": "", "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": "",
        ])
        #expect(result.status == 0, "the README's commands failed:\n\(result.stderr.suffix(3000))\n--- stdout ---\n\(result.stdout.suffix(3000))")
        guard result.status == 0 else { return }

        let printed = try String(contentsOfFile: "\(root)/platforms.txt", encoding: .utf8)
            .split(separator: "\n").joined(separator: ", ")
        #expect(printed == promised, "the README says `inspect --platforms` prints \(promised); it printed \(printed)")
        // What the walk-through sent is in the registry, and came back.
        #expect(result.stdout.contains("\(registry.host)/team/app:v1.0.0"), "\(result.stdout.suffix(2000))")
        let tags = try StowageBinary.run(["ls", "--ca-file", ca.caCertificate, "--creds", "builder:s3cret", "docker://\(registry.host)/team/app"])
        #expect(tags.stdout.split(separator: "\n") == ["amd64", "latest", "v1.0.0"], "\(tags.stdout) \(tags.stderr)")
        let site = try StowageBinary.run(["verify", "--layout", "\(root)/media/disk/site"])
        #expect(site.status == 0, "\(site.stdout) \(site.stderr)")
    }
}
