import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// skopeo's spellings work as skopeo users type them: boolean option values, `--layout`
/// before the command, short digests, several names at once, `:latest` for a bare destination.
@Suite struct SkopeoFlagsTests: LayoutSuite {
    let directory = TemporaryDirectory()

    /// The layout's names and their digests (`-` for the unnamed).
    func names() throws -> [String: String] {
        let rows = try JSONDecoder().decode([ImageSummary].self, from: Data(try stowage(["ls", "--json"]).stdout.utf8))
        return Dictionary(rows.map { ($0.reference ?? "-", $0.digest) }) { first, _ in first }
    }

    /// ParseBool's spellings, and what each means; bare `--tls-verify` means true.
    static let booleans: [(arguments: [String], verify: Bool)] =
        ["1", "t", "T", "TRUE", "true", "True"].map { (["--tls-verify=\($0)"], true) }
        + ["0", "f", "F", "FALSE", "false", "False"].map { (["--tls-verify=\($0)"], false) }
        + [(["--tls-verify"], true)]

    @Test func tlsVerifyTakesWhatGoParseBoolTakes() throws {
        let registry = try RegistryServer.started(.http)
        #expect(try stowage(["import", Fixtures.path("x86_64.tar"), "--tag", "team/app:v1"]).status == 0)
        for (arguments, verify) in Self.booleans {
            let push = try stowage(["push", "--retry-times", "0"] + arguments + ["team/app:v1", "\(registry.host)/team/app:v1"])
            if verify {
                // Certificates are checked, so the plain-HTTP registry is refused.
                #expect(push.status == 1 && push.stderr.contains("--tls-verify=false"), "\(arguments): \(push.stderr)")
            } else {
                #expect(push.status == 0, "\(arguments): \(push.stderr)")
            }
        }
        // skopeo's --src-/--dest-tls-verify are booleans of the same kind.
        let copy = try StowageBinary.run([
            "copy", "--src-tls-verify", "--dest-tls-verify=F", "oci:\(layout):team/app:v1", "docker://\(registry.host)/team/app:copied",
        ])
        #expect(copy.status == 0, "\(copy.stderr)")
    }

