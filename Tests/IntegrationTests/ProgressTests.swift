#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `--progress`: a line redrawn in place on a terminal, plain lines in logs, nothing
/// with `none`; stdout stays the command's result; Ctrl-C clears the line and exits 130.
@Suite struct ProgressTests: LayoutSuite {
    let directory = TemporaryDirectory()

    /// Erases the terminal line and returns to its start.
    static let erase = "\r\u{1B}[2K"

    /// A plain progress line: bytes done of the total, rate, time left, then blobs.
    static var plainLine: Regex<AnyRegexOutput> {
        Regex(#/^(importing|exporting|verifying|pushing|pulling|syncing|copying|mirroring) \d+(\.\d)? [kMGT]?B / \d+(\.\d)? [kMGT]?B \(\d{1,3}%\), \d+(\.\d)? [kMGT]?B/s, ETA (\d+s|\d+m\d\ds|\d+h\d\dm|--|>99h)(, .+)?$/#)
    }

    /// Every line at every update, instead of every 10 s: the debug knob the tests use.
    static let eager = ["STOWAGE_PROGRESS_INTERVAL": "0"]

    func run(_ arguments: [String], environment: [String: String] = eager) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout], environment: environment)
    }

    /// An oci-archive of one image named `name` with a layer of `layerSize` random bytes.
    func archive(_ file: String, name: String, layerSize: Int, seed: UInt64) throws -> (path: String, layer: Digest) {
        let layer = pseudoRandomBytes(layerSize, seed: seed)
        let image = TestImage.make(layers: [layer])
        let path = directory.child(file)
        try ArchiveBuilder.ociArchive(image, refName: name).write(to: path)
        return (path, ContentHasher.digest(of: layer))
    }

    /// The lines of `text` that are progress lines of `verb`.
    static func lines(_ text: String, verb: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.hasPrefix("\(verb) ") }
    }

    /// Every line of `stderr` is a plain progress line, at least one of them of `verb`.
    static func expectPlainLines(_ stderr: String, verb: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!stderr.contains("\r") && !stderr.contains("\u{1B}"), "no terminal codes in a log: \(stderr.debugDescription)", sourceLocation: sourceLocation)
        #expect(!lines(stderr, verb: verb).isEmpty, "a line of \(verb): \(stderr)", sourceLocation: sourceLocation)
        for line in stderr.split(separator: "\n") {
            #expect(line.wholeMatch(of: plainLine) != nil, "a progress line: \(line)", sourceLocation: sourceLocation)
        }
    }

    static func expectJSON(_ stdout: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect((try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) != nil, "stdout is JSON: \(stdout)", sourceLocation: sourceLocation)
    }

    /// Waits up to `timeout` seconds for `process` to exit, then kills it: a bug must fail
    /// the test, not hang it.
    static func waitForExit(_ process: Process, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    // MARK: - a terminal

    @Test func aTerminalGetsOneLineRedrawnInPlaceAndClearedAtTheEnd() throws {
        #expect(try run(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], environment: [:]).status == 0)
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 3 << 20, seed: 1)
        let size = Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        // The import reads the whole archive, then waits for the index lock another writer holds:
        // long enough for the line to be drawn, whatever the machine's speed.
        let holder = try LockHolder(path: "\(layout)/.stowage/index.lock", exclusive: true)
        let terminal = try PseudoTerminal()
        let process = try terminal.start(["import", "--json", "--layout", layout, path])
        let drawn = terminal.wait { $0.contains("/ \(TransferProgress.format(size)) (") }
        holder.release()
        process.waitUntilExit()
        terminal.waitUntilClosed()
        let output = terminal.output
        #expect(drawn, "the line shows the bytes read of the archive's size: \(output.debugDescription)")
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains(Self.erase + "importing "), "\(output.debugDescription)")
        #expect(output.contains("B/s, ETA "), "\(output.debugDescription)")
        #expect(!output.contains("\n"), "one line, redrawn in place: \(output.debugDescription)")
        #expect(output.hasSuffix(Self.erase), "the line is cleared at the end: \(output.debugDescription)")
        let reports = try JSONSerialization.jsonObject(with: Data(terminal.stdout.utf8)) as? [[String: Any]]
        let images = reports?.first?["images"] as? [[String: Any]]
        #expect(images?.first?["references"] as? [String] == ["team/big:v1"], "stdout is the result, whole: \(terminal.stdout)")
    }

    @Test func anErrorClearsTheLineBeforeItIsWritten() throws {
        let terminal = try PseudoTerminal()
        let process = try terminal.start(
            ["import", "--progress=tty", "--layout", layout, Fixtures.path("x86_64.tar"), directory.child("missing.tar")],
            environment: Self.eager)
        process.waitUntilExit()
        terminal.waitUntilClosed()
        let output = terminal.output
        #expect(process.terminationStatus == 1)
        #expect(output.contains(Self.erase + "importing "), "\(output.debugDescription)")
        #expect(output.contains(Self.erase + "stowage: error: "), "the line is cleared, then the error written: \(output.debugDescription)")
        let errorLine = output.range(of: "stowage: error: ").map { output[$0.lowerBound...] } ?? ""
        #expect(errorLine.contains("missing.tar") && !errorLine.contains("importing"), "the error is a line of its own: \(output.debugDescription)")
    }

    @Test func ctrlCClearsTheLineAndExits130LeavingTheLayoutIntact() throws {
        #expect(try run(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], environment: [:]).status == 0)
        let names = try run(["ls", "--json"]).stdout
        let blobsBefore = try LayoutSnapshot(layout).blobNames
        // An archive arriving through a pipe that stalls in its large layer: the import waits there.
        let (path, layer) = try archive("big.tar", name: "team/big:v1", layerSize: 16 << 20, seed: 2)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try #require(bytes.firstRange(of: Array("blobs/sha256/\(layer.hex)".utf8))?.lowerBound)
        let fifo = directory.child("slow.tar")
        #expect(mkfifo(fifo, 0o600) == 0)
        let feeder = try FifoFeeder(path: fifo, bytes: Array(bytes[..<(header + 512 + (3 << 20))]))
        defer { feeder.stop() }
        let terminal = try PseudoTerminal()
        let process = try terminal.start(["import", "--layout", layout, fifo])
        let drawn = terminal.wait { $0.contains("blob \(layer.short) ") }
        #expect(drawn, "the layer in flight is on the line: \(terminal.output.debugDescription)")
        kill(process.processIdentifier, SIGINT)
        let exited = Self.waitForExit(process)
        #expect(exited, "the import exits on SIGINT")
        terminal.waitUntilClosed()
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "exit status \(process.terminationStatus)")
        #expect(terminal.output.hasSuffix(Self.erase), "the line is cleared: \(terminal.output.debugDescription)")
        #expect(try run(["ls", "--json"]).stdout == names, "no name was added")
        #expect(try LayoutSnapshot(layout).blobNames == blobsBefore, "no blob was added")
        let verify = try run(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    // MARK: - logs

    @Test func logsGetPlainLinesOfImportExportVerifyAndIndexCreate() throws {
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 3 << 20, seed: 3)
        let imported = try run(["import", "--json", path])
        #expect(imported.status == 0, "\(imported.stderr)")
        Self.expectJSON(imported.stdout)
        Self.expectPlainLines(imported.stderr, verb: "importing")

        let exported = try run(["export", "--json", "-o", directory.child("out.tar")])
        #expect(exported.status == 0, "\(exported.stderr)")
        Self.expectJSON(exported.stdout)
        Self.expectPlainLines(exported.stderr, verb: "exporting")

        let verified = try run(["verify", "--json"])
        #expect(verified.status == 0, "\(verified.stderr)")
        Self.expectJSON(verified.stdout)
        Self.expectPlainLines(verified.stderr, verb: "verifying")
        #expect(try run(["verify", "--fast"]).stderr.isEmpty, "--fast hashes no layer: no progress")

        let (other, _) = try archive("other.tar", name: "team/other:v1", layerSize: 2 << 20, seed: 4)
        let index = try run(["index", "create", "--json", "--tag", "team/index:v1", other])
        #expect(index.status == 0, "\(index.stderr)")
        Self.expectJSON(index.stdout)
        Self.expectPlainLines(index.stderr, verb: "importing")
    }

    @Test func theLastLineOfALogCountsEveryByte() throws {
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 3 << 20, seed: 5)
        let size = Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        let imported = try run(["import", path])
        let last = try #require(Self.lines(imported.stderr, verb: "importing").last)
        #expect(last.hasPrefix("importing \(TransferProgress.format(size)) / \(TransferProgress.format(size)) (100%)"), "\(last)")
    }

    @Test func withoutATerminalAndWithinTenSecondsThereIsNoLine() throws {
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 1 << 20, seed: 6)
        let imported = try run(["import", path], environment: ["STOWAGE_PROGRESS_INTERVAL": "600"])
        #expect(imported.status == 0)
        #expect(imported.stderr.isEmpty, "\(imported.stderr)")
    }

    @Test func noneShowsNothingAndJSONStaysCleanInEveryMode() throws {
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 2 << 20, seed: 7)
        for mode in ["none", "plain", "tty", "auto"] {
            try? FileManager.default.removeItem(atPath: layout)
            let imported = try run(["import", "--json", "--progress=\(mode)", path])
            #expect(imported.status == 0, "\(mode): \(imported.stderr)")
            Self.expectJSON(imported.stdout)
            let exported = try run(["export", "--json", "--progress", mode, "-o", directory.child("out-\(mode).tar")])
            Self.expectJSON(exported.stdout)
            let verified = try run(["verify", "--json", "--progress=\(mode)"])
            Self.expectJSON(verified.stdout)
            let stderr = imported.stderr + exported.stderr + verified.stderr
            switch mode {
            case "none": #expect(stderr.isEmpty, "\(stderr)")
            case "tty": #expect(stderr.contains(Self.erase + "importing ") && stderr.hasSuffix(Self.erase), "\(stderr.debugDescription)")
            default: Self.expectPlainLines(imported.stderr, verb: "importing")
            }
        }
    }

    @Test func anUnknownModeIsAUsageError() throws {
        let result = try run(["verify", "--progress=fancy"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("fancy"), "\(result.stderr)")
    }

    // MARK: - registries

    @Test func pushPullSyncAndCopyGetPlainLines() throws {
        let registry = try RegistryServer.started(.http)
        let (path, _) = try archive("big.tar", name: "team/big:v1", layerSize: 3 << 20, seed: 8)
        #expect(try run(["import", path]).status == 0)
        let remote = ["--tls-verify=false", "--progress=plain"]
        let pushed = try run(["push", "--json"] + remote + ["team/big:v1", "\(registry.host)/team/big:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        Self.expectJSON(pushed.stdout)
        Self.expectPlainLines(pushed.stderr, verb: "pushing")

        let synced = try run(["sync", "--json"] + remote + ["\(registry.host)/synced"])
        #expect(synced.status == 0, "\(synced.stderr)")
        Self.expectJSON(synced.stdout)
        Self.expectPlainLines(synced.stderr, verb: "syncing")

        let pulled = try StowageBinary.run(
            ["pull", "--json", "--layout", directory.child("pulled")] + remote + ["\(registry.host)/team/big:v1"], environment: Self.eager)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        Self.expectJSON(pulled.stdout)
        Self.expectPlainLines(pulled.stderr, verb: "pulling")

        let copied = try StowageBinary.run(
            ["copy"] + remote + ["docker://\(registry.host)/team/big:v1", "oci:\(directory.child("copied")):big"], environment: Self.eager)
        #expect(copied.status == 0, "\(copied.stderr)")
        Self.expectPlainLines(copied.stderr, verb: "copying")

        let set = directory.child("set.yaml")
        try "registries:\n  - host: \(registry.host)\n    tls-verify: false\n    repositories:\n      - name: team/big\n        tags: [v1]\n"
            .write(toFile: set, atomically: true, encoding: .utf8)
        let mirrored = try StowageBinary.run(
            ["mirror", "--json", "--progress=plain", "--layout", directory.child("mirrored"), set], environment: Self.eager)
        #expect(mirrored.status == 0, "\(mirrored.stderr)")
        Self.expectJSON(mirrored.stdout)
        Self.expectPlainLines(mirrored.stderr, verb: "mirroring")
    }
}

/// Writes bytes into a FIFO as a reader takes them, then keeps it open without writing
/// more: the reader waits, as on a stalled network pipe. The FIFO is opened for reading
/// too, so opening never blocks and writing never raises SIGPIPE.
final class FifoFeeder: @unchecked Sendable {
    private let fd: Int32
    private let stopped = NSLock()
    private var isStopped = false
    private let done = DispatchSemaphore(value: 0)

    init(path: String, bytes: [UInt8]) throws {
        fd = open(path, O_RDWR | O_NONBLOCK)
        guard fd >= 0 else { throw PseudoTerminalError(description: "cannot open \(path): errno \(errno)") }
        let fd = self.fd
        Thread { [self] in
            var offset = 0
            while offset < bytes.count && !stopped.withLock({ isStopped }) {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n > 0 {
                    offset += n
                } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&poller, 1, 100)
                } else {
                    break
                }
            }
            done.signal()
        }.start()
    }

    /// Stops writing and closes the FIFO.
    func stop() {
        let first = stopped.withLock {
            defer { isStopped = true }
            return !isStopped
        }
        guard first else { return }
        done.wait()
        close(fd)
    }
}
