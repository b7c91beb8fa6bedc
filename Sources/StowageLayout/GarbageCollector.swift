#if canImport(Glibc)
import Glibc
#endif
import StowageModel

/// What `stowage gc` removed (or, with `--dry-run`, would remove).
public struct GCReport: Sendable, Codable, Equatable {
    /// A removed blob or temporary file.
    public struct Item: Sendable, Codable, Equatable {
        /// The path relative to the layout (`blobs/sha256/…`, `.stowage/tmp/…`).
        public var path: String
        /// The blob's digest; nil for temporary files.
        public var digest: String?
        /// Bytes freed (for a directory, the sum of its files).
        public var size: Int64
    }

    /// True when nothing was removed on purpose.
    public var dryRun: Bool
    /// The grace period in seconds: younger blobs and temporary files were kept.
    public var graceSeconds: Double
    /// Blobs some reference reaches (all kept).
    public var reachableBlobs: Int
    /// Unreachable blobs removed, sorted by digest.
    public var removedBlobs: [Item]
    /// Stale entries of `.stowage/tmp/` removed, sorted by name.
    public var removedTemporaryFiles: [Item]
    /// Bytes freed by both.
    public var bytesFreed: Int64
    /// Unreachable blobs kept because they are younger than the grace period, or
    /// because a manifest or index younger than it reaches them.
    public var keptYoungBlobs: Int
    /// Temporary entries kept because they are younger than the grace period.
    public var keptYoungTemporaryFiles: Int
    /// Referrer entries of `index.json` removed because their subject is no longer
    /// reachable from a named image (or, with `--dry-run`, that would be).
    public var removedReferrers: [RemovedReferrer] = []

    /// A referrer entry gc took out of `index.json`.
    public struct RemovedReferrer: Sendable, Codable, Equatable {
        /// The referrer's digest.
        public var digest: String
        /// Its name, for a cosign tag.
        public var reference: String?
        /// The digest it referred to.
        public var subject: String
        /// How it was linked.
        public var link: ReferrerLink
    }
}

/// Removes blobs no reference reaches and stale temporary files.
///
/// Safe beside running writers: it takes the blob lock exclusively, which waits
/// until no import (they hold it shared for their whole run) is in progress and
/// keeps new ones from starting, and holds the index lock while it marks and
/// sweeps, so nothing can name a blob it is deleting. As a second line of
/// defence (a writer on a machine whose locks do not work), blobs and
/// temporary files younger than the grace period are kept.
///
/// It refuses to sweep when a manifest or index it must read to find what is
/// reachable is missing or corrupt: deleting the children of an unreadable
/// document would destroy what a repair could still save.
public struct GarbageCollector {
    /// The layout to clean.
    public let layout: Layout
    /// Blobs and temporary files younger than this many seconds are kept; 0 keeps none.
    public var grace: Double
    /// Report what would be removed without removing it, and without taking locks.
    public var dryRun: Bool
    /// The current time in seconds since the epoch; tests move it forward to age files,
    /// since a file's change time cannot be set back.
    public var clock: @Sendable () -> Double = GarbageCollector.currentTime

    /// The default grace period: one hour.
    public static let defaultGrace: Double = 3600

    /// A collector for `layout`.
    public init(layout: Layout, grace: Double = GarbageCollector.defaultGrace, dryRun: Bool = false) {
        self.layout = layout
        self.grace = grace
        self.dryRun = dryRun
    }

    /// Marks what `index.json` reaches and sweeps the rest.
    public func collect() throws -> GCReport {
        if dryRun { return try markAndSweep() }
        // Order matters: blob lock, then index lock, as imports and tags take them.
        let blobLock = try layout.lockBlobs(.exclusive, purpose: "gc")
        defer { blobLock.unlock() }
        let indexLock = try layout.lockIndex(purpose: "gc")
        defer { indexLock.unlock() }
        return try markAndSweep()
    }

