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
            let names = configuration.subcommands.map { $0.typedName }
            guard let next = configuration.subcommands.first(where: { $0.typedName == argument }) else {
                throw unknown(argument, path: path, among: names, root: root)
            }
            path.append(argument)
            command = next
            position += 1
        }
        return path + layout + (try SkopeoBool.rewrite(arguments[position...]))
    }

    /// `stowage help imprt` names the closest command instead of printing the top-level help.
    private static func checkHelpTopic(_ words: ArraySlice<String>, root: ParsableCommand.Type) throws {
        var command = root
        var path: [String] = []
        for word in words where !word.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return }
            guard let next = subcommands.first(where: { $0.typedName == word }) else {
                throw unknown(word, path: path, among: subcommands.map { $0.typedName }, root: root)
            }
            path.append(word)
            command = next
        }
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
