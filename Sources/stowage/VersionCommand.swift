import ArgumentParser
import CStowageBuild
import StowageArchive

/// What `stowage version` and `stowage --version` print.
enum BuildInfo {
    /// The release number, the one place it is written.
    static let version = "0.1.0"
    /// The commit the binary was built from.
    static var commit: String { String(cString: stowage_build_commit()) }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version, the commit it was built from, and the libarchive and TLS libraries.")

    @Flag(name: .long, help: "Print a JSON object.")
    var json = false

    struct Report: Encodable {
        var version = BuildInfo.version
        var commit = BuildInfo.commit
        var libarchive = ArchiveReader.libraryVersion
        var tls = "BoringSSL (swift-nio-ssl)"
    }

    func run() throws {
        let report = Report()
        if json { return try Output.json(report) }
        Output.line("stowage \(report.version)")
        Output.line("commit:     \(report.commit)")
        Output.line("libarchive: \(report.libarchive)")
        Output.line("tls:        \(report.tls)")
    }
}