    private func markAndSweep() throws -> GCReport {
        let now = clock()
        let index = try layout.readIndex()
        // Referrers are kept by their subject, not by their own entry: walk what names and
        // other entries reach (without following subjects), then add each referrer whose
        // subject is reached, until no more are (the signature of an SBOM of an image).
        let classified = LayoutReferrers(index: index, blobs: layout.blobs)
        var graph = ContentGraph.walk(
            layout.blobs, roots: classified.roots.map(ReachabilityRoot.init(entry:)), followSubjects: false)
        try Self.refuseUnwalkable(graph)
        var reachable = graph.reachable
        var pending = classified.links
        while true {
            let isReady = pending.map { reachable.contains($0.subject) || isYoungEntry($0.entry, now: now) }
            let ready = zip(pending, isReady).filter(\.1).map(\.0)
            guard !ready.isEmpty else { break }
            pending = zip(pending, isReady).filter { !$0.1 }.map(\.0)
            graph = ContentGraph.walk(
                layout.blobs, roots: ready.map { ReachabilityRoot(entry: $0.entry) }, followSubjects: false)
            try Self.refuseUnwalkable(graph)
            reachable.formUnion(graph.reachable)
        }
        let reachableFromEntries = reachable
        let orphans = pending
        if !orphans.isEmpty && !dryRun {
            // gc holds the index lock: no writer can have changed index.json since it was read.
            var updated = index
            let gone = Set(orphans.map { LayoutReferrers.key($0.entry) })
            updated.manifests.removeAll { gone.contains(LayoutReferrers.key($0)) }
            try layout.replaceFile(layout.indexPath, with: JSONCoding.encode(updated))
        }
        let directory = layout.blobs.directory
        let names = FileSystem.isDirectory(directory) ? try FileSystem.listDirectory(directory) : []
        // A young manifest or index keeps everything it reaches, however old: the grace
        // period protects whole graphs, never half of one.
        let youngRoots = try youngDocuments(names, excluding: reachable, now: now)
        let keptForYoungRoots = ContentGraph.walk(layout.blobs, roots: youngRoots, followSubjects: false).reachable.subtracting(reachable)
        reachable.formUnion(keptForYoungRoots)
        var report = GCReport(
            dryRun: dryRun, graceSeconds: grace, reachableBlobs: reachable.count, removedBlobs: [],
            removedTemporaryFiles: [], bytesFreed: 0, keptYoungBlobs: 0, keptYoungTemporaryFiles: 0)

        report.keptYoungBlobs = keptForYoungRoots.count
        report.reachableBlobs = reachableFromEntries.count
        report.removedReferrers = orphans.map {
            .init(digest: $0.entry.digest.string, reference: $0.entry.refName, subject: $0.subject.string, link: $0.link)
        }
        var removedAny = false
        for name in names.sorted() {
            // Files not named by a digest are not Stowage's to remove; `verify` lists them.
            guard let digest = Digest(validHex: name), !reachable.contains(digest) else { continue }
            let path = "\(directory)/\(name)"
            guard let st = try FileSystem.status(path), (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if isYoung(st, now: now) {
                report.keptYoungBlobs += 1
                continue
            }
            if !dryRun {
                guard unlink(path) == 0 else {
                    if errno == ENOENT { continue }
                    throw FileSystem.ioError("remove", path)
                }
                removedAny = true
            }
            report.removedBlobs.append(.init(path: "blobs/sha256/\(name)", digest: digest.string, size: Int64(st.st_size)))
            report.bytesFreed += Int64(st.st_size)
        }
        if removedAny { try? FileSystem.fsyncDirectory(directory) }

        let temporary = layout.temporaryDirectory
        let entries = FileSystem.isDirectory(temporary) ? try FileSystem.listDirectory(temporary) : []
        for name in entries.sorted() {
            let path = "\(temporary)/\(name)"
            guard let (newest, size) = try Self.newestChange(path) else { continue }
            if grace > 0 && now - newest < grace {
                report.keptYoungTemporaryFiles += 1
                continue
            }
            if !dryRun { try FileSystem.removeTree(path) }
            report.removedTemporaryFiles.append(.init(path: ".stowage/tmp/\(name)", digest: nil, size: size))
            report.bytesFreed += size
        }
        return report
    }

    private static func refuseUnwalkable(_ graph: ContentGraph) throws {
        if let (edge, issue) = graph.blockingIssues.first {
            throw StowageError(
                .invalidLayout,
                "gc removed nothing: \(edge.summary) \(issue.explanation), so what it references is unknown; run `stowage verify`")
        }
    }

    /// Whether a referrer entry's manifest was written or linked within the grace period:
    /// its subject may be on its way (a writer whose locks do not work), so it stays.
    private func isYoungEntry(_ entry: Descriptor, now: Double) -> Bool {
        guard grace > 0, let st = try? FileSystem.status(layout.blobs.path(of: entry.digest)) else { return false }
        return isYoung(st, now: now)
    }

    /// The unreachable blobs younger than the grace period that are manifests or
    /// indexes, as roots to walk: what they reach is kept with them.
    private func youngDocuments(_ names: [String], excluding reachable: Set<Digest>, now: Double) throws -> [ReachabilityRoot] {
        guard grace > 0 else { return [] }
        var roots: [ReachabilityRoot] = []
        for name in names {
            guard let digest = Digest(validHex: name), !reachable.contains(digest) else { continue }
            let path = layout.blobs.path(of: digest)
            guard let st = try FileSystem.status(path), (st.st_mode & S_IFMT) == S_IFREG, isYoung(st, now: now),
                st.st_size <= BlobStore.maxDocumentSize,
                let first = try? FileSystem.readPrefix(path, count: 1, followLinks: false).first, first == UInt8(ascii: "{"),
                let bytes = try? layout.blobs.readDocument(digest),
                let mediaType = try? MediaType(ofDocument: bytes, what: "blob \(digest)"),
                ContentDocument.isDocument(mediaType)
            else { continue }
            roots.append(ReachabilityRoot(
                label: "young blob \(digest)", descriptor: Descriptor(mediaType: mediaType, digest: digest, size: Int64(st.st_size))))
        }
        return roots
    }

    /// Whether a blob changed (was written, or linked into `blobs/`) within the grace period.
    /// ctime moves when `link(2)` adds a name, so a blob an import just linked is young
    /// even if it was staged long ago.
    private func isYoung(_ st: stat, now: Double) -> Bool {
        guard grace > 0 else { return false }
        return now - Self.changeTime(st) < grace
    }

    private static func changeTime(_ st: stat) -> Double {
        let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        let changed = Double(st.st_ctim.tv_sec) + Double(st.st_ctim.tv_nsec) / 1e9
        return max(modified, changed)
    }

    /// The latest change time in a file or directory tree, and the bytes of its files;
    /// nil when it vanished meanwhile.
    private static func newestChange(_ path: String) throws -> (Double, Int64)? {
        guard let st = try FileSystem.status(path) else { return nil }
        var newest = changeTime(st)
        var size: Int64 = 0
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? FileSystem.listDirectory(path)) ?? [] {
                if let (childNewest, childSize) = try newestChange("\(path)/\(name)") {
                    newest = max(newest, childNewest)
                    size += childSize
                }
            }
        } else if (st.st_mode & S_IFMT) == S_IFREG {
            size = Int64(st.st_size)
        }
        return (newest, size)
    }

    /// The system's real-time clock, in seconds since the epoch.
    @Sendable public static func currentTime() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// Durations as users write them for `--grace`: `0`, `45s`, `10m`, `1h`, `2d`,
