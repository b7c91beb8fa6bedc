import ArgumentParser
import StowageModel

/// A mistake found in the command line before ArgumentParser sees it: printed as one
/// line, with ArgumentParser's exit status for usage errors (64, EX_USAGE).
struct CommandLineError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// The arguments as ArgumentParser is given them, after what it cannot do itself:
/// `--layout DIR` before the subcommand is moved after it (ArgumentParser gives a parent's
/// options to no subcommand), an unknown subcommand is named with the closest real one,
/// and skopeo's boolean spellings are rewritten (`SkopeoBool`).
enum CommandLineArguments {
    /// `arguments` without the program name, ready for `parseAsRoot`.
    static func prepare(_ arguments: [String], root: ParsableCommand.Type) throws -> [String] {
        var command = root
        var path: [String] = []
        var layout: [String] = []
        var position = 0
        while position < arguments.count {
            let argument = arguments[position]
            if argument == "--layout", position + 1 < arguments.count {
                layout += [argument, arguments[position + 1]]
                position += 2
                continue
            }
            if argument.hasPrefix("--layout=") {
                layout.append(argument)
                position += 1
                continue
            }
            let configuration = command.configuration
            if argument == "help", path.isEmpty {
                try checkHelpTopic(arguments[(position + 1)...], root: root)
                break
            }
            guard !configuration.subcommands.isEmpty, configuration.defaultSubcommand == nil,
                !argument.hasPrefix("-"), argument != "help"
            else { break }
            command = try subcommand(argument, of: command, path: path, root: root)
            path.append(argument)
            position += 1
        }
        return path + layout + (try SkopeoBool.rewrite(arguments[position...]))
    }

    /// `stowage help imprt` names the closest command instead of printing the top-level help.
    private static func checkHelpTopic(_ words: ArraySlice<String>, root: ParsableCommand.Type) throws {
        var command = root
        var path: [String] = []
        for word in words where !word.hasPrefix("-") {
            guard !command.configuration.subcommands.isEmpty else { return }
            command = try subcommand(word, of: command, path: path, root: root)
            path.append(word)
        }
    }

    /// The subcommand of `command` named `word`, or an error naming the closest one.
    private static func subcommand(_ word: String, of command: ParsableCommand.Type, path: [String], root: ParsableCommand.Type) throws -> ParsableCommand.Type {
        let subcommands = command.configuration.subcommands
        guard let next = subcommands.first(where: { $0.typedName == word }) else {
            throw unknown(word, path: path, among: subcommands.map { $0.typedName }, root: root)
        }
        return next
    }

    private static func unknown(_ argument: String, path: [String], among names: [String], root: ParsableCommand.Type) -> CommandLineError {
        let prefix = path.map { "\($0) " }.joined()
        let typed = "unknown command '\(prefix)\(argument)'"
        if let suggestion = Suggestion.closest(to: argument, among: names) {
            return CommandLineError("\(typed); did you mean '\(prefix)\(suggestion)'?")
        }
        return CommandLineError("\(typed); `\(([root.typedName] + path).joined(separator: " ")) --help` lists the commands")
    }
}

extension ParsableCommand {
    /// The name a user types for this command.
    static var typedName: String { configuration.commandName ?? String(describing: self).lowercased() }
}
