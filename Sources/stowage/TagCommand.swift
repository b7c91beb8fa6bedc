import ArgumentParser
import StowageLayout
import StowageModel

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Give an image another name; the name moves if another image had it.")

    @OptionGroup var options: LayoutOptions

    @Argument(help: ArgumentHelp("The image: a name or a digest.", valueName: "REF"))
    var source: String

    @Argument(help: ArgumentHelp("The new name, REPOSITORY:TAG.", valueName: "NEWREF"))
    var target: String

    func run() throws {
        let name = try RefName(userInput: target)
        let descriptor = try options.open().tag(source, as: name)
        Output.line("\(name) -> \(descriptor.digest)")
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove an image's name; its blobs stay until `stowage gc`.")

    @OptionGroup var options: LayoutOptions

    @Argument(help: ArgumentHelp("The name to remove.", valueName: "REF"))
    var reference: String

    func run() throws {
        let removed = try options.open().removeReference(reference)
        Output.line("removed \(removed.refName ?? reference) (\(removed.digest))")
    }
}
