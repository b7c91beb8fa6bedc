import ArgumentParser
import StowageLayout
import StowageModel

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the layout's images: reference, digest, media type, size and platforms.")

    @OptionGroup var options: LayoutOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let summaries = try options.open().summaries()
        if json {
            try Output.json(summaries)
            return
        }
        let rows = [["REFERENCE", "DIGEST", "TYPE", "SIZE", "PLATFORMS"]]
            + summaries.map { summary in
                [
                    summary.reference ?? "<none>", summary.digest, Output.kind(summary.mediaType),
                    Output.size(summary.size), summary.platforms.joined(separator: ","),
                ]
            }
        Output.table(rows).forEach(Output.line)
    }
}
