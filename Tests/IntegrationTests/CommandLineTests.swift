import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// The command-line contract: outputs, exit statuses and one-line errors.
@Suite struct CommandLineTests {
    /// A row of `stowage ls --json`.
    typealias Row = ImageSummary

    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout])
    }

    func expectOneLineError(_ result: CommandResult, mentioning words: [String]) {
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line on stderr: \(result.stderr)")
        #expect(result.stderr.hasPrefix("stowage: error: "), "\(result.stderr)")
        for word in words { #expect(result.stderr.contains(word), "stderr mentions \(word): \(result.stderr)") }
    }

    @Test func helpListsEveryCommand() throws {
        let help = try StowageBinary.run(["--help"])
        #expect(help.status == 0)
        for command in ["import", "ls", "inspect", "tag", "rm"] {
            #expect(help.stdout.contains("  \(command) "), "help lists \(command)")
        }
        let importHelp = try StowageBinary.run(["import", "--help"])
        #expect(importHelp.stdout.contains("--tag <REF>"))
        #expect(importHelp.stdout.contains("--layout <DIR>"))
    }

    @Test func listPrintsReferencesDigestsTypesSizesAndPlatforms() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")]).status == 0)
        let json = try stowage(["ls", "--json"])
        #expect(json.status == 0)
        let rows = try JSONDecoder().decode([Row].self, from: Data(json.stdout.utf8))
        var expected = [
            Row(reference: "team/app:v1.0.0", digest: "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c",
                mediaType: MediaType.ociManifest.rawValue, size: 753, platforms: ["linux/amd64"]),
            Row(reference: "team/app:multi", digest: "sha256:9a32f6786e4077257c9dedaee03f54903261bc63c7679f67b05b3a70484655d1",
                mediaType: MediaType.ociIndex.rawValue, size: 710, platforms: ["linux/amd64", "linux/arm64/v8", "linux/ppc64le"]),
        ]
        // Manifest, config and layer; the index, its three manifests and their blobs (ListFormatTests sums the files).
        expected[0].totalSize = 1902
        expected[1].totalSize = 5695
        #expect(rows == expected)
        let table = try stowage(["ls"]).stdout.split(separator: "\n")
        #expect(table.count == 3)
        #expect(table[0].hasPrefix("REFERENCE"))
        #expect(table[2].contains("team/app:multi") && table[2].contains("linux/arm64/v8"))
    }

    @Test func listTakesRepositoriesToListOnly() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")]).status == 0)
        #expect(try stowage(["tag", "team/app:multi", "team/other:x"]).status == 0)
        #expect(try stowage(["tag", "team/app:multi", "host:5000/team/app:y"]).status == 0)
        func names(_ arguments: [String]) throws -> [String?] {
            let result = try stowage(["ls", "--json"] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try JSONDecoder().decode([Row].self, from: Data(result.stdout.utf8)).map(\.reference)
        }
        #expect(try names(["team/app"]) == ["team/app:v1.0.0", "team/app:multi"])
        #expect(try names(["team/other", "host:5000/team/app"]) == ["team/other:x", "host:5000/team/app:y"])
        #expect(try names(["team"]) == [], "a repository is matched whole, not as a prefix")
        #expect(try names([]).count == 4)
        let table = try stowage(["ls", "team/other"]).stdout.split(separator: "\n")
        #expect(table.count == 2 && table[1].contains("linux/arm64/v8"))
    }

    @Test func listQuietPrintsOnlyReferences() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")]).status == 0)
        #expect(try stowage(["rm", "team/app:v1.0.0"]).status == 0)
        #expect(try stowage(["tag", "team/app:multi", "team/other:x"]).status == 0)
        let quiet = try stowage(["ls", "-q"])
        #expect(quiet.status == 0)
        #expect(quiet.stdout == "team/app:multi\nteam/other:x\n")
        #expect(try stowage(["ls", "--quiet", "team/other"]).stdout == "team/other:x\n")
        // An unnamed image is listed by its digest.
        let digest = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
        try Layout.open(layout).updateIndex(purpose: "test") { index in
            index.addUnnamed(Descriptor(mediaType: .ociManifest, digest: try Digest(digest), size: 753))
        }
        #expect(try stowage(["ls", "-q"]).stdout == "team/app:multi\nteam/other:x\n\(digest)\n")
        let both = try stowage(["ls", "-q", "--json"])
        #expect(both.status != 0 && both.stderr.contains("--json, --quiet and --format cannot be combined"))
    }

    @Test func inspectRawPrintsTheStoredBytes() throws {
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let raw = try stowage(["inspect", "--raw", "team/app:v1.0.0"])
        let stored = try Array(Data(contentsOf: URL(fileURLWithPath:
            "\(layout)/blobs/sha256/340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c")))
        #expect(raw.stdoutBytes == stored)
        let byDigest = try stowage(["inspect", "--raw", "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"])
        #expect(byDigest.stdoutBytes == stored)
        let pretty = try stowage(["inspect", "team/app:v1.0.0"])
        #expect(pretty.stdout.contains("\"schemaVersion\" : 2"))
    }

    @Test func tagAndRemoveMoveNamesButKeepBlobs() throws {
        #expect(try stowage(["import", Fixtures.path("x86_64.tar")]).status == 0)
        let digest = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
        #expect(try stowage(["tag", digest, "team/app:v1"]).status == 0)
        #expect(try stowage(["tag", "team/app:v1", "registry.example.com:5000/team/app"]).status == 0)
        let names = try stowage(["ls", "--json"]).stdout
        #expect(names.contains("\"team/app:v1\""))
        #expect(names.contains("registry.example.com:5000/team/app:latest"))
        let blobsBefore = try LayoutSnapshot(layout).blobNames
        #expect(try stowage(["rm", "team/app:v1"]).status == 0)
        #expect(try stowage(["rm", "registry.example.com:5000/team/app"]).status == 0)
        let remaining = try JSONDecoder().decode([[String: JSONValue]].self, from: Data(try stowage(["ls", "--json"]).stdout.utf8))
        #expect(remaining.isEmpty)
        #expect(try LayoutSnapshot(layout).blobNames == blobsBefore)
        expectOneLineError(try stowage(["rm", "team/app:v1"]), mentioning: ["team/app:v1"])
    }

    @Test func errorsAreOneLineAndNonZero() throws {
        // An archive that does not exist.
        expectOneLineError(try stowage(["import", directory.child("missing.tar")]), mentioning: ["missing.tar"])
        // A hostile archive: the message names the archive and the entry.
        let hostile = directory.child("evil.tar")
        try ArchiveBuilder(entries: [.file("../../etc/evil", [1])]).write(to: hostile)
        expectOneLineError(try stowage(["import", hostile]), mentioning: ["evil.tar", "../../etc/evil"])
        // Names that are not references.
        #expect(try stowage(["import", Fixtures.path("x86_64.tar")]).status == 0)
        expectOneLineError(
            try stowage(["tag", "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c", "Team/App"]),
            mentioning: ["Team/App"])
        expectOneLineError(try stowage(["inspect", "nope:1"]), mentioning: ["nope:1"])
        // --tag with several archives.
        let both = try stowage(["import", "--tag", "team/x:1", Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar")])
        #expect(both.status != 0)
        #expect(both.stderr.contains("--tag"))
        // No layout at all.
        let noLayout = try StowageBinary.run(["ls"], environment: ["STOWAGE_LAYOUT": ""])
        expectOneLineError(noLayout, mentioning: ["--layout"])
        // A directory that is not a layout.
        let notLayout = directory.child("not-a-layout")
        try FileManager.default.createDirectory(atPath: notLayout, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(notLayout)/notes.txt", contents: Data("x".utf8))
        expectOneLineError(try StowageBinary.run(["ls", "--layout", notLayout]), mentioning: ["oci-layout"])
        expectOneLineError(
            try StowageBinary.run(["import", "--layout", notLayout, Fixtures.path("x86_64.tar")]), mentioning: ["not an OCI layout"])
    }

    /// Valid docker references that skopeo's `oci:` transport refuses ("Invalid image team/app:v1_").
    static let namesSkopeoCannotRead = [
        "team/app:v1_", "team/app:v1-", "team/app:_x", "team/app:v1..2", "team__x/app:v1", "[::1]:5000/app:v1",
    ]

    @Test(arguments: namesSkopeoCannotRead)
    func namesSkopeoCannotReadAreRefusedEverywhere(_ name: String) throws {
        #expect(try stowage(["import", Fixtures.path("named.tar")]).status == 0)
        let before = try LayoutSnapshot(layout)
        let attempts: [[String]] = [
            ["tag", "team/app:v1.0.0", name],
            ["import", "--tag", name, Fixtures.path("x86_64.tar")],
            ["index", "create", "--tag", name, Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar")],
            ["pull", "--tag", name, "docker://127.0.0.1:9/team/app:v1"],
        ]
        for attempt in attempts {
            expectOneLineError(try stowage(attempt), mentioning: [name, "separator ::= [-._:@+] | \"--\""])
        }
        #expect(try LayoutSnapshot(layout) == before, "nothing is written to the layout")
    }

    /// `name@digest` of every entry of a layout's index.json, in order (`-` for no name).
    func entries(_ directory: String) throws -> [String] {
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: "\(directory)/index.json")))
        return try JSONCoding.decode(Index.self, from: bytes, what: "index.json").manifests.map { "\($0.refName ?? "-")@\($0.digest)" }
    }

    @Test func copyToALayoutWritesExactlyTheNameGivenAsSkopeoDoes() throws {
        let ours = directory.child("ours")
        let theirs = directory.child("theirs")
        let steps: [(archive: String, name: String?)] = [
            ("x86_64.tar", "copied"), ("aarch64.tar", "team/app"), ("ppc64le.tar", nil), ("s390x.tar", "a--b:1"),
        ]
        for step in steps {
            let suffix = step.name.map { ":\($0)" } ?? ""
            let copy = try StowageBinary.run(["copy", "oci-archive:\(Fixtures.path(step.archive))", "oci:\(ours)\(suffix)"])
            #expect(copy.status == 0, "\(copy.stderr)")
            let skopeo = try Command.run("skopeo", ["copy", "oci-archive:\(Fixtures.path(step.archive))", "oci:\(theirs)\(suffix)"])
            #expect(skopeo.status == 0, "\(skopeo.stderr)")
        }
        // The same names on the same images as skopeo writes: no ':latest' added, none for no REF.
        #expect(try entries(ours) == (try entries(theirs)))
        #expect(try entries(ours).map { $0.prefix { $0 != "@" } } == ["copied", "team/app", "-", "a--b:1"])
        for name in ["copied", "team/app", "a--b:1"] {
            let inspect = try Command.run("skopeo", ["inspect", "oci:\(ours):\(name)"])
            #expect(inspect.status == 0, "skopeo finds \(name): \(inspect.stderr)")
        }
        // A REF outside the ref.name grammar is refused before anything is written, as skopeo does.
        let before = try LayoutSnapshot(ours)
        let invalid = try StowageBinary.run(["copy", "oci-archive:\(Fixtures.path("x86_64.tar"))", "oci:\(ours):team/app:v1_"])
        expectOneLineError(invalid, mentioning: ["team/app:v1_", "separator ::= [-._:@+] | \"--\""])
        #expect(try LayoutSnapshot(ours) == before)
    }

    @Test func copyFromAnArchiveNamesOnlyTheDestination() throws {
        // The layout already gives the arm64 image the names that the archives carry.
        #expect(try stowage(["import", "--tag", "team/app:v1.0.0", Fixtures.path("aarch64.tar")]).status == 0)
        for name in ["localhost/stowage/x86_64:v1", "docker.io/team/app:docker", "team/app:multi"] {
            #expect(try stowage(["tag", "team/app:v1.0.0", name]).status == 0)
        }
        let arm = try #require(try entries(layout).first).split(separator: "@").last.map(String.init)
        let copies = [
            ("oci-archive:\(Fixtures.path("named.tar"))", "from-oci"),
            ("docker-archive:\(Fixtures.path("docker.tar"))", "from-docker"),
            ("oci-archive:\(Fixtures.path("multi.tar"))", "from-multi"),
            ("oci-archive:\(Fixtures.path("named.tar")):team/app:v1.0.0", "picked"),  // the archive's names still pick an image
        ]
        for (source, name) in copies {
            let copy = try StowageBinary.run(["copy", source, "oci:\(layout):\(name)"])
            #expect(copy.status == 0, "\(copy.stderr)")
        }
        let names = try entries(layout)
        let named = Dictionary(names.map { entry in
            let parts = entry.split(separator: "@", maxSplits: 1).map(String.init)
            return (parts[0], parts[1])
        }) { first, _ in first }
        #expect(Set(named.keys) == [
            "team/app:v1.0.0", "localhost/stowage/x86_64:v1", "docker.io/team/app:docker", "team/app:multi",
            "from-oci", "from-docker", "from-multi", "picked",
        ], "only the destination names are added: \(names)")
        for name in ["team/app:v1.0.0", "localhost/stowage/x86_64:v1", "docker.io/team/app:docker", "team/app:multi"] {
            #expect(named[name] == arm, "\(name) did not move")
            let inspect = try Command.run("skopeo", ["inspect", "oci:\(layout):\(name)"])
            #expect(inspect.status == 0 && inspect.stdout.contains(#""Architecture": "arm64""#), "\(name): \(inspect.stderr)")
        }
        for name in ["from-oci", "from-docker", "picked"] {
            let inspect = try Command.run("skopeo", ["inspect", "oci:\(layout):\(name)"])
            #expect(inspect.status == 0 && inspect.stdout.contains(#""Architecture": "amd64""#), "\(name): \(inspect.stderr)")
        }
        let multi = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):from-multi"])
        #expect(multi.status == 0 && multi.stdout.contains("linux") && multi.stdout.contains("manifests"), "\(multi.stderr)")
        let verify = try stowage(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test func layoutComesFromTheEnvironment() throws {
        let result = try StowageBinary.run(["import", Fixtures.path("named.tar")], environment: ["STOWAGE_LAYOUT": layout])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(layout)/index.json"))
    }

    @Test func readOnlyLayoutCanBeListedAndInspected() throws {
        #expect(try stowage(["import", Fixtures.path("multi.tar")]).status == 0)
        try FileManager.default.removeItem(atPath: "\(layout)/.stowage")
        let before = try LayoutSnapshot(layout)
        let mountPoint = directory.child("ro")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        // A private mount namespace with a read-only bind mount, like a disk mounted read-only.
        let script = """
            set -e
            mount --bind '\(layout)' '\(mountPoint)'
            mount -o remount,bind,ro '\(mountPoint)'
            '\(StowageBinary.path)' ls --layout '\(mountPoint)'
            '\(StowageBinary.path)' inspect --platforms team/app:multi --layout '\(mountPoint)'
            '\(StowageBinary.path)' inspect --raw team/app:multi --layout '\(mountPoint)' > /dev/null
            if '\(StowageBinary.path)' tag team/app:multi team/app:other --layout '\(mountPoint)' 2> '\(directory.child("tag.err"))'; then
                echo "tag on a read-only layout succeeded" >&2; exit 1
            fi
            """
        let result = try Command.run("unshare", ["-m", "sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("team/app:multi"))
        #expect(result.stdout.contains("linux/arm64/v8"))
        let tagError = try String(contentsOfFile: directory.child("tag.err"), encoding: .utf8)
        #expect(tagError.contains("read-only"), "\(tagError)")
        #expect(try LayoutSnapshot(layout) == before)
    }
}
