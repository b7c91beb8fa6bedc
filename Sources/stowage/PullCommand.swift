import ArgumentParser
import Foundation
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Copy an image or index from a registry into the layout.",
        discussion: """
            SRC is [docker://]HOST[:PORT]/REPO[:TAG|@DIGEST]. Manifests are stored byte for byte and \
            every blob is checked while it streams in; blobs the layout has are not fetched. \
            By default an index is pulled with all its images. One --platform pulls only that \
            platform's image and names it; several make a new index of just those platforms (a new \
            digest, said in the output), which --preserve-digests refuses. A platform the index \
            lacks is an error listing what it has, and nothing is fetched. Signatures, SBOMs and attestations come along: found \
            with the Referrers API, or where it answers 404, the fallback tag sha256-<hex> and \
            cosign's .sig, .att and .sbom tags; each is digest-checked like any manifest.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

    @Option(name: .long, help: ArgumentHelp("The name in the layout (default: HOST/REPO:TAG).", valueName: "REF"))
    var tag: String?

    @Option(name: .long, help: ArgumentHelp(
        "Only this platform of an index; repeatable: with several, a new index of just those.", valueName: "OS/ARCH[/VARIANT]"))
    var platform: [String] = []

    @Flag(name: .customLong("preserve-digests"), help: "Refuse to make a new index (several --platform of an index), as skopeo does.")
    var preserveDigests = false

    @Flag(name: .long, help: "Every platform of an index (the default).")
    var all = false

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("The image, [docker://]HOST[:PORT]/REPO[:TAG|@DIGEST].", valueName: "SRC"))
    var source: String

    func validate() throws {
        if all && !platform.isEmpty { throw ValidationError("--all and --platform cannot be combined") }
    }

    func run() async throws {
        let reference = try RegistryReference(parsing: source)
        let name = try tag.map { try RefName(userInput: $0) }
        let wanted = try platform.map { try Platform(parsing: $0) }
        let store = try layout.create()
        let options = try registry.options()
        let (pulled, summary) = try await TransferSession.with(options: options, verb: "pulling", progress: progress.mode()) { session, progress in
            var puller = RegistryPuller(layout: store, session: session, progress: progress)
            puller.referrers = referrers.policy
            return try await puller.pull(reference, name: name, platforms: wanted, preserveDigests: preserveDigests)
        }
        let entry = pulled.entry
        let named = entry.refName
        let report = PullReport(
            source: reference.description, reference: named, digest: entry.digest.string, mediaType: entry.mediaType.rawValue,
            platforms: try store.platforms(of: entry).map(\.description), summary: summary, filtered: pulled.filtered?.report)
        if json {
            try Output.json(report)
            return
        }
        if let filtered = pulled.filtered { Output.line(filtered.summary) }
        Output.line("pulled \(reference) -> \(named ?? "(unnamed)") \(entry.digest) \(report.platforms.joined(separator: ","))")
        Output.line(summaryLine(summary, receiving: true))
    }
}
