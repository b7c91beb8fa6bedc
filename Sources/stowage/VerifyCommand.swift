import ArgumentParser
import StowageLayout
import StowageModel

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the layout's integrity; exit non-zero on any problem.",
        discussion: """
            Checks oci-layout, index.json (schema, unique references) and every blob the \
            references reach (nested indexes, manifests, configs, layers, subjects): it exists, \
            has the declared size and hashes to its digest. Every problem is reported, each \
            naming the blob and the reference that leads to it; files under blobs/ that are \
            not named by a valid digest are listed. Blobs are hashed in parallel over the \
            machine's cores. Takes no lock and writes nothing, so it works on read-only layouts.
            """)

    @OptionGroup var options: LayoutOptions

    @Flag(name: .long, help: "Check existence and sizes only; do not hash layers and configs.")
    var fast = false

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @OptionGroup var progress: ProgressOptions

    func run() throws {
        let root = try options.path()
        // --fast reads documents and looks blobs up, hashing no layer: nothing to count.
        let reporter = fast ? nil : progress.reporter("verifying")
        defer { reporter?.finish() }
        let report = try LayoutVerifier(root: root).verify(fast: fast, progress: reporter)
        reporter?.finish()
        if json {
            try Output.json(report)
        } else {
            for problem in report.problems { Output.line("problem: \(problem.message)") }
            for warning in report.warnings { Output.line("warning: \(warning)") }
            for note in report.notes { Output.line("note: \(note)") }
            let hashed = report.hashed ? "\(Output.size(report.bytesHashed)) hashed" : "sizes only (--fast)"
            let summary = "\(report.images) image\(report.images == 1 ? "" : "s"), \(report.blobsChecked) blob\(report.blobsChecked == 1 ? "" : "s") checked, \(hashed)"
            if report.clean {
                Output.line("layout \(report.layout) is intact: \(summary)")
            } else {
                Output.line("layout \(report.layout): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s"); \(summary)")
            }
        }
        guard report.clean else {
            let count = report.problems.count
            throw StowageError(
                .invalidLayout,
                "layout \(report.layout) failed verification with \(count) problem\(count == 1 ? "" : "s"); first: \(report.problems[0].message)")
        }
    }
}
