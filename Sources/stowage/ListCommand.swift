import ArgumentParser
import StowageLayout
import StowageModel
import StowageRegistry

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the layout's images: reference, digest, media type, size and platforms; or a registry repository's tags.",
        discussion: """
            `stowage ls docker://HOST[:PORT]/REPO` lists the repository's tags, sorted, one a line, every page
            of the registry's tag list followed, with the same TLS and credential options as push.
            """)

    @OptionGroup var options: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "Also list unnamed referrer entries (signatures, SBOMs, attestations).")
    var all = false

    @Flag(name: [.customShort("q"), .long], help: "Print only the references, one a line (the digest of an unnamed image).")
    var quiet = false

    @Argument(help: ArgumentHelp("List only the names in these repositories (team/app), or the tags of docker://HOST/REPO.", valueName: "REPOSITORY"))
    var repositories: [String] = []

    func validate() throws {
        if json && quiet { throw ValidationError("--json and --quiet cannot be combined") }
        if repositories.contains(where: { $0.hasPrefix("docker://") }) && repositories.count > 1 {
            throw ValidationError("list the tags of one registry repository at a time: stowage ls docker://HOST/REPO")
        }
    }

    /// The body of `ls --json docker://HOST/REPO`, the shape of the registry's own tag list.
    struct TagList: Encodable {
        var name: String
        var tags: [String]
    }

    func run() async throws {
        if let remote = repositories.first, remote.hasPrefix("docker://") {
            let reference = try RegistryReference(parsing: remote)
            guard reference.digest == nil, reference.tag == nil else {
                throw StowageError(.usage, "\(remote) names an image; give the repository alone, docker://HOST/REPO")
            }
            let tags = try await RegistryClient.withClient(host: reference.host, options: try registry.options()) { client in
                try await client.listTags(reference.repository).sorted()
            }
            if json {
                try Output.json(TagList(name: "\(reference.host)/\(reference.repository)", tags: tags))
                return
            }
            var out = Output.BufferedLines()
            for tag in tags { out.append(tag) }
            out.flush()
            return
        }
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
