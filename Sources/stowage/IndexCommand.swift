import ArgumentParser
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build and amend multi-platform indexes (manifest lists) in the layout.",
        subcommands: [IndexCreateCommand.self, IndexAddCommand.self, IndexRemoveCommand.self])
}

/// Options shared by `index create` and `index add`.
struct IndexSourceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A name for the index, REPOSITORY:TAG; repeat for several.", valueName: "REF"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("An annotation of the index (OCI format only); repeatable.", valueName: "KEY=VALUE"))
    var annotation: [String] = []

    @Option(name: .long, help: ArgumentHelp("oci or docker (default: the children's format).", valueName: "FORMAT"))
    var format: IndexFormat?

    @Option(name: .customLong("platform-of"),
            help: ArgumentHelp("Set the platform of a SOURCE whose config lacks it (e.g. a variant).", valueName: "SOURCE=OS/ARCH[/VARIANT]"))
    var platformOf: [String] = []

    @Flag(name: .long, help: "When two sources have the same platform, keep the last instead of failing.")
    var replace = false

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("Images: layout references, sha256: digests or archive files (imported first).", valueName: "SOURCE"), completion: .layoutReferencesAndFiles)
    var sources: [String] = []

    /// Whether the index goes to a registry: every --tag is docker://…, which may not be mixed with layout names.
    func buildsInRegistry() throws -> Bool {
        let remote = tag.filter { $0.hasPrefix("docker://") }
        guard !remote.isEmpty else { return false }
        if let local = tag.first(where: { !$0.hasPrefix("docker://") }) {
            throw StowageError(
                .usage,
                "--tag \(local) names the index in the layout but --tag \(remote[0]) in a registry; give only docker:// tags (built in the registry) or only layout names")
        }
        return true
    }

    /// The request for an index built in a registry: the --tag targets, the SOURCEs and the merge options.
    func registryRequest() throws -> RegistryIndexRequest {
        let options = try request(tags: [])
        var request = RegistryIndexRequest(targets: try tag.map { try RegistryReference(parsing: $0) }, sources: sources)
        request.annotations = options.annotations
        request.format = options.format
        request.platformOverrides = options.platformOverrides
        request.replace = options.replace
        return request
    }

    func request() throws -> IndexRequest {
        if let remote = tag.first(where: { $0.hasPrefix("docker://") }) {
            throw StowageError(.usage, "--tag \(remote) is in a registry; only `stowage index create` builds an index there (it amends none)")
        }
        return try request(tags: tag.map { try RefName(userInput: $0) })
    }

    private func request(tags: [RefName]) throws -> IndexRequest {
        var request = IndexRequest(tags: tags, sources: sources)
        request.format = format
        request.replace = replace
        for pair in annotation {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw StowageError(.usage, "--annotation '\(pair)' is not KEY=VALUE")
            }
            request.annotations[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        for pair in platformOf {
            guard let equals = pair.lastIndex(of: "="), equals != pair.startIndex else {
                throw StowageError(.usage, "--platform-of '\(pair)' is not SOURCE=OS/ARCH[/VARIANT]")
            }
            request.platformOverrides[String(pair[..<equals])] = try Platform(parsing: String(pair[pair.index(after: equals)...]))
        }
        return request
    }

    func print(_ report: IndexReport, verb: String) throws {
        try printIndexReport(report, verb: verb, json: json)
    }
}

/// Prints what an index command did: skips, warnings, removals, then the entries.
func printIndexReport(_ report: IndexReport, verb: String, json: Bool) throws {
    if json {
        try Output.json(report)
        noteDockerIndex(report)
        return
    }
    for skip in report.skipped {
        Output.line("skipped \(skip.source): \(skip.reason)" + (skip.digest.map { " (\($0))" } ?? ""))
    }
    for warning in report.warnings { Output.note("warning: \(warning)") }
    for removed in report.removed {
        Output.line("removed \(removed.platform ?? "entry") \(removed.digest) (from \(removed.source))")
    }
    let platforms = report.entries.filter { $0.platform != nil }.count
    Output.line("\(verb) \(report.tags.joined(separator: ", ")) -> \(report.digest) (\(Output.kind(report.mediaType)), \(platforms) platforms)")
    let rows = report.entries.map { ["  " + ($0.platform ?? "-"), $0.digest, $0.source] }
    Output.table(rows).forEach(Output.line)
    noteDockerIndex(report)
}

