import ArgumentParser
import Foundation
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Push every named image of the layout to one or more registries.",
        discussion: """
            REPO:TAG in the layout goes to HOST[:PORT][/PREFIX]/REPO:TAG (a registry host in the \
            name is dropped); tag-only names go to --repository. With --keep-registry-host the \
            host stays: quay.io/team/app:v1 goes to HOST[/PREFIX]/quay.io/team/app:v1 (names \
            without a host are unchanged). Names that would send different images to one \
            destination (quay.io/team/app:v1 and ghcr.io/team/app:v1) are listed, one line each, \
            and nothing is sent, with --dry-run too; names of one image are sent once. A plan \
            comes first: --dry-run prints it after asking the registry (HEAD requests only) what \
            it lacks, and sends nothing. Images the registry already has under their tag are \
            skipped, so a second sync of an unchanged layout sends no blob, and an interrupted \
            sync, run again, sends only what is missing. Signatures, SBOMs and attestations go \
            after their images (cosign tags as tags, referrers by subject by digest, with the \
            fallback tag sha256-<hex> kept up to date where the registry has no Referrers API). \
            With several TARGETs, each gets its own plan, credentials and TLS (per host, as with one) \
            and counts, and each blob is read from disk once and sent to every registry that lacks \
            it. A registry that fails (unreachable, refused, errors after retries) does not stop the \
            others: they complete, the summary gives each one's result, and the exit is non-zero. \
            With --platform (repeatable), an index goes as its image for one platform, or as a new \
            index of just those platforms (a new digest, said in the output; the layout is not \
            changed), which --preserve-digests refuses; the referrers of the platforms left out \
            stay behind. An index lacking a platform asked for is an error, and nothing is sent.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

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

    @Argument(help: ArgumentHelp("The registries, HOST[:PORT][/PREFIX]; each blob is read once for all of them.", valueName: "TARGET"))
    var targets: [String]

    struct Report: Codable {
        var dryRun: Bool
        /// The first destination's plan (the only one's, with one TARGET).
        var plan: SyncPlan?
        /// The destinations' summaries added up, with the blob bytes read from disk.
        var summary: TransferSummary?
        var destinations: [SyncDestinationReport]
    }

    func validate() throws {
        var seen = Set<String>()
        for target in targets where !seen.insert(target).inserted {
            throw ValidationError("the target \(target) is given twice")
        }
    }

    func run() async throws {
        let store = try layout.open()
        let platforms = try platform.map(Platform.init(parsing:))
        let planners = try targets.map { target in
            var planner = try SyncPlanner(
                layout: store, target: target, repository: repository, globs: refs, keepRegistryHost: keepRegistryHost)
            planner.platforms = platforms
            planner.preserveDigests = preserveDigests
            return planner
        }
        // Checked before any connection: one line for each destination that would be overwritten.
        let collisions = try planners.flatMap { try $0.collisions() }
        for collision in collisions { Output.note("collision: \(collision)") }
        if !collisions.isEmpty && !dryRun { throw SyncPlan.conflict(collisions) }
        var sync = MultiRegistrySync(planners: planners, options: try registry.options())
        sync.referrers = referrers.policy
        sync.progress = progress.mode()
        let report = await sync.run(dryRun: dryRun)
        let failed = report.failed
        // The same failure everywhere (a platform the layout lacks, a bad name) is one error.
        if !failed.isEmpty, failed.count == report.destinations.count, Set(failed.compactMap(\.error)).count == 1, let failure = failed[0].failure {
            throw failure
        }
        let plans = report.destinations.compactMap(\.plan)
        if json {
            try Output.json(Report(
                dryRun: dryRun, plan: report.destinations.first?.plan, summary: dryRun ? nil : report.total, destinations: report.destinations))
        } else {
            for plan in plans { printPlan(plan) }
            if let skipped = plans.first?.skipped, !skipped.isEmpty { Output.note("skipped: \(skipped.joined(separator: ", "))") }
        }
        let planCollisions = plans.flatMap(\.collisions)
        if !planCollisions.isEmpty { throw SyncPlan.conflict(planCollisions) }
        if !json {
            if report.destinations.count == 1 {
                if !dryRun, failed.isEmpty { Output.line(summaryLine(report.total)) }
            } else {
                for destination in report.destinations {
                    if let error = destination.error {
                        Output.line("\(destination.target): failed: \(error)")
                    } else if !dryRun {
                        Output.line("\(destination.target): \(summaryLine(destination.summary))")
                    }
                }
                if !dryRun {
                    Output.line("\(Output.size(report.blobBytesRead)) of blobs read from disk for \(report.destinations.count) destinations")
                }
            }
        }
        guard failed.isEmpty else {
            if failed.count == 1, report.destinations.count == 1, let failure = failed[0].failure { throw failure }
            let list = failed.map { "\($0.target) (\($0.error ?? ""))" }.joined(separator: "; ")
            throw StowageError(
                failed[0].failure?.code ?? .network,
                "sync failed for \(failed.count) of \(report.destinations.count) destinations: \(list); the others are complete, and a rerun sends only what is missing")
        }
    }

    private func printPlan(_ plan: SyncPlan) {
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
    }
}
