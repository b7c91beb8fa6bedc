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

    @Flag(name: .long, help: "Also list unnamed referrer entries (signatures, SBOMs, attestations).")
    var all = false

    @Flag(name: [.customShort("q"), .long], help: "Print only the references, one a line (the digest of an unnamed image).")
    var quiet = false

    @Argument(help: ArgumentHelp("List only the names in these repositories (team/app).", valueName: "REPOSITORY"))
    var repositories: [String] = []

    func validate() throws {
        if json && quiet { throw ValidationError("--json and --quiet cannot be combined") }
    }

    func run() throws {
        let summaries = try options.open().summaries(includeReferrers: all, repositories: repositories)
        if json {
            try Output.json(summaries)
            return
        }
        if quiet {
            var out = Output.BufferedLines()
            for summary in summaries { out.append(UserText.escaped(summary.reference ?? summary.digest)) }
            out.flush()
            return
        }
        Output.printTable(count: summaries.count + 1) { i in
            guard i > 0 else { return ["REFERENCE", "DIGEST", "TYPE", "SIZE", "PLATFORMS"] }
            let summary = summaries[i - 1]
            return [
                summary.reference ?? (summary.referrerOf.map { "<referrer of \($0.prefix(19))>" } ?? "<none>"), summary.digest, Output.kind(summary.mediaType),
                Output.size(summary.size), summary.platforms.joined(separator: ","),
            ]
        }
    }
}
