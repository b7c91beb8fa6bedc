#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A pseudo-terminal for a child's stderr, as a user's terminal would be: what the child
/// writes there is collected from the master side, while its stdout goes to a file, so
/// a test sees the progress line and the command's result apart.
public final class PseudoTerminal: @unchecked Sendable {
    private let master: Int32
    private let slave: Int32
    private let condition = NSCondition()
    private var bytes: [UInt8] = []
    private var closed = false
    private let stdoutFile: String

    /// A terminal `columns` wide.
    public init(columns: UInt16 = 200) throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        guard master >= 0, let name = Self.unlockedSlaveName(master) else {
            throw PseudoTerminalError(description: "cannot open a pseudo-terminal: errno \(errno)")
        }
        slave = open(name, O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw PseudoTerminalError(description: "cannot open \(name): errno \(errno)") }
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        var size = winsize(ws_row: 50, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(slave, UInt(TIOCSWINSZ), &size)
        stdoutFile = FileManager.default.temporaryDirectory.appendingPathComponent("pty-out-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: stdoutFile, contents: nil)
    }

    /// `grantpt`, `unlockpt` and `ptsname_r`, looked up at run time: the Glibc module
    /// leaves them out.
    private static func unlockedSlaveName(_ master: Int32) -> String? {
        typealias Call = @convention(c) (Int32) -> Int32
        typealias Name = @convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32
        guard let grant = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "grantpt"),
            let unlock = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unlockpt"),
            let name = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "ptsname_r")
        else { return nil }
        guard unsafeBitCast(grant, to: Call.self)(master) == 0, unsafeBitCast(unlock, to: Call.self)(master) == 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: 128)
        guard unsafeBitCast(name, to: Name.self)(master, &buffer, buffer.count) == 0 else { return nil }
        return String(cString: buffer)
    }

    deinit {
        close(master)
        try? FileManager.default.removeItem(atPath: stdoutFile)
    }

    /// Starts `stowage ARGS…` with stderr on the terminal and stdout to a file (`stdout`).
    public func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: StowageBinary.path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutFile))
        process.standardError = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
        try process.run()
        // Only the child holds the terminal now: reading its master ends when the child does.
        close(slave)
        let reader = Thread { [self] in collect() }
        reader.start()
        return process
    }

    private func collect() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(master, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            condition.lock()
            if n > 0 {
                bytes += buffer[0..<n]
            } else {
                closed = true   // EIO: no process has the terminal open any more
            }
            condition.broadcast()
            condition.unlock()
            if n <= 0 { return }
        }
    }

    /// What the child wrote to the terminal so far.
    public var output: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What the child wrote to stdout (read once it has exited).
    public var stdout: String {
        (try? String(contentsOfFile: stdoutFile, encoding: .utf8)) ?? ""
    }

    /// Waits until the terminal's output satisfies `condition`, or until the child closed it
    /// or `timeout` seconds passed; returns whether it did.
    public func wait(timeout: Double = 120, until satisfied: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if satisfied(String(decoding: bytes, as: UTF8.self)) { return true }
            if closed || !condition.wait(until: deadline) { return satisfied(String(decoding: bytes, as: UTF8.self)) }
        }
    }

    /// Waits until the child has closed the terminal (it exited), up to `timeout` seconds.
    public func waitUntilClosed(timeout: Double = 120) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !closed && condition.wait(until: deadline) {}
    }
}

/// A pseudo-terminal could not be made.
public struct PseudoTerminalError: Error, CustomStringConvertible {
    public var description: String

    /// An error saying `description`.
    public init(description: String) { self.description = description }
}
