import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StowageModel

/// The `stowage` command: parses arguments, calls the library, prints results.
@main
struct Stowage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stowage",
        abstract: "Manage OCI image layouts on shared volumes and air-gapped disks.",
        discussion: """
            Every command works on one OCI image layout, named by --layout DIR (before or after \
            the command) or $STOWAGE_LAYOUT. \
            Many stowage processes, on one machine or several sharing a volume, may change \
            the same layout at once: every change to index.json is made under a lock.
            """,
        subcommands: [
            ImportCommand.self, IndexCommand.self, ListCommand.self, InspectCommand.self, TagCommand.self, RemoveCommand.self,
            PushCommand.self, SyncCommand.self, PullCommand.self, CopyCommand.self,
            MirrorCommand.self, DigestCommand.self, VerifyCommand.self, GCCommand.self, ExportCommand.self, InventoryCommand.self,
            ReferrersCommand.self, VersionCommand.self, CompletionCommand.self,
        ]
    )

    /// Only here, not on every subcommand: ArgumentParser's own `version:` shows the flag
    /// in every command's help.
    @Flag(name: .long, help: "Show the version (`stowage version` says more).")
    var version = false

    func run() async throws {
        guard version else { throw CleanExit.helpRequest(Stowage.self) }
        Output.line(BuildInfo.version)
    }

    /// Runs a command and turns a `StowageError` into one line on stderr and a non-zero exit.
    static func main() async {
        do {
            var command = try parseAsRoot(CommandLineArguments.prepare(Array(CommandLine.arguments.dropFirst()), root: Stowage.self))
            // Blobs stream through short-lived 256 KiB-1 MiB buffers on several threads. glibc
            // raises its mmap threshold after freeing such a buffer and then serves the next
            // ones from per-thread heaps that keep the memory; a fixed threshold gives it back
            // at once. Commands that only read documents keep glibc's own threshold: it lets
            // them reuse the memory of the large arrays they grow, where a fixed one maps,
            // faults in and unmaps fresh pages for each.
            if command is any StreamsBlobs { fixMallocMmapThreshold(128 * 1024) }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CommandLineError {
            Output.error(error.description)
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch let error as StowageError {
            Output.error(error.description)
            Foundation.exit(error.code == .usage ? 2 : 1)
        } catch {
            exit(withError: error)
        }
    }
}

/// A command that moves blob bytes through buffers (to or from a registry, an archive or
/// another layout), and so runs with a fixed malloc mmap threshold.
protocol StreamsBlobs {}

extension ImportCommand: StreamsBlobs {}
extension ExportCommand: StreamsBlobs {}
extension PushCommand: StreamsBlobs {}
extension SyncCommand: StreamsBlobs {}
extension PullCommand: StreamsBlobs {}
extension CopyCommand: StreamsBlobs {}
extension MirrorCommand: StreamsBlobs {}
extension IndexCreateCommand: StreamsBlobs {}

/// `mallopt(M_MMAP_THRESHOLD, bytes)`, looked up at run time: the Glibc module does not
/// export `malloc.h`. Setting the threshold also stops glibc from moving it.
private func fixMallocMmapThreshold(_ bytes: Int32) {
    #if canImport(Glibc)
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    let mMmapThreshold: Int32 = -3
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    _ = unsafeBitCast(symbol, to: Mallopt.self)(mMmapThreshold, bytes)
    #endif
}
