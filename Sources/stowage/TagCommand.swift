import ArgumentParser
import StowageLayout
import StowageModel

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Give an image more names; a name moves if another image had it.",
        discussion: """
            REF is a name, a digest, or the first 12 or more hex digits of one (with or
            without sha256:) when only one image starts with them. All the new names are
            given in one change of index.json.
            """)

    @OptionGroup var options: LayoutOptions

    @Argument(help: ArgumentHelp("The image: a name or a digest.", valueName: "REF"), completion: .layoutReferences)
    var source: String

    @Argument(help: ArgumentHelp("The new names, REPOSITORY:TAG.", valueName: "NEWREF"))
    var targets: [String] = []

    func validate() throws {
        guard !targets.isEmpty else { throw ValidationError("give at least one NEWREF, REPOSITORY:TAG") }
    }

    func run() throws {
        let names = try targets.map { try RefName(userInput: $0) }
        let descriptor = try options.open().tag(source, as: names)
        for name in names { Output.line("\(name) -> \(descriptor.digest)") }
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove images' names; their blobs stay until `stowage gc`.",
        discussion: """
            Each REF is a name, or the digest of an unnamed image (12 or more hex digits are
            enough when only one image starts with them). All are removed in one change of
            index.json, or none: when one REF is not found, nothing is removed.
            """)

    @OptionGroup var options: LayoutOptions

    @Argument(help: ArgumentHelp("The names (or digests of unnamed images) to remove.", valueName: "REF"), completion: .layoutReferences)
    var references: [String] = []

    func validate() throws {
        guard !references.isEmpty else { throw ValidationError("give at least one REF to remove") }
    }

    func run() throws {
        let removed = try options.open().removeReferences(references)
        for entry in removed {
            Output.line("removed \(entry.refName ?? "unnamed \(entry.digest.short)") (\(entry.digest))")
        }
    }
}
