import ArgumentParser
import StowageArchive
import StowageLayout
import StowageModel

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import oci-archive or docker-archive tarballs into the layout.",
        discussion: """
            Archives may be plain, gzip or zstd compressed; the kind is detected from the content. \
            Names come from --tag, else from the archive (org.opencontainers.image.ref.name, \
            io.containerd.image.name or RepoTags). An image without a name is still imported \
            and its digest printed, so it can be named with `stowage tag` or used by an index. \
            Each archive is imported all or nothing; blobs the layout has are skipped unread. \
            Several archives are read two at a time; a failing one leaves the others imported.

            An archive may leave out blobs the layout already has (a delta written by `stowage export \
            --exclude-present`); if it leaves out one the layout lacks too, the import fails, lists \
            the missing digests and adds nothing. --dry-run reads the archives (oci-archives) and \
            says what an import would add (names, blobs, bytes) and what it lacks, writing nothing, \
            not even to the layout's .stowage/; it exits non-zero when an import would fail.
            """)

    @OptionGroup var options: LayoutOptions

    @Option(name: .long, help: ArgumentHelp("Name the archive's single image REPOSITORY:TAG.", valueName: "REF"))
    var tag: String?

    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

    @Flag(name: .customLong("dry-run"), help: "Say what the import would add and lack; change nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Argument(help: ArgumentHelp("Archives to import: FILE, oci-archive:FILE or docker-archive:FILE.", valueName: "ARCHIVE"), completion: .file())
    var archives: [String]

    func validate() throws {
        guard !archives.isEmpty else { throw ValidationError("give at least one ARCHIVE to import") }
        if tag != nil && archives.count > 1 {
            throw ValidationError("--tag names a single image, but \(archives.count) archives were given; import them one at a time")
        }
    }

    func run() throws {
        let name = try tag.map { try RefName(userInput: $0) }
        if dryRun { return try runDry(tag: name) }
        let layout = try options.create()
        let paths = try archives.map { try ArchiveImporter.archivePath($0) }
        let reporter = progress.reporter("importing")
        defer { reporter.finish() }
        let importer = ArchiveImporter(layout: layout, progress: reporter)
        let results: [Result<ImportReport, StowageError>]
        if let name {
            results = [.success(try importer.importArchive(paths[0], tag: name, referrers: referrers.policy))]
        } else {
            results = try importer.importArchives(paths, referrers: referrers.policy)
        }
        reporter.finish()
        let reports = results.compactMap { try? $0.get() }
        if json { try Output.json(reports) } else { reports.forEach(printReport) }
        for case .failure(let error) in results { throw error }
    }

    /// `--dry-run`: every archive planned against the layout as it is, one after the other.
    private func runDry(tag: RefName?) throws {
        let paths = try archives.map { try ArchiveImporter.archivePath($0) }
        let reporter = progress.reporter("reading")
        defer { reporter.finish() }
        let importer = ArchiveImporter(layout: try Layout.openOrEmpty(options.path()), progress: reporter)
        let reports = try paths.map { try importer.dryRun($0, tag: tag, referrers: referrers.policy) }
        reporter.finish()
        if json { try Output.json(reports) } else { reports.forEach(printReport) }
        for report in reports {
            if let missing = report.missing, !missing.isEmpty { throw ArchiveImporter.lackingError(report.archive, missing) }
        }
    }

    private func printReport(_ report: ImportReport) {
        let fromLayout = report.blobsNotInArchive > 0 ? " (\(report.blobsNotInArchive) of them not in the archive)" : ""
        if report.dryRun == true {
            Output.line(
                "would import \(report.archive) (\(report.format)): \(report.blobsAdded) blobs to add (\(Output.size(report.bytesAdded))), "
                    + "\(report.blobsSkipped) already present\(fromLayout)")
            if let missing = report.missing, !missing.isEmpty {
                Output.line("  lacks \(missing.count) blob\(missing.count == 1 ? "" : "s") that the layout does not have either:")
                for blob in missing { Output.line("    \(blob.digest)  \(blob.size) bytes  of \(blob.referencedBy)") }
            }
        } else {
            Output.line(
                "imported \(report.archive) (\(report.format)): \(report.blobsAdded) blobs added (\(Output.size(report.bytesAdded))), "
                    + "\(report.blobsSkipped) already present\(fromLayout)")
        }
        for image in report.images {
            let platforms = image.platforms.joined(separator: ",")
            if let subject = image.referrerOf, image.references.isEmpty {
                Output.line("  \(image.digest)  referrer of \(subject)")
                continue
            }
            if image.references.isEmpty {
                Output.line("  \(image.digest)  \(platforms)  (no name; name it with: stowage tag \(image.digest) REPOSITORY:TAG)")
            }
            for reference in image.references {
                Output.line("  \(reference)  \(image.digest)  \(platforms)")
            }
        }
    }
}