/// skopeo 1.9.3 skips index.json entries of Docker media types when it looks a name up.
private func noteDockerIndex(_ report: IndexReport) {
    // An index built in a registry is in a layout only when one was given.
    guard MediaType(report.mediaType) == .dockerManifestList, report.summary == nil || report.layoutNames != nil else { return }
    let name = report.layoutNames?.first ?? report.tags.first ?? "REF"
    Output.note("note: skopeo's oci: transport does not look up index.json entries of Docker media types, so `skopeo inspect oci:DIR:\(name)` will not find this index; use --format oci for layouts skopeo reads")
}

extension IndexFormat: ExpressibleByArgument {
    /// The help names the values itself; completion still offers them.
    public static var allValueStrings: [String] { [] }
    public static var defaultCompletionKind: CompletionKind { .list(allCases.map(\.rawValue)) }
}

struct IndexCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Build a multi-platform index from SOURCEs and name it with every --tag.",
        discussion: """
            Platforms come from each image's config. A duplicate SOURCE, or one whose digest \
            equals an earlier one's, is skipped; two images of one platform are an error unless \
            --replace. An index SOURCE adds its entries. Children are never rewritten, and the \
            same inputs always give the same index digest.

            Merging in a registry: when every --tag is docker://HOST/REPO:TAG, the SOURCEs are \
            docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:… images already pushed, and the \
            index is PUT to every tag, with the registry options of push. Only manifests and \
            configs are read. A SOURCE from another repository is made available in the target \
            one first, with a warning: its blobs are mounted on the same registry, copied \
            (layers too) from another. With --layout or $STOWAGE_LAYOUT, the index is also kept \
            in the layout, whole, named HOST/REPO:TAG as pull names it; without, nothing local \
            is written.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var options: IndexSourceOptions
    @OptionGroup(title: "Registry options (docker:// tags)") var registry: RegistryOptionGroup
    @OptionGroup var progress: ProgressOptions

    func run() async throws {
        guard try options.buildsInRegistry() else {
            let reporter = progress.reporter("importing")
            defer { reporter.finish() }
            let report = try IndexBuilder(layout: layout.create(), progress: reporter).create(options.request())
            reporter.finish()
            try options.print(report, verb: "created")
            return
        }
        let request = try options.registryRequest()
        let store = try layout.givenPath().map { try Layout.create($0) }
        let (built, summary) = try await TransferSession.with(options: try registry.options(), verb: "merging", progress: progress.mode()) { session, progress in
            try await RegistryIndexBuilder(session: session, progress: progress, layout: store).create(request)
        }
        var report = built
        report.summary = summary
        try options.print(report, verb: "created")
        guard !options.json else { return }
        if let names = report.layoutNames, let store {
            Output.line("kept in layout \(store.root) as \(names.joined(separator: ", "))")
        }
        Output.line(summaryLine(summary))
    }
}

struct IndexAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add or replace platforms in the index named by the first --tag; every --tag moves to the new index.")

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var options: IndexSourceOptions
    @OptionGroup var progress: ProgressOptions

    func run() throws {
        let reporter = progress.reporter("importing")
        defer { reporter.finish() }
        let report = try IndexBuilder(layout: layout.open(), progress: reporter).add(options.request())
        reporter.finish()
        try options.print(report, verb: "updated")
    }
}

struct IndexRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a platform from the index named by the first --tag; every --tag moves to the new index.")

    @OptionGroup var layout: LayoutOptions

    @Option(name: .long, help: ArgumentHelp("The index, REPOSITORY:TAG; repeat to move several names.", valueName: "REF"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("The platform to remove.", valueName: "OS/ARCH[/VARIANT]"))
    var platform: String

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    func run() throws {
        let report = try IndexBuilder(layout: layout.open()).remove(
            tags: tag.map { try RefName(userInput: $0) }, platform: Platform(parsing: platform))
        try printIndexReport(report, verb: "updated", json: json)
    }
}
