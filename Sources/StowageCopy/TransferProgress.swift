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
    /// With parts (one per destination), the line shows each part's counts.
    private var parts: [(label: String, progress: TransferProgress)] = []
    private weak var parent: TransferProgress?

    /// Counts for `verb` ("pushing", "pulling"); shows a line only when stderr is a terminal.
    public init(verb: String, show: Bool = isatty(2) == 1) {
        self.verb = verb
        enabled = show
    }

    /// Counts of their own for one part of the transfer (a destination of a sync),
    /// shown on this line after `label`: `syncing: a.example 3/7 1.2 MB / 5.0 MB · b.example …`.
    public func part(_ label: String) -> TransferProgress {
        let part = TransferProgress(verb: label, show: false)
        part.parent = self
        lock.withLock { parts.append((label, part)) }
        return part
    }

    private var counts: (blobsDone: Int, blobs: Int, done: Int64, total: Int64) {
        lock.withLock { (blobsDone, blobs, done, total) }
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
        lock.withLock { done += Int64(bytes) }
        if let parent { parent.show() } else { show() }
    }

    /// Prints the line, at most five times a second.
    private func show() {
        let due: Bool = lock.withLock {
            guard enabled, Date().timeIntervalSince(lastPrint) > 0.2 else { return false }
            lastPrint = Date()
            return true
        }
        guard due else { return }
        let line: String
        let shown = lock.withLock { parts }
        if shown.isEmpty {
            let (blobsDone, blobs, done, total) = counts
            line = "\r\(verb) blob \(blobsDone)/\(blobs): \(Self.format(done)) / \(Self.format(total))   "
        } else {
            let each = shown.map { label, part in
                let (blobsDone, blobs, done, total) = part.counts
                return "\(label) \(blobsDone)/\(blobs) \(Self.format(done)) / \(Self.format(total))"
            }
            line = "\r\(verb): \(each.joined(separator: " · "))   "
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the progress line.
    public func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Bytes transferred so far (by every part, when there are parts).
    public var transferred: Int64 {
        let (own, shown) = lock.withLock { (done, parts) }
        return shown.reduce(own) { $0 + $1.progress.transferred }
    }

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
