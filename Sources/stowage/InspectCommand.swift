import ArgumentParser
import StowageLayout
import StowageModel

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's manifest or index.")

    @OptionGroup var options: LayoutOptions

    @Flag(name: .long, help: "Print the exact stored bytes.")
    var raw = false

    @Flag(name: .long, help: "Print one os/arch[/variant] line per platform.")
    var platforms = false

    @Argument(help: ArgumentHelp("A name (REPOSITORY:TAG) or digest (sha256:…).", valueName: "REF"))
    var reference: String

    func validate() throws {
        if raw && platforms { throw ValidationError("--raw and --platforms cannot be combined") }
    }

    func run() throws {
        let layout = try options.open()
        let descriptor = try layout.resolve(reference)
        if platforms {
            try layout.platforms(of: descriptor).forEach { Output.line($0.description) }
            return
        }
        let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
        if raw {
            Output.raw(bytes)
        } else {
            Output.line(try JSONCoding.prettyPrinted(bytes, what: "blob \(descriptor.digest)"))
        }
    }
}
