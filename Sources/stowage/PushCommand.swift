import ArgumentParser
import Foundation
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push one image or index, with everything it reaches, to one or more destinations.",
        discussion: """
            Each DEST is HOST[:PORT]/REPO[:TAG], :latest when no tag is given, as in skopeo. \
            Blobs go first (skipped when present, mounted when already sent to another \
            repository of the same registry, and read from disk once for all registries that \
            lack them), then child manifests by digest, then the image by tag. The exact \
            stored bytes are sent.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup

    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("The image: a name or digest in the layout.", valueName: "REF"), completion: .layoutReferences)
    var reference: String

    @Argument(help: ArgumentHelp("Destinations, HOST[:PORT]/REPO[:TAG].", valueName: "DEST"))
    var destinations: [String] = []

    struct Report: Codable {
        var reference: String
        var digest: String
        var destinations: [Destination]
        var summary: TransferSummary

        struct Destination: Codable {
            var destination: String
            var upToDate: Bool
        }
    }

    func run() async throws {
        guard !destinations.isEmpty else { throw StowageError(.usage, "give at least one DEST, HOST[:PORT]/REPO[:TAG]") }
        let targets = try destinations.map { try RegistryReference(parsing: $0).withDefaultTag }
        let store = try layout.open()
        let root = try store.resolve(reference)
        var clean = root
        clean.annotations = nil
        let graph = try ImageGraph(root: clean, layout: store)
        let options = try registry.options()
        let (results, summary) = try await TransferSession.with(options: options, verb: "pushing", progress: progress.mode()) { session, progress in
            var pusher = RegistryPusher(layout: store, session: session, progress: progress)
            pusher.referrers = referrers.policy
            let sent = try await pusher.push(graph, to: targets)
            return zip(targets, sent).map { Report.Destination(destination: $0.description, upToDate: !$1) }
        }
        if json {
            try Output.json(Report(reference: reference, digest: root.digest.string, destinations: results, summary: summary))
            return
        }
        for result in results {
            Output.line(result.upToDate ? "\(result.destination): up to date (\(root.digest))" : "pushed \(result.destination) (\(root.digest))")
        }
        Output.line(summaryLine(summary))
    }
}

/// `3 blobs sent (1.2 MB), 2 present, 1 mounted, 4 manifests written in 0.8 s`, or for a pull
/// `3 blobs received (1.2 MB), 4 manifests written in 0.8 s`.
func summaryLine(_ summary: TransferSummary, receiving: Bool = false) -> String {
    var parts: [String] = []
    if receiving {
        parts.append("\(summary.blobsReceived) blobs received (\(Output.size(summary.bytes)))")
    } else {
        parts.append("\(summary.blobsSent) blobs sent (\(Output.size(summary.bytes)))")
        parts.append("\(summary.blobsPresent) present")
        parts.append("\(summary.blobsMounted) mounted")
    }
    parts.append("\(summary.manifests) manifests written")
    if summary.referrers > 0 || summary.referrerRequests > 0 {
        parts.append("\(summary.referrers) referrer\(summary.referrers == 1 ? "" : "s") carried (\(summary.referrerRequests) discovery requests)")
    }
    return parts.joined(separator: ", ") + String(format: " in %.1f s", summary.seconds)
}
