import Foundation
import StowageTestSupport
import Testing

/// What a team installs besides the binary: `stowage version`, completions for bash, zsh
/// and fish (commands, flags, files and the layout's names), and a man page per command
/// made from the same help.
@Suite struct ShellIntegrationTests {
    let directory = TemporaryDirectory("shell")
    var binDirectory: String { URL(fileURLWithPath: StowageBinary.path).deletingLastPathComponent().path }

    @Test func versionNamesTheCommitAndTheLibraries() throws {
        let version = try StowageBinary.run(["version"])
        #expect(version.status == 0, "\(version.stderr)")
        let lines = version.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("stowage ") == true, "\(version.stdout)")
        #expect(version.stdout.contains("libarchive 3."), "\(version.stdout)")
        #expect(version.stdout.contains("tls:"), "\(version.stdout)")
        let commit = try #require(lines.first { $0.hasPrefix("commit:") })
        #expect(!commit.contains("unknown"), "a build from a checkout knows its commit: \(commit)")

        let json = try StowageBinary.run(["version", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: String])
        #expect(Set(object.keys) == ["version", "commit", "libarchive", "tls"])

        let short = try StowageBinary.run(["--version"])
        #expect(short.status == 0 && "stowage \(short.stdout.trimmingCharacters(in: .whitespacesAndNewlines))" == lines.first.map(String.init))
        // Only the top level has --version: a subcommand's help does not offer it.
        let tagHelp = try StowageBinary.run(["tag", "--help"])
        #expect(!tagHelp.stdout.contains("--version"), "\(tagHelp.stdout)")
        let rootHelp = try StowageBinary.run(["--help"])
        #expect(rootHelp.stdout.contains("--version"))
    }

    /// A layout with two names, for completions to offer.
    func makeLayout() throws -> String {
        let layout = directory.child("layout")
        let imported = try StowageBinary.run(["import", "--layout", layout, Fixtures.path("x86_64.tar"), "--tag", "team/app:amd64"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let tagged = try StowageBinary.run(["tag", "--layout", layout, "team/app:amd64", "team/app:v1.0.0", "other/tool:1"])
        #expect(tagged.status == 0, "\(tagged.stderr)")
        return layout
    }

    /// Runs the bash completion function on `line` as if TAB were pressed at its end.
    func bashComplete(_ line: String, environment: [String: String] = [:]) throws -> [String] {
        let script = directory.child("stowage.bash")
        let generated = try StowageBinary.run(["completion", "bash"])
        #expect(generated.status == 0, "\(generated.stderr)")
        try generated.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        let driver = """
            source \(script)
            line='\(line)'
            read -r -a COMP_WORDS <<< "$line"
            [[ "$line" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE="$line"; COMP_POINT=${#line}
            _stowage "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        var env = environment
        env["PATH"] = "\(binDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"
        let result = try Command.run("bash", ["-c", driver], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test func bashCompletesCommandsFlagsAndTheLayoutsNames() throws {
        let layout = try makeLayout()
        #expect(try bashComplete("stowage imp").contains("import"))
        #expect(try bashComplete("stowage index cr").contains("create"))
        #expect(try bashComplete("stowage push --tls").contains("--tls-verify"))
        let names = try bashComplete("stowage tag team/", environment: ["STOWAGE_LAYOUT": layout])
        #expect(names.sorted() == ["team/app:amd64", "team/app:v1.0.0"], "\(names)")
        let fromFlag = try bashComplete("stowage inspect --layout \(layout) oth", environment: ["STOWAGE_LAYOUT": ""])
        #expect(fromFlag == ["other/tool:1"], "\(fromFlag)")
        // No layout: nothing offered, and no error printed into the terminal.
        #expect(try bashComplete("stowage tag te", environment: ["STOWAGE_LAYOUT": ""]).isEmpty)
    }

    @Test func fishCompletesCommandsAndNames() throws {
        try #require(Command.isAvailable("fish"), "fish is not installed")
        let layout = try makeLayout()
        let script = directory.child("stowage.fish")
        try StowageBinary.run(["completion", "fish"]).stdout.write(toFile: script, atomically: true, encoding: .utf8)
        func complete(_ line: String) throws -> [String] {
            let result = try Command.run("fish", ["--no-config", "-c", "source \(script); complete -C '\(line)'"], environment: [
                "PATH": "\(binDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")", "STOWAGE_LAYOUT": layout,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
        }
        #expect(try complete("stowage imp").contains("import"))
        #expect(try complete("stowage rm other").contains("other/tool:1"))
        #expect(try complete("stowage inspect ").contains("team/app:v1.0.0"))
    }

    @Test func zshScriptLoadsAndKnowsEveryCommand() throws {
        try #require(Command.isAvailable("zsh"), "zsh is not installed")
        let script = directory.child("_stowage")
        let generated = try StowageBinary.run(["completion", "zsh"])
        try generated.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        let check = try Command.run("zsh", ["-n", script])
        #expect(check.status == 0, "\(check.stderr)")
        for command in HelpSnapshotTests.commands.compactMap(\.first) {
            #expect(generated.stdout.contains("'\(command):"), "the zsh script offers \(command)")
        }
        let unknown = try StowageBinary.run(["completion", "tcsh"])
        #expect(unknown.status == 2 && unknown.stderr.contains("bash, zsh or fish"), "\(unknown.stderr)")
    }

    @Test func everyCommandHasAManPageThatGroffReadsCleanly() throws {
        let pages = directory.child("man")
        let made = try Command.run("python3", ["\(Fixtures.repositoryRoot)/scripts/make-man", pages, StowageBinary.path])
        #expect(made.status == 0, "\(made.stderr)")
        for command in HelpSnapshotTests.commands + [["version"], ["completion"]] {
            let name = (["stowage"] + command).joined(separator: "-")
            let path = "\(pages)/\(name).1"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION"] {
                #expect(text.contains(section), "\(name).1 has \(section)")
            }
            // Every flag the help shows is on the page.
            let help = try StowageBinary.run(command + ["--help"])
            let flags = help.stdout.split(separator: "\n").compactMap { line -> String? in
                let trimmed = line.drop { $0 == " " }
                guard trimmed.hasPrefix("--"), line.hasPrefix("  ") else { return nil }
                return String(trimmed.prefix { $0 != " " && $0 != "," })
            }
            for flag in flags where flag != "--help" {
                #expect(text.contains(flag.replacingOccurrences(of: "-", with: "\\-")), "\(name).1 documents \(flag)")
            }
            let rendered = try Command.run("groff", ["-man", "-Tutf8", "-ww", "-z", path])
            #expect(rendered.status == 0 && rendered.stderr.isEmpty, "groff warns about \(name).1: \(rendered.stderr)")
        }
        let man = try Command.run("man", ["-l", "\(pages)/stowage-index-create.1"], environment: ["MANPAGER": "cat", "MANWIDTH": "80"])
        #expect(man.stdout.contains("stowage-index-create") && man.stdout.contains("--replace"), "\(man.stdout.prefix(500))")
    }
}
