#if canImport(Glibc)
import Glibc
#endif
import StowageModel

/// Naming and unnaming on a large `index.json` without rewriting it from a full parse:
/// the entries that mention the names and digests involved are found (`IndexLocator`),
/// the edit runs on them alone, and the file is written as the old bytes with entries
/// cut out and new ones appended — under the same lock, through the same temporary
/// file, fsync and rename as every edit.
///
/// The result must be the bytes a full rewrite gives, so the quick path is taken only
/// when `index.json` is known to be Stowage's own writing: `.stowage/index.written`
/// records the file identity (device, inode, size, modification time) of the last
/// `index.json` Stowage wrote. Any other file, a lookup the located entries cannot
/// answer, or an error, sends the edit down the general path, which then decides
/// (and reports) as always.
extension Layout {
    /// `DIR/.stowage/index.written`.
    var indexRecordPath: String { "\(privateDirectory)/index.written" }

    /// Runs `body` on the entries that mention one of `needles`, under the index lock,
    /// and splices its outcome into `index.json`. `body` may only remove entries and
    /// append new ones (what `setReference`, `removeReference` and `addUnnamed` do); it
    /// returns nil, or throws, when it needs the whole index. Returns nil when the general
    /// path must run instead; nothing has been written then.
    ///
    /// `moreNeedles` may name what the first located entries lead to (the digest a name
    /// points at): the entries mentioning those are located as well, in the same bytes.
    func quickUpdateIndex<T>(
        purpose: String, needles: [[UInt8]], moreNeedles: (Index) throws -> [[UInt8]] = { _ in [] },
        _ body: (inout Index) throws -> T?
    ) throws -> T? {
        // Each entry is searched for each needle: many names (a large import) go the general way.
        guard needles.count <= 64, FileSystem.exists(indexRecordPath) else { return nil }
        try preparePrivateDirectory()
        let lock = try lockIndex(purpose: purpose)
        defer { lock.unlock() }
        guard let identity = try? Self.identity(of: indexPath), identity.size <= Int64(Self.maxLocatedIndexSize),
            (try? FileSystem.readFile(indexRecordPath, limit: 4096)) == Array(identity.record.utf8)
        else { return nil }
        let bytes = try readIndexBytes()
        guard var located = try? IndexLocator.locate(in: bytes, what: indexPath, containing: needles) else { return nil }
        if let extra = try? moreNeedles(Index(manifests: located.entries.map(\.descriptor))), !extra.isEmpty {
            guard needles.count + extra.count <= 64, let more = try? IndexLocator.locate(in: bytes, what: indexPath, containing: needles + extra) else { return nil }
            located = more
        }
        var partial = Index(manifests: located.entries.map(\.descriptor))
        let before = partial
        guard let result = try? body(&partial) else { return nil }
        guard partial.manifests != before.manifests else { return result }
        guard let spliced = IndexLocator.splice(bytes, located, into: partial.manifests) else { return nil }
        if spliced != bytes { try replaceFile(indexPath, with: spliced) }
        return result
    }

    /// Notes that `index.json`, as it is now, is Stowage's own writing.
    func recordIndexWritten() {
        guard let identity = try? Self.identity(of: indexPath) else { return }
        let temporary = "\(temporaryDirectory)/index-written-\(getpid())-\(FileSystem.randomSuffix())"
        // Best effort, and not synced: without the record the next edit takes the general path.
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            try? FileSystem.removeFile(indexRecordPath)
            return
        }
        let written = Array(identity.record.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written != identity.record.utf8.count || Glibc.rename(temporary, indexRecordPath) != 0 {
            try? FileSystem.removeFile(temporary)
            try? FileSystem.removeFile(indexRecordPath)
        }
    }

    /// What tells one `index.json` from another written in its place.
    private static func identity(of path: String) throws -> (size: Int64, record: String) {
        guard let status = try FileSystem.status(path) else { throw StowageError(.notFound, "\(path) is missing") }
        let record = "stowage index.json v1 dev \(status.st_dev) ino \(status.st_ino) size \(status.st_size) mtime \(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)\n"
        return (Int64(status.st_size), record)
    }
}
