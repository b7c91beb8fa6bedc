#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// How a command shows its progress on stderr (`--progress`).
public enum ProgressMode: String, Sendable, CaseIterable {
    /// `tty` when stderr is a terminal, else `plain`.
    case auto
    /// One line, redrawn in place (`\r`, erase-line) at most five times a second.
    case tty
    /// A plain line every 10 seconds (`$STOWAGE_PROGRESS_INTERVAL`), for logs; nothing
    /// for a command that ends sooner.
    case plain
    /// Nothing.
    case none

    /// The mode in force: `auto` becomes `tty` or `plain` as stderr is a terminal or not.
    public func resolved(stderrIsTerminal: Bool = isatty(2) == 1) -> ProgressMode {
        self == .auto ? (stderrIsTerminal ? .tty : .plain) : self
    }
}

/// The progress of a command that moves or hashes bytes (import, export, verify, push,
/// pull, sync, copy, mirror): bytes done of the total, their rate and the time left,
/// blobs done, and the largest blob in flight. Shown on stderr as `ProgressMode` says,
/// by a timer, so an update costs one uncontended lock and a few additions.
///
/// `importing 512.0 MB / 1.6 GB (31%), 85.3 MB/s, ETA 13s, blob 1a2b3c4d5e6f 120.0 MB / 400.0 MB`
public final class TransferProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let verb: String
    /// The mode in force: `tty`, `plain` or `none`.
    public let mode: ProgressMode
    private var total: Int64 = 0
    private var done: Int64 = 0
    private var blobs = 0
    private var blobsDone = 0
    private var inFlight: [Int: Item] = [:]
    private var nextItem = 0
    private var finished = false
    /// With parts (one per destination), the line shows each part's counts.
    private var parts: [(label: String, progress: TransferProgress)] = []
    private weak var parent: TransferProgress?
    private var timer: DispatchSourceTimer?
    private var rate: RateWindow
    /// A line at every update instead of by the timer (`STOWAGE_PROGRESS_INTERVAL=0`).
    private let eager: Bool

    /// `$STOWAGE_PROGRESS_INTERVAL`, a test and debug knob: the seconds between plain
    /// lines (default 10); 0 writes a line, or redraws the terminal's, at every update.
    public static var intervalSetting: Double? {
        ProcessInfo.processInfo.environment["STOWAGE_PROGRESS_INTERVAL"].flatMap(Double.init).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
    }

    /// Seconds between plain lines, without `$STOWAGE_PROGRESS_INTERVAL`.
    public static let plainInterval = 10.0

    /// Seconds between redraws of a terminal's line.
    public static let terminalInterval = 0.2

    /// Counts for `verb` ("pushing", "importing"), shown as `mode` says (`auto`: on a
    /// terminal, one line redrawn in place; else a plain line every `plainInterval`).
    public init(verb: String, mode: ProgressMode = .auto) {
        self.verb = verb
        self.mode = mode.resolved()
        let setting = Self.intervalSetting
        let interval = self.mode == .tty ? Self.terminalInterval : setting ?? Self.plainInterval
        rate = RateWindow(span: max(5, interval * 1.5), now: Self.now())
        eager = setting == 0 && self.mode != .none
        guard self.mode != .none, !eager else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(20))
        timer.setEventHandler { [weak self] in self?.show() }
        self.timer = timer
        timer.resume()
    }

    private init(part label: String, parent: TransferProgress) {
        verb = label
        mode = .none
        rate = RateWindow(span: 5, now: 0)
        eager = parent.eager
        self.parent = parent
    }

    deinit {
        timer?.cancel()
    }

    /// Counts of their own for one part of the transfer (a destination of a sync),
    /// shown on this line after `label`: `syncing …, a.example 3/7 blobs 1.2 MB / 5.0 MB; b.example …`.
    public func part(_ label: String) -> TransferProgress {
        let part = TransferProgress(part: label, parent: self)
        lock.withLock { parts.append((label, part)) }
        return part
    }

    /// Adds `bytes` to do, in `blobs` more blobs (0: bytes of a file read as a whole,
    /// such as an archive being imported).
    public func expect(_ bytes: Int64, blobs count: Int = 1) {
        lock.withLock {
            total += bytes
            blobs += count
        }
    }

    /// Records that a blob is done (sent, mounted, found present, received or hashed).
    public func blobFinished() {
        lock.withLock { blobsDone += 1 }
        if eager { updated() }
    }

    /// Records bytes done.
    public func advance(_ bytes: Int) {
        lock.withLock { done += Int64(bytes) }
        if eager { updated() }
    }

    /// Shows the line now (`eager` only: otherwise the timer does).
    private func updated() {
        (parent ?? self).show()
    }

    /// A blob of `size` bytes in flight, shown by `label` while it is the largest one.
    /// With `countsOverall: false`, its bytes are its own only (an archive's entry, whose
    /// uncompressed bytes are not the archive's bytes the total counts).
    public func begin(_ label: String, size: Int64, countsOverall: Bool = true) -> Item {
        lock.withLock {
            nextItem += 1
            let item = Item(label: label, size: size, countsOverall: countsOverall, id: nextItem, owner: self)
            inFlight[nextItem] = item
            return item
        }
    }

    /// One blob in flight, from `begin` until `finish`.
    public final class Item: @unchecked Sendable {
        fileprivate let label: String
        fileprivate let size: Int64
        fileprivate let countsOverall: Bool
        fileprivate let id: Int
        fileprivate var done: Int64 = 0
        private let owner: TransferProgress

        fileprivate init(label: String, size: Int64, countsOverall: Bool, id: Int, owner: TransferProgress) {
            self.label = label
            self.size = size
            self.countsOverall = countsOverall
            self.id = id
            self.owner = owner
        }

        /// Records bytes of this blob done (and of the whole, unless it was begun without).
        public func advance(_ bytes: Int) {
            owner.lock.withLock {
                done += Int64(bytes)
                if countsOverall { owner.done += Int64(bytes) }
            }
            if owner.eager { owner.updated() }
        }

        /// The blob is done: it leaves the line and counts as a blob done.
        public func finish() {
            owner.lock.withLock {
                if owner.inFlight.removeValue(forKey: id) != nil { owner.blobsDone += 1 }
            }
        }

        /// The blob is abandoned (an error): it leaves the line without counting as done.
        /// After `finish`, does nothing, so it may run in a `defer`.
        public func cancel() {
            _ = owner.lock.withLock { owner.inFlight.removeValue(forKey: id) }
        }
    }

    private var counts: Snapshot.Counts {
        lock.withLock { Snapshot.Counts(blobsDone: blobsDone, blobs: blobs, done: done, total: total) }
    }

    private var largestInFlight: Snapshot.Blob? {
        lock.withLock {
            inFlight.values.max { ($0.size, -$0.id) < ($1.size, -$1.id) }.map { Snapshot.Blob(label: $0.label, done: $0.done, size: $0.size) }
        }
    }

    /// What the line shows now.
    func snapshot() -> Snapshot {
        let shown = lock.withLock { parts }
        var counts = self.counts
        var largest = largestInFlight
        var partCounts: [(String, Snapshot.Counts)] = []
        for (label, part) in shown {
            let own = part.counts
            partCounts.append((label, own))
            counts.done += own.done
            counts.total += own.total
            counts.blobs += own.blobs
            counts.blobsDone += own.blobsDone
            if let theirs = part.largestInFlight, theirs.size > (largest?.size ?? -1) { largest = theirs }
        }
        return Snapshot(verb: verb, counts: counts, parts: partCounts, largest: largest)
    }

    /// Writes the line (by the timer): redrawn in place on a terminal, a line of its own otherwise.
    private func show() {
        let snapshot = snapshot()
        let bytesPerSecond = lock.withLock { rate.add(snapshot.counts.done, at: Self.now()) }
        let text = snapshot.line(rate: bytesPerSecond)
        StandardErrorLine.shared.show(text, live: mode == .tty) { [self] in lock.withLock { finished } }
    }

    /// Stops the line, and clears it from a terminal. Call once the work is done or failed.
    public func finish() {
        let first = lock.withLock {
            defer { finished = true }
            return !finished
        }
        guard first else { return }
        timer?.cancel()
        if mode == .tty { StandardErrorLine.shared.clear() }
    }

    /// Bytes done so far (by every part, when there are parts).
    public var transferred: Int64 {
        let (own, shown) = lock.withLock { (done, parts) }
        return shown.reduce(own) { $0 + $1.progress.transferred }
    }

    /// Writes `text` to stderr, clearing a terminal's progress line first (it comes back
    /// at the next redraw): every note and error goes through here.
    public static func writeToStandardError(_ text: String) {
        StandardErrorLine.shared.write(text)
    }

    /// Makes SIGINT (Ctrl-C) clear the progress line and exit with status 130. Stowage
    /// never leaves a half-written file under its final name (temporary files are renamed
    /// when complete, and `gc` removes leftovers), so exiting at once is safe.
    public static func exitOnInterrupt() {
        StandardErrorLine.shared.exitOnInterrupt()
    }

    private static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}

/// The recent rate of a count: bytes per second over the last `span` seconds.
struct RateWindow {
    private var samples: [(time: Double, value: Int64)]
    private let span: Double

    init(span: Double, now: Double) {
        self.span = span
        samples = [(now, 0)]
    }

    /// Adds a sample; returns the rate since the oldest sample within `span` (or the one just before).
    mutating func add(_ value: Int64, at time: Double) -> Double {
        samples.append((time, value))
        while samples.count > 2 && samples[1].time <= time - span { samples.removeFirst() }
        let first = samples[0]
        guard time > first.time else { return 0 }
        return max(0, Double(value - first.value) / (time - first.time))
    }
}
