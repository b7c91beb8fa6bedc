import Foundation

/// The result of running a command.
public struct CommandResult: Sendable {
    /// The exit status.
    public var status: Int32
    /// Everything written to stdout.
    public var stdout: String
    /// Everything written to stderr.
    public var stderr: String
    /// The raw stdout bytes.
    public var stdoutBytes: [UInt8]
}

/// Runs the built `stowage` binary and other programs for end-to-end tests.
public enum StowageBinary {
    /// The `stowage` executable next to the test bundle (or `$STOWAGE_BIN`).
    public static var path: String {
        if let override = ProcessInfo.processInfo.environment["STOWAGE_BIN"] { return override }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // Swift Testing may run from inside an .xctest bundle directory.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("stowage").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return Fixtures.repositoryRoot + "/.build/debug/stowage"
    }

    /// Runs `stowage ARGS…` and waits for it.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try Command.run(path, arguments, environment: environment)
    }

    /// Starts `stowage ARGS…` without waiting; its stderr is kept for `errors(of:)`.
    public static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardOutput = FileHandle.nullDevice
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        startedErrors.withLock { $0[ObjectIdentifier(process)] = errorFile.path }
        return process
    }

    /// What a process from `start` wrote to stderr (after it exited), for failure messages.
    public static func errors(of process: Process) -> String {
        guard let path = startedErrors.withLock({ $0[ObjectIdentifier(process)] }) else { return "" }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Describes the processes that failed: arguments, status and stderr.
    public static func failures(_ processes: [Process]) -> String {
        processes.filter { $0.terminationStatus != 0 }.map { process in
            "stowage \((process.arguments ?? []).joined(separator: " ")) exited \(process.terminationStatus): \(errors(of: process))"
        }.joined(separator: "\n")
    }

    private static let startedErrors = LockedDictionary()
}

/// Runs any program and collects its output.
public enum Command {
    /// Runs `executable ARGS…` (a path, or a name looked up in PATH) and waits for it.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let stdoutFile = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
        let stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: stdoutFile)
            try? FileManager.default.removeItem(at: stderrFile)
        }
        let out = try FileHandle(forWritingTo: stdoutFile)
        let err = try FileHandle(forWritingTo: stderrFile)
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdoutBytes = try Array(Data(contentsOf: stdoutFile))
        let stderr = try String(decoding: Data(contentsOf: stderrFile), as: UTF8.self)
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: stdoutBytes, as: UTF8.self),
            stderr: stderr, stdoutBytes: stdoutBytes)
    }

    /// Whether a program is on PATH.
    public static func isAvailable(_ name: String) -> Bool {
        (try? run("sh", ["-c", "command -v \(name)"]))?.status == 0
    }
}

/// Paths of the committed fixtures.
public enum Fixtures {
    /// The repository root, found from this source file's location.
    public static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// `Fixtures/NAME`.
    public static func path(_ name: String) -> String { "\(repositoryRoot)/Fixtures/\(name)" }

    /// The per-architecture archives as builders name them, with their platforms.
    public static let perArchitecture: [(file: String, platform: String)] = [
        ("x86_64.tar", "linux/amd64"), ("aarch64.tar", "linux/arm64/v8"), ("ppc64le.tar", "linux/ppc64le"),
        ("s390x.tar", "linux/s390x"), ("armv7l.tar", "linux/arm/v7"),
    ]
}

/// A lock-protected map from started processes to their stderr files.
final class LockedDictionary: @unchecked Sendable {
    private var value: [ObjectIdentifier: String] = [:]
    private let lock = NSLock()

    func withLock<T>(_ body: (inout [ObjectIdentifier: String]) -> T) -> T {
        lock.withLock { body(&value) }
    }
}
