#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Byte counts of a transfer, shown on stderr as one updating line when stderr is a
/// terminal, and summed up at the end whatever it is.
public final class TransferProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let verb: String
    private let enabled: Bool
    private var total: Int64 = 0
    private var done: Int64 = 0
    private var blobs = 0
    private var blobsDone = 0
    private var lastPrint = Date.distantPast

    /// Counts for `verb` ("pushing", "pulling"); shows a line only when stderr is a terminal.
    public init(verb: String, show: Bool = isatty(2) == 1) {
        self.verb = verb
        enabled = show
    }

    /// Adds a blob of `bytes` that will be transferred.
    public func expect(_ bytes: Int64) {
        lock.withLock {
            total += bytes
            blobs += 1
        }
    }

    /// Records that a blob is done (sent, mounted, found present or received).
    public func blobFinished() {
        lock.withLock { blobsDone += 1 }
        advance(0)
    }

    /// Records bytes transferred.
    public func advance(_ bytes: Int) {
        let line: String? = lock.withLock {
            done += Int64(bytes)
            guard enabled, Date().timeIntervalSince(lastPrint) > 0.2 else { return nil }
            lastPrint = Date()
            return "\r\(verb) blob \(blobsDone)/\(blobs): \(Self.format(done)) / \(Self.format(total))   "
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Clears the progress line.
    public func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Bytes transferred so far.
    public var transferred: Int64 { lock.withLock { done } }

    /// `1.2 MB`-style sizes for people (powers of 1000, as disk and network speeds are quoted).
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        guard unit > 0 else { return "\(bytes) B" }
        // One decimal, without Foundation's formatter: listings format thousands of sizes.
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