/// `1h30m`, `500ms`; a bare number is seconds.
public enum GracePeriod {
    private static let units: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
    ]

    /// Parses a duration into seconds.
    public static func parse(_ text: String) throws -> Double {
        let invalid = StowageError(
            .usage, "invalid duration '\(text)': write a number with a unit, such as 0, 30s, 10m, 1h or 1h30m")
        let trimmed = text.trimmingSpaces
        if let seconds = Double(trimmed) {
            guard seconds >= 0, seconds.isFinite else { throw invalid }
            return seconds
        }
        var rest = Substring(trimmed)
        var total = 0.0
        guard !rest.isEmpty else { throw invalid }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { throw invalid }
            rest = rest.dropFirst(number.count)
            let letters = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.suffix == String(letters) }) else { throw invalid }
            rest = rest.dropFirst(letters.count)
            total += value * unit.seconds
        }
        guard total.isFinite else { throw invalid }
        return total
    }

    /// `1h`, `30m`, `45s`, `1h30m`, `0s`: the shortest way to write whole seconds back.
    public static func format(_ seconds: Double) -> String {
        var rest = Int(seconds.rounded())
        guard rest > 0 else { return seconds > 0 ? "\(Int(seconds * 1000))ms" : "0s" }
        var text = ""
        for (suffix, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(suffix)"
            rest %= size
        }
        return text
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
