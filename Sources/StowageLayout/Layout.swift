#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StowageModel

/// An OCI image-layout directory used as a store of many named images.
///
/// Readers take no lock: `index.json` is only ever replaced by an atomic rename,
/// so a reader sees the old or the new file, never a mix. Every change goes
/// through `updateIndex`, a read-modify-write under an exclusive lock on
/// `.stowage/index.lock`. Nothing is created on disk by `open`, so read-only
/// layouts can be listed and inspected.
public final class Layout: Sendable {
    /// The layout directory.
    public let root: String
    /// The blobs of the layout.
    public let blobs: BlobStore

    /// `DIR/.stowage`: locks and temporary files, never part of the OCI layout.
    public var privateDirectory: String { "\(root)/.stowage" }
    /// `DIR/.stowage/tmp`.
    public var temporaryDirectory: String { "\(privateDirectory)/tmp" }
    /// `DIR/index.json`.
    public var indexPath: String { "\(root)/index.json" }
    /// `DIR/oci-layout`.
    public var layoutFilePath: String { "\(root)/oci-layout" }

    /// How long a writer waits for another writer's lock, in seconds
    /// (`STOWAGE_LOCK_TIMEOUT` overrides the default of 120; it must be a positive, finite number).
    public var lockTimeout: Double {
        get throws {
            guard let raw = getenv("STOWAGE_LOCK_TIMEOUT") else { return 120 }
            let text = String(cString: raw)
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0 else {
                throw StowageError(
                    .usage, "STOWAGE_LOCK_TIMEOUT is '\(Digest.printable(text))'; set it to a positive number of seconds, such as 120, or unset it")
            }
            return seconds
        }
    }

    private init(root: String) {
        let trimmed = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.root = trimmed
        blobs = BlobStore(directory: "\(trimmed)/blobs/sha256", temporaryDirectory: "\(trimmed)/.stowage/tmp")
    }

    /// Opens an existing layout without writing anything.
    public static func open(_ root: String) throws -> Layout {
        let layout = Layout(root: root)
        guard FileSystem.isDirectoryFollowingLinks(layout.root) else {
            if FileSystem.exists(layout.root) {
                throw StowageError(.invalidLayout, "\(layout.root) is a file, not a layout directory; give --layout the directory of an OCI layout")
            }
            throw StowageError(.notFound, "layout \(layout.root) does not exist")
        }
        try layout.checkLayoutFile()
        return layout
    }

    /// The layout at `root` as `open` checks it, or, when nothing is there yet, an empty
    /// layout that is not created: what a dry run plans against. Nothing is written.
    public static func openOrEmpty(_ root: String) throws -> Layout {
        FileSystem.exists(root) ? try open(root) : Layout(root: root)
    }

    /// Opens a layout, creating it (and the directory) when absent. An existing
    /// directory that holds something other than a layout is refused.
    public static func create(_ root: String) throws -> Layout {
        let layout = Layout(root: root)
        if FileSystem.exists(layout.layoutFilePath) {
            try layout.checkLayoutFile()
            try layout.preparePrivateDirectory()
            return layout
        }
        if FileSystem.exists(layout.root) {
            guard FileSystem.isDirectoryFollowingLinks(layout.root) else {
                throw StowageError(.invalidLayout, "\(layout.root) is a file, not a layout directory; give --layout the directory of an OCI layout")
            }
            // Another process may be creating the same layout right now: its files are not foreign.
            let own: Set<String> = [".stowage", "blobs", "index.json", "oci-layout"]
            let foreign = try FileSystem.listDirectory(layout.root).filter { !own.contains($0) }
            guard foreign.isEmpty else {
                throw StowageError(.invalidLayout, "\(layout.root) is not an OCI layout (no oci-layout file) and is not empty; choose an empty or new directory")
            }
        }
        try FileSystem.makeDirectories(layout.root)
        try layout.preparePrivateDirectory()
        // Several processes may create the same layout at once: decide under the lock.
        let lock = try layout.lockIndex(purpose: "create layout")
        defer { lock.unlock() }
        if !FileSystem.exists(layout.layoutFilePath) {
            try FileSystem.makeDirectories(layout.blobs.directory)
            if !FileSystem.exists(layout.indexPath) {
                try layout.replaceFile(layout.indexPath, with: JSONCoding.encode(Index()))
            }
            try layout.replaceFile(layout.layoutFilePath, with: ImageLayoutFile.currentBytes)
        }
        try layout.checkLayoutFile()
        return layout
    }