    @Test func anythingElseIsAUsageErrorNamingTheAcceptedValues() throws {
        for value in ["yes", "no", "tRUE"] {
            let result = try stowage(["push", "--tls-verify=\(value)", "team/app:v1", "127.0.0.1:9/team/app:v1"])
            #expect(result.status == 64, "\(value): \(result.stderr)")
            #expect(result.stderr.contains(
                "The value '\(value)' is invalid for '--tls-verify <BOOL>': use true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False), as in skopeo"),
                "\(result.stderr)")
        }
        let flag = try StowageBinary.run(["copy", "--all=maybe", "oci:\(layout)", "oci:\(layout)"])
        #expect(flag.status == 64)
        #expect(flag.stderr == "stowage: error: the value 'maybe' is invalid for --all; use true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False), as in skopeo\n")
    }

    @Test func layoutMayComeBeforeTheCommand() throws {
        let imported = try StowageBinary.run(["--layout", layout, "import", Fixtures.path("named.tar")])
        #expect(imported.status == 0, "\(imported.stderr)")
        let listed = try StowageBinary.run(["--layout=\(layout)", "ls"], environment: ["STOWAGE_LAYOUT": ""])
        #expect(listed.status == 0 && listed.stdout.contains("team/app:v1.0.0"), "\(listed.stderr)")
        let nested = try StowageBinary.run(["--layout", layout, "index", "create", "--tag", "team/app:multi", "team/app:v1.0.0"])
        #expect(nested.status == 0, "\(nested.stderr)")
        #expect(try names()["team/app:multi"] != nil)
    }

    @Test func shortDigestsResolveInTagInspectRmAndIndex() throws {
        #expect(try stowage(["import", Fixtures.path("x86_64.tar")]).status == 0)
        let short = String(Self.amd64Digest.prefix("sha256:".count + 12))
        let tag = try stowage(["tag", short, "team/app:amd64"])
        #expect(tag.status == 0, "\(tag.stderr)")
        #expect(tag.stdout == "team/app:amd64 -> \(Self.amd64Digest)\n")
        let bare = try stowage(["tag", String(short.dropFirst("sha256:".count)), "team/app:bare"])
        #expect(bare.status == 0, "\(bare.stderr)")
        let inspect = try stowage(["inspect", "--raw", short])
        let full = try stowage(["inspect", "--raw", Self.amd64Digest])
        #expect(inspect.status == 0 && inspect.stdoutBytes == full.stdoutBytes)
        let index = try stowage(["index", "create", "--tag", "team/app:index", short])
        #expect(index.status == 0, "\(index.stderr)")
        #expect(try names()["team/app:index"] != nil)
        let tooShort = try stowage(["tag", "sha256:340e505f", "team/app:x"])
        #expect(tooShort.status != 0)
        #expect(tooShort.stderr == "stowage: error: digest 'sha256:340e505f' is too short: give at least 12 hex digits, as `stowage ls` shows them\n")
        // An unnamed image is removed by its digest.
        #expect(try stowage(["import", Fixtures.path("aarch64.tar")]).status == 0)
        let unnamed = try #require(try names()["-"])
        let rm = try stowage(["rm", String(unnamed.prefix(19))])
        #expect(rm.status == 0, "\(rm.stderr)")
        #expect(rm.stdout == "removed unnamed \(unnamed.dropFirst(7).prefix(12)) (\(unnamed))\n")
        #expect(try names()["-"] == nil)
    }

    @Test func anAmbiguousShortDigestListsTheCandidates() throws {
        #expect(try stowage(["import", Fixtures.path("x86_64.tar")]).status == 0)
        let hex = String(Self.amd64Digest.dropFirst(7))
        let twin = String(hex.prefix(16)) + String(repeating: "0", count: 48)
        _ = FileManager.default.createFile(atPath: "\(layout)/blobs/sha256/\(twin)", contents: Data("x".utf8))
        let result = try stowage(["inspect", String(hex.prefix(12))])
        #expect(result.status == 1)
        #expect(result.stderr == "stowage: error: digest sha256:\(hex.prefix(12))… is ambiguous in layout \(layout): it starts 2 digests "
            + "(sha256:\(twin), \(Self.amd64Digest)); give more hex digits\n")
    }

    @Test func tagGivesSeveralNamesAndRmRemovesSeveralOrNone() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let tag = try stowage(["tag", "team/app:v1.0.0", "team/app:a", "team/app:b", "other/app"])
        #expect(tag.status == 0, "\(tag.stderr)")
        #expect(tag.stdout.split(separator: "\n").count == 3)
        #expect(Set(try names().keys) == ["team/app:v1.0.0", "team/app:a", "team/app:b", "other/app:latest"])
        let missing = try stowage(["rm", "team/app:a", "team/app:nope", "team/app:b"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("'team/app:nope'"), "\(missing.stderr)")
        #expect(Set(try names().keys).count == 4, "nothing was removed")
        let rm = try stowage(["rm", "team/app:a", "team/app:b", "other/app"])
        #expect(rm.status == 0, "\(rm.stderr)")
        #expect(rm.stdout == "removed team/app:a (\(Self.amd64Digest))\nremoved team/app:b (\(Self.amd64Digest))\nremoved other/app:latest (\(Self.amd64Digest))\n")
        #expect(Set(try names().keys) == ["team/app:v1.0.0"])
    }

    @Test func aDestinationWithoutATagIsLatest() throws {
        let registry = try RegistryServer.started(.http)
        #expect(try stowage(["import", Fixtures.path("x86_64.tar"), "--tag", "team/app:x"]).status == 0)
        let push = try stowage(["push", "--tls-verify=false", "team/app:x", "\(registry.host)/team/other"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout.hasPrefix("pushed \(registry.host)/team/other:latest (\(Self.amd64Digest))\n"), "\(push.stdout)")
        let copy = try StowageBinary.run(["copy", "--dest-tls-verify=false", "oci:\(layout):team/app:x", "docker://\(registry.host)/team/copied"])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(copy.stdout.contains("docker://\(registry.host)/team/copied:latest"), "\(copy.stdout)")
        let stored = try stowage(["inspect", "--raw", "team/app:x"]).stdoutBytes
        for repository in ["team/other", "team/copied"] {
            let raw = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(repository):latest"])
            #expect(raw.status == 0, "\(repository): \(raw.stderr)")
            #expect(raw.stdoutBytes == stored)
        }
    }
}
