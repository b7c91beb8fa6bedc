import ArgumentParser
import Foundation
import StowageLayout
import StowageModel

/// `stowage completion bash|zsh|fish`: the shell's completion script, from the same
/// command tree as `--help`.
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print a completion script for bash, zsh or fish.",
        discussion: """
            Completes commands, flags, files, and the names in the layout (--layout on the line,
            else $STOWAGE_LAYOUT). To load it:
              bash:  source <(stowage completion bash)
              zsh:   stowage completion zsh > "${fpath[1]}/_stowage"
              fish:  stowage completion fish > ~/.config/fish/completions/stowage.fish
            scripts/install puts all three where the shells look.
            """)

    @Argument(help: ArgumentHelp("bash, zsh or fish.", valueName: "SHELL"))
    var shell: String

    func run() throws {
        guard let kind = CompletionShell(rawValue: shell) else {
            throw StowageError(.usage, "no completion for shell '\(shell)'; give bash, zsh or fish")
        }
        var script = Stowage.completionScript(for: kind)
        if kind == .fish { script = Self.fish3(script) }
        print(script, terminator: "")
    }

    /// ArgumentParser's fish script asks `commandline -tC` for the cursor's offset in the
    /// current token, which fish 4 answers and fish 3 (Debian 12's) refuses; for fish 3 the
    /// offset is the length of the token up to the cursor.
    static func fish3(_ script: String) -> String {
        script.replacingOccurrences(of: """
                else
                    commandline -o $argv
                end
            """, with: """
                else if test "$argv" = -tC
                    set -l token (commandline -ct)
                    string length -- "$token"
                else
                    commandline -o $argv
                end
            """)
    }
}

extension CompletionKind {
    /// The names in the layout that `--layout DIR` on the line, or `$STOWAGE_LAYOUT`, points at.
    static var layoutReferences: CompletionKind {
        .custom { words, _, prefix in LayoutNames.completing(prefix, words: words) }
    }

    /// Files, and the names in the layout (for arguments that take either).
    static var layoutReferencesAndFiles: CompletionKind {
        .custom { words, _, prefix in
            LayoutNames.completing(prefix, words: words) + LayoutNames.files(prefix)
        }
    }
}

/// What completion offers from the layout. Any failure (no layout, unreadable index)
/// offers nothing: completion never prints an error.
enum LayoutNames {
    static func completing(_ prefix: String, words: [String]) -> [String] {
        guard let path = layoutPath(words), let layout = try? Layout.open(path),
            let index = try? layout.readIndex()
        else { return [] }
        return index.manifests.compactMap(\.refName).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The files and directories whose path starts with `prefix`, directories with a `/`.
    static func files(_ prefix: String) -> [String] {
        let slash = prefix.lastIndex(of: "/")
        let directory = slash.map { String(prefix[...$0]) } ?? ""
        let stem = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        return names.filter { $0.hasPrefix(stem) && (stem.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: directory + name, isDirectory: &isDirectory)
            return directory + name + (isDirectory.boolValue ? "/" : "")
        }
    }

    private static func layoutPath(_ words: [String]) -> String? {
        for (i, word) in words.enumerated() {
            if word == "--layout", i + 1 < words.count { return unquoted(words[i + 1]) }
            if word.hasPrefix("--layout=") { return unquoted(String(word.dropFirst("--layout=".count))) }
        }
        let fromEnvironment = ProcessInfo.processInfo.environment["STOWAGE_LAYOUT"]
        return fromEnvironment?.isEmpty == false ? fromEnvironment : nil
    }

    /// Shell words arrive as typed; a path in plain quotes is the common case.
    private static func unquoted(_ word: String) -> String {
        var word = word
        if word.count >= 2, let first = word.first, first == "'" || first == "\"", word.last == first {
            word = String(word.dropFirst().dropLast())
        }
        return word.hasPrefix("~/") ? NSHomeDirectory() + word.dropFirst() : word
    }
}