    /// Whether this process can change the layout.
    public var isWritable: Bool { FileSystem.isWritable(root) }

    func preparePrivateDirectory() throws {
        guard isWritable else {
            throw StowageError(.io, "layout \(root) is read-only; this command needs to write to it")
        }
        try FileSystem.makeDirectories(temporaryDirectory)
    }

    private func checkLayoutFile() throws {
        guard FileSystem.exists(layoutFilePath) else {
            throw StowageError(.invalidLayout, "\(root) is not an OCI layout: oci-layout is missing")
        }
        try ImageLayoutFile.check(FileSystem.readFile(layoutFilePath, limit: 64 * 1024), what: layoutFilePath)
    }

    // MARK: - index.json

    /// The exact bytes of `index.json`.
    public func readIndexBytes() throws -> [UInt8] {
        guard FileSystem.exists(indexPath) else {
            throw StowageError(.invalidLayout, "\(root) is not an OCI layout: index.json is missing")
        }
        return try FileSystem.readFile(indexPath, limit: FileSystem.maxIndexSize)
    }

    /// The current `index.json`, read without a lock.
    public func readIndex() throws -> Index {
        guard FileSystem.exists(indexPath) else {
            throw StowageError(.invalidLayout, "\(root) is not an OCI layout: index.json is missing")
        }
        return try FileSystem.readIndex(indexPath, what: indexPath)
    }

    /// Reads, changes and writes `index.json` under the exclusive layout lock.
    /// `body` sees the latest index; if it throws, nothing is written.
    public func updateIndex<T>(purpose: String, _ body: (inout Index) throws -> T) throws -> T {
        try preparePrivateDirectory()
        let lock = try lockIndex(purpose: purpose)
        defer { lock.unlock() }
        var index = try readIndex()
        let original = index
        let result = try body(&index)
        if index != original {
            // Streamed entry by entry: a large index.json is never built in memory.
            try replaceFile(indexPath) { write in try index.writeJSON(write) }
        }
        return result
    }

    /// Takes the exclusive lock that serialises every `index.json` change.
    public func lockIndex(purpose: String) throws -> FileLock {
        try FileLock(path: "\(privateDirectory)/index.lock", mode: .exclusive, timeout: lockTimeout, purpose: purpose)
    }

    /// Takes the lock that keeps garbage collection away: shared for writers that
    /// add blobs or name them (imports, tags, pulls), exclusive for gc.
    ///
    /// gc first declares its intent on `.stowage/gc-intent.lock`, which writers pass
    /// through on their way in: new writers wait behind a waiting gc instead of
    /// overtaking it, so a steady stream of writers cannot starve it. A writer that
    /// already holds the blob lock (a nested step of the same command) joins it at once.
    public func lockBlobs(_ mode: FileLock.Mode, purpose: String) throws -> FileLock {
        try preparePrivateDirectory()
        let path = "\(privateDirectory)/gc.lock"
        let timeout = try lockTimeout
        if mode == .shared && FileLock.isHeld(path) {
            return try FileLock(path: path, mode: .shared, timeout: timeout, purpose: purpose)
        }
        let intent = try FileLock(
            path: "\(privateDirectory)/gc-intent.lock", mode: mode, timeout: timeout,
            purpose: mode == .exclusive ? purpose : "\(purpose) (behind a waiting gc)")
        defer { intent.unlock() }
        return try FileLock(path: path, mode: mode, timeout: timeout, purpose: purpose)
    }

    /// Writes `bytes` to a temporary file, fsyncs it and renames it over `path`.
    func replaceFile(_ path: String, with bytes: [UInt8]) throws {
        try replaceFile(path) { write in try write(bytes) }
    }

    /// Writes a file in pieces to a temporary file, fsyncs it and renames it over `path`.
    func replaceFile(_ path: String, writing body: (_ write: ([UInt8]) throws -> Void) throws -> Void) throws {
        let temporary = "\(temporaryDirectory)/replace-\(getpid())-\(FileSystem.randomSuffix())"
        try FileSystem.replaceFile(path, through: temporary, body)
        try FileSystem.fsyncDirectory(root)
        if path == indexPath { recordIndexWritten() }
    }

    /// A new private directory under `.stowage/tmp/` for staging an operation's files.
    public func makeStagingDirectory(_ purpose: String) throws -> String {
        try preparePrivateDirectory()
        let path = "\(temporaryDirectory)/\(purpose)-\(getpid())-\(FileSystem.randomSuffix())"
        guard mkdir(path, 0o755) == 0 else { throw FileSystem.ioError("create directory", path) }
        return path
    }
}
