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

    @Option(name: .long, help: ArgumentHelp(
        "Print each image with a template: {{.Reference}}, {{.Repository}}, {{.Tag}}, {{.Digest}}, {{.Type}}, {{.Size}}, {{.Platforms}}, … (see the user guide).",
        valueName: "TEMPLATE"))
    var format: String?

    @Argument(help: ArgumentHelp("List only the names in these repositories (team/app), or the tags of docker://HOST/REPO.", valueName: "REPOSITORY"))
    var repositories: [String] = []

    func validate() throws {
        if [json, quiet, format != nil].filter({ $0 }).count > 1 {
            throw ValidationError("--json, --quiet and --format cannot be combined")
        }
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
            if let format {
                let template = try FormatTemplate(format, fields: ["Repository", "Tag", "Reference"])
                for tag in tags {
                    let name = "\(reference.host)/\(reference.repository)"
                    out.append(try template.render(.object(["Repository": .string(name), "Tag": .string(tag), "Reference": .string("\(name):\(tag)")])))
                }
            } else {
                for tag in tags { out.append(tag) }
            }
            out.flush()
            return
        }
        let summaries = try options.open().summaries(includeReferrers: all, repositories: repositories, totalSizes: !quiet)
        if json {
            try Output.json(summaries)
            return
        }
        if let format {
            let template = try FormatTemplate(format, fields: Self.fields)
            var out = Output.BufferedLines()
            for summary in summaries { out.append(try template.render(Self.value(summary))) }
            out.flush()
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
                summary.totalSize.map(Output.size) ?? "-", summary.platforms.joined(separator: ","),
            ]
        }
    }

    /// What `--format` may name.
    static let fields = ["Reference", "Repository", "Tag", "Digest", "MediaType", "Type", "Size", "TotalSize", "ManifestSize", "Platforms", "ReferrerOf"]

    /// One image as `--format` sees it: sizes in bytes except `Size`, which is for people.
    static func value(_ summary: ImageSummary) -> JSONValue {
        let name = summary.reference
        let repository = name.flatMap(RefName.repository(of:)).map(String.init)
        let tag = name.flatMap { name in repository.map { name.count > $0.count ? String(name.dropFirst($0.count + 1)) : "" } ?? name }
        return .object([
            "Reference": .string(name ?? "<none>"),
            "Repository": .string(repository ?? "<none>"),
            "Tag": .string(tag ?? "<none>"),
            "Digest": .string(summary.digest),
            "MediaType": .string(summary.mediaType),
            "Type": .string(Output.kind(summary.mediaType)),
            "Size": .string(summary.totalSize.map(Output.size) ?? "-"),
            "TotalSize": summary.totalSize.map { .int($0) } ?? .null,
            "ManifestSize": .int(summary.size),
            "Platforms": .array(summary.platforms.map(JSONValue.string)),
            "ReferrerOf": summary.referrerOf.map(JSONValue.string) ?? .null,
        ])
    }
}
