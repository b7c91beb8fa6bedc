import ArgumentParser
import StowageLayout
import StowageModel

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove blobs no reference reaches and stale temporary files.",
        discussion: """
            Safe while imports run: gc waits for running imports (they hold a shared lock)
            and keeps new ones and index.json edits out while it marks and sweeps. Blobs and
            temporary files younger than --grace are kept as well, in case a writer on another
            machine could not take the lock. Nothing is removed when a manifest or index is
            missing or corrupt; run `stowage verify` to see why. A referrer (signature, SBOM,
            attestation) stays while its subject is reachable from a named image; when the
            subject goes, gc removes the referrer's index.json entry and its blobs.
            """)

    @OptionGroup var options: LayoutOptions

    @Flag(name: .long, help: "Show what would be removed; remove nothing and take no lock.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp(
        "Keep blobs and temporary files younger than this (0, 30s, 10m, 1h, 1h30m; default: 1h).",
        valueName: "DURATION"))
    var grace: String?

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    func run() throws {
        let seconds = try GracePeriod.parse(grace ?? "1h")
        let layout = try options.open()
        let report = try GarbageCollector(layout: layout, grace: seconds, dryRun: dryRun).collect()
        if json {
            try Output.json(report)
            return
        }
        let verb = dryRun ? "would remove" : "removed"
        for item in report.removedBlobs { Output.line("\(verb) blob \(item.digest ?? item.path) (\(Output.size(item.size)))") }
        for referrer in report.removedReferrers {
            Output.line("\(verb) referrer \(referrer.reference ?? referrer.digest) of \(referrer.subject) (its subject is gone)")
        }
        for item in report.removedTemporaryFiles { Output.line("\(verb) temporary \(item.path) (\(Output.size(item.size)))") }
        var summary = "\(dryRun ? "gc --dry-run" : "gc"): \(verb) \(report.removedBlobs.count) blob\(report.removedBlobs.count == 1 ? "" : "s")"
            + (report.removedReferrers.isEmpty ? "" : ", \(report.removedReferrers.count) referrer entr\(report.removedReferrers.count == 1 ? "y" : "ies") of index.json")
            + " and \(report.removedTemporaryFiles.count) temporary file\(report.removedTemporaryFiles.count == 1 ? "" : "s"),"
            + " \(dryRun ? "would free" : "freed") \(Output.size(report.bytesFreed)); kept \(report.reachableBlobs) reachable blob\(report.reachableBlobs == 1 ? "" : "s")"
        if report.keptYoungBlobs + report.keptYoungTemporaryFiles > 0 {
            summary += " and \(report.keptYoungBlobs + report.keptYoungTemporaryFiles) unreferenced file(s) younger than \(GracePeriod.format(seconds))"
        }
        Output.line(summary)
    }
}
