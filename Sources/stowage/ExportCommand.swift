import ArgumentParser
import StowageArchive
import StowageLayout
import StowageModel

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an oci-archive of the layout, or of some images, for transport.",
        discussion: """
            With no REF, every image of the layout is exported; otherwise the named images \
            (names or sha256: digests) with everything they reach. The same layout always gives \
            a byte-identical archive. The archive is written to a temporary file next to FILE \
            and renamed at the end, so a failed export leaves no partial FILE. Works on \
            read-only layouts. The referrers of what is exported (signatures, SBOMs, attestations, \
            of an index and of each of its children) travel with it; with --platform, those of \
            the images kept and of the index. One --platform replaces an index by its image for \
            that platform; several by a new index of just those (a new digest, written to the \
            archive only and said in the output), which --preserve-digests refuses. `stowage import FILE` restores the same references and digests; \
            `skopeo copy oci-archive:FILE:REF ...` reads it too.

            With --exclude-present INVENTORY (written on the other side by `stowage inventory`), the \
            archive is a delta: its index.json names the same images, whole, but it holds only the \
            blobs the inventory lacks (a blob counts as present when its digest and size match). \
            `stowage import` of a delta succeeds only on a layout that has the rest.
            """)

    @OptionGroup var options: LayoutOptions

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("The archive to write.", valueName: "FILE"))
    var output: String

    @Option(name: .long, help: ArgumentHelp(
        "Compress the archive: gzip or zstd (default: from FILE's extension, .gz/.tgz or .zst, else none).",
        valueName: "FORMAT"))
    var compress: String?

    @Option(name: .long, help: ArgumentHelp(
        "Only this platform: an index is replaced by its image for it, under the same name; repeatable: with several, by a new index of just those.",
        valueName: "OS/ARCH[/VARIANT]"))
    var platform: [String] = []

    @Flag(name: .customLong("preserve-digests"), help: "Refuse to make a new index (several --platform of an index), as skopeo does.")
    var preserveDigests = false

    @Option(name: .customLong("exclude-present"), help: ArgumentHelp(
        "Leave out every blob this inventory holds (a delta for the other side).", valueName: "INVENTORY"))
    var excludePresent: String?

    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("Images to export (default: all).", valueName: "REF"), completion: .layoutReferences)
    var references: [String] = []

    func validate() throws {
        if let compress, TarWriter.Compression(rawValue: compress) == nil {
            throw ValidationError("--compress must be gzip or zstd (or none), not '\(compress)'")
        }
        if output.isEmpty { throw ValidationError("-o FILE must name a file") }
    }

    func run() throws {
        let compression: TarWriter.Compression
        if let compress {
            compression = TarWriter.Compression(rawValue: compress) ?? .none
        } else if output.hasSuffix(".gz") || output.hasSuffix(".tgz") {
            compression = .gzip
        } else if output.hasSuffix(".zst") {
            compression = .zstd
        } else {
            compression = .none
        }
        // Read and checked before anything else: a bad inventory writes nothing.
        let present = try excludePresent.map(Inventory.load)
        let reporter = progress.reporter("exporting")
        defer { reporter.finish() }
        let report = try ArchiveExporter(layout: options.open())
            .export(
                to: output, references: references, compression: compression, platforms: platform.map(Platform.init(parsing:)),
                preserveDigests: preserveDigests, referrers: referrers.policy, excluding: present, progress: reporter)
        reporter.finish()
        if json {
            try Output.json(report)
            return
        }
        let compressed = report.compression == "none" ? "" : ", \(report.compression)"
        Output.line(
            "exported \(report.images.count) image\(report.images.count == 1 ? "" : "s"), \(report.blobs) blobs (\(Output.size(report.bytes))) to \(report.archive)\(compressed)")
        if let excludePresent, let left = report.blobsLeftOut, let bytes = report.bytesLeftOut {
            Output.line("left out \(left) blobs (\(Output.size(bytes))) that \(excludePresent) holds")
        }
        for image in report.images {
            if let filtered = image.filtered { Output.line("  \(filtered.summary)") }
            Output.line("  \(image.reference ?? "<none>")  \(image.digest)")
        }
    }
}
