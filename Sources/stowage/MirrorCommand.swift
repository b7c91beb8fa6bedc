import ArgumentParser
import Foundation
import StowageCopy
import StowageLayout
import StowageModel

struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Bring an image set, listed in a YAML file, into the layout; reruns fetch only what changed.",
        discussion: """
            FILE lists registries (each with its own tls-verify, ca-file, cert-dir, authfile, \
            creds and retry-times), their repositories, and for each the tags wanted: exact \
            names and globs (tags:), a regex (matching anywhere; anchor it with ^...$), a semver \
            range (semver: ">=1.2 <2"), the N highest versions (latest: N), digests, platforms \
            and referrers: true|false. The format is in docs/mirror.md. \
            An image is named HOST/REPO:TAG in the layout, as `stowage pull` names it; one listed by \
            digest is named HOST/REPO@DIGEST, which `stowage sync` sends by digest. Blobs are fetched once however many images share them, --jobs at \
            a time. A rerun asks one HEAD per tag and fetches only tags that moved; it prints what \
            was added, updated and removed from the set. A name the set no longer lists is kept \
            until --prune removes it (gc then frees its blobs). A set file with an unknown key, a bad \
            regex, or a pattern that matches no tag fails before anything is fetched, naming the \
            file, line and field. A tag that cannot be fetched fails the run with a summary naming \
            it; the rest is still brought in, and nothing is half-written.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup
    @OptionGroup var progress: ProgressOptions

    @Flag(name: .customLong("dry-run"), help: "Say what would be added, updated and removed; fetch and change nothing (HEAD requests and tag lists only).")
    var dryRun = false

    @Flag(name: .long, help: "Remove the names the set no longer lists.")
    var prune = false

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("The image set, a YAML file.", valueName: "FILE"), completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() async throws {
        let defaults = try registry.options()
        let set = try MirrorSet(contentsOf: file, defaults: defaults)
        let path = try layout.path()
        // A dry run changes nothing, not even by creating the layout.
        let store: Layout? = dryRun ? (FileManager.default.fileExists(atPath: path) ? try layout.open() : nil) : try layout.create()
        let hostOptions = Dictionary(set.registries.map { ($0.host, $0.options) }, uniquingKeysWith: { first, _ in first })
        var (report, summary) = try await TransferSession.with(options: defaults, hostOptions: hostOptions, verb: "mirroring", progress: progress.mode()) { session, progress in
            var mirror = ImageSetMirror(set: set, session: session, progress: progress)
            mirror.prune = prune
            return try await mirror.run(into: store, dryRun: dryRun)
        }
        report.summary = summary
        if json {
            try Output.json(report)
        } else {
            print(report)
        }
        if let failure = report.failure { throw failure }
    }

    private func print(_ report: MirrorReport) {
        let would = report.dryRun ? "would be " : ""
        for image in report.images where image.change != .unchanged {
            let what = image.name ?? image.source
            switch image.change {
            case .added:
                Output.line("\(would)added: \(what) \(image.digest ?? image.sourceDigest ?? "")")
            case .updated:
                Output.line("\(would)updated: \(what) \(image.previousDigest ?? "?") -> \(image.digest ?? image.sourceDigest ?? "")")
            case .removed:
                Output.line("\(report.dryRun ? "would be removed" : "removed"): \(what) (no longer in the set)")
            case .retired:
                Output.line("no longer in the set: \(what) (kept; --prune removes it)")
            case .failed:
                Output.line("failed: \(image.source): \(image.error ?? "")")
            case .unchanged:
                break
            }
        }
        let order: [MirrorReport.Change] = [.added, .updated, .unchanged, .removed, .retired, .failed]
        let counts = order.compactMap { change in report.counts[change.rawValue].map { "\($0) \(change == .retired ? "kept outside the set" : change.rawValue)" } }
        Output.line("mirror \(report.set): \(counts.isEmpty ? "nothing listed" : counts.joined(separator: ", "))")
        if let summary = report.summary, !report.dryRun {
            Output.line(summaryLine(summary, receiving: true) + ", \(summary.requests) requests")
        } else if let summary = report.summary {
            Output.line("\(summary.requests) requests")
        }
    }
}
