import Foundation

/// Another process holding a record lock on a file, as a Stowage process on another
/// machine would: a `python3` child that takes a POSIX `fcntl` lock (which conflicts
/// with Stowage's OFD locks) and keeps it until `release()` or until it is killed.
public final class LockHolder: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()

    /// Takes the lock on `path` (created when missing), shared or exclusive, and
    /// returns once it is held; waits up to `timeout` seconds for it.
    public init(path: String, exclusive: Bool, timeout: Double = 30) throws {
        let output = Pipe()
        let script = """
            import fcntl, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
            mode = fcntl.LOCK_EX if sys.argv[2] == "exclusive" else fcntl.LOCK_SH
            deadline = time.time() + float(sys.argv[3])
            while True:
                try:
                    fcntl.lockf(fd, mode | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.time() > deadline:
                        print("timeout", flush=True)
                        sys.exit(1)
                    time.sleep(0.01)
            print("locked", flush=True)
            sys.stdin.read()
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path, exclusive ? "exclusive" : "shared", "\(timeout)"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = String(decoding: output.fileHandleForReading.readData(ofLength: 7), as: UTF8.self)
        guard line == "locked\n" else {
            process.waitUntilExit()
            throw LockHolderError(description: "python3 could not lock \(path): \(line)")
        }
    }

    /// Whether another process can take the lock on `path` in `exclusive` mode right now.
    public static func isFree(_ path: String, exclusive: Bool) -> Bool {
        let script = """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, (fcntl.LOCK_EX if sys.argv[2] == "exclusive" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except OSError:
                sys.exit(1)
            """
        return (try? Command.run("python3", ["-c", script, path, exclusive ? "exclusive" : "shared"]))?.status == 0
    }

    /// Releases the lock and waits for the holder to exit.
    public func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { release() }
    }
}

/// Why a `LockHolder` could not start.
public struct LockHolderError: Error, CustomStringConvertible {
    public var description: String
}

/// Waits until `condition` holds, polling, for at most `seconds`; returns whether it held.
/// For waiting on another process's state, never for asserting how long something took.
public func eventually(within seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}
