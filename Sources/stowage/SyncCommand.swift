import ArgumentParser
import Foundation
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Push every named image of the layout to a registry.",
        discussion: """
            REPO:TAG in the layout goes to HOST[:PORT][/PREFIX]/REPO:TAG (a registry host in the
            name is dropped); tag-only names go to --repository. With --keep-registry-host the
            host stays: quay.io/team/app:v1 goes to HOST[/PREFIX]/quay.io/team/app:v1 (names
            without a host are unchanged). Names that would send different images to one
            destination (quay.io/team/app:v1 and ghcr.io/team/app:v1) are listed, one line each,
            and nothing is sent, with --dry-run too; names of one image are sent once. A plan
            comes first: --dry-run prints it after asking the registry (HEAD requests only) what
            it lacks, and sends nothing. Images the registry already has under their tag are
            skipped, so a second sync of an unchanged layout sends no blob, and an interrupted
            sync, run again, sends only what is missing. Signatures, SBOMs and attestations go
            after their images (cosign tags as tags, referrers by subject by digest, with the
            fallback tag sha256-<hex> kept up to date where the registry has no Referrers API).
            With --platform (repeatable), an index goes as its image for one platform, or as a new
            index of just those platforms (a new digest, said in the output; the layout is not
            changed), which --preserve-digests refuses; the referrers of the platforms left out
            stay behind. An index lacking a platform asked for is an error, and nothing is sent.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup
    @OptionGroup var referrers: ReferrerOptions

    @Option(name: .long, help: ArgumentHelp("The repository for tag-only names.", valueName: "NAME"))
    var repository: String?

    @Option(name: .customLong("ref"), help: ArgumentHelp("Only names matching this glob; repeatable.", valueName: "GLOB"))
    var refs: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Print the plan and send nothing.")
    var dryRun = false

    @Flag(name: .customLong("keep-registry-host"), help: "Keep a name's registry host in its destination: HOST/PREFIX/quay.io/team/app:v1.")
    var keepRegistryHost = false

    @Option(name: .long, help: ArgumentHelp(
        "Only this platform of each index; repeatable: with several, a new index of just those.", valueName: "OS/ARCH[/VARIANT]"))
    var platform: [String] = []

    @Flag(name: .customLong("preserve-digests"), help: "Refuse to make a new index (several --platform of an index), as skopeo does.")
    var preserveDigests = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Argument(help: ArgumentHelp("The registry, HOST[:PORT][/PREFIX].", valueName: "TARGET"))
    var target: String

    struct Report: Codable {
        var dryRun: Bool
        var plan: SyncPlan
        var summary: TransferSummary?
    }

    func run() async throws {
        let store = try layout.open()
        var planner = try SyncPlanner(
            layout: store, target: target, repository: repository, globs: refs, keepRegistryHost: keepRegistryHost)
        planner.platforms = try platform.map(Platform.init(parsing:))
        planner.preserveDigests = preserveDigests
        // Checked before any connection: one line for each destination that would be overwritten.
        let collisions = try planner.collisions()
        for collision in collisions { Output.note("collision: \(collision)") }
        if !collisions.isEmpty && !dryRun { throw SyncPlan.conflict(collisions) }
        let options = try registry.options()
        let (plan, summary) = try await TransferSession.with(options: options, verb: "syncing") { session, progress in
            var sync = RegistrySync(planner: planner, session: session, progress: progress)
            sync.referrers = referrers.policy
            return dryRun ? try await sync.plan(check: true) : try await sync.run()
        }
        if json {
            try Output.json(Report(dryRun: dryRun, plan: plan, summary: dryRun ? nil : summary))
            if !plan.collisions.isEmpty { throw SyncPlan.conflict(plan.collisions) }
            return
        }
        for item in plan.items {
            if let filtered = item.filtered { Output.line("\(item.reference): \(filtered.summary)") }
            let state: String
            if item.upToDate == true {
                state = "up to date"
            } else if dryRun {
                state = "would send \(item.missingBlobs ?? item.blobs) of \(item.blobs) blobs (\(Output.size(item.missingBytes ?? item.bytes))) and \(item.manifests) manifests"
            } else {
                state = "pushed"
            }
            Output.line("\(item.reference) -> \(item.destination): \(state)")
            if dryRun, !item.referrers.isEmpty {
                let missing = item.missingReferrers.map { " (\($0) missing)" } ?? ""
                Output.line("  with \(item.referrers.count) referrer\(item.referrers.count == 1 ? "" : "s")\(missing): \(item.referrers.joined(separator: ", "))")
            }
        }
        if !plan.skipped.isEmpty { Output.note("skipped: \(plan.skipped.joined(separator: ", "))") }
        if !plan.collisions.isEmpty { throw SyncPlan.conflict(plan.collisions) }
        if !dryRun { Output.line(summaryLine(summary)) }
    }
}
