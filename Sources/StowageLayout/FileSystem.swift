#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import StowageModel

/// Thin wrappers over the system calls the layout uses, each throwing a
/// `StowageError` that names the path and the errno text.
public enum FileSystem {
    /// The text of an errno value.
    public static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// A `.io` error for the last failed call on `path`.
    public static func ioError(_ what: String, _ path: String, errno code: Int32 = errno) -> StowageError {
        StowageError(.io, "cannot \(what) \(path)", cause: errorText(code))
    }

    /// Opens `path`, retrying on EINTR.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw ioError("open", path)
        }
    }

    /// Writes all of `buffer` to `fd`, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path)
            }
            offset += n
        }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw ioError("read", path)
        }
    }

    /// Flushes `fd` to stable storage.
    public static func fsync(_ fd: Int32, path: String) throws {
        guard Glibc.fsync(fd) == 0 else { throw ioError("sync", path) }
    }

    /// Flushes a directory's entries (after a rename or link into it).
    public static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        // Some filesystems (and NFS) refuse fsync on directories; rename is still atomic there.
        if Glibc.fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
            throw ioError("sync directory", path)
        }
    }

    /// Creates `path` and its parents; existing directories are fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectoryFollowingLinks(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw ioError("create directory", prefix)
            }
            prefix += "/"
        }
        guard isDirectoryFollowingLinks(path) else {
            throw StowageError(.io, "cannot create directory \(path): a file is in the way")
        }
    }

    /// `stat` of `path`, or nil when it does not exist.
    public static func status(_ path: String) throws -> stat? {
        var st = stat()
        if lstat(path, &st) == 0 { return st }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw ioError("inspect", path)
    }

    /// Whether `path` is a directory (not following a final symlink).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether `path` is a directory or a symlink to one: a layout root the user named.
    public static func isDirectoryFollowingLinks(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether `path` is a regular file (not following a final symlink).
    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether anything exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Hard-links `source` to `destination`; returns false if `destination` exists.
    /// A link never replaces an existing file, so a blob is never overwritten.
    public static func linkNoReplace(_ source: String, _ destination: String) throws -> Bool {
        if link(source, destination) == 0 { return true }
        if errno == EEXIST { return false }
        throw ioError("link \(source) to", destination)
    }

    /// Atomically replaces `destination` with `source`.
    public static func rename(_ source: String, _ destination: String) throws {
        guard Glibc.rename(source, destination) == 0 else { throw ioError("rename \(source) to", destination) }
    }

    /// Removes a file; a missing file is not an error.
    public static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw ioError("remove", path) }
    }

    /// Removes a directory tree; used for Stowage's own temporary directories only.
    public static func removeTree(_ path: String) throws {
        guard let st = try status(path) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in try listDirectory(path) { try removeTree("\(path)/\(name)") }
            if rmdir(path) != 0 && errno != ENOENT { throw ioError("remove directory", path) }
        } else {
            try removeFile(path)
        }
    }

    /// The names in a directory, without `.` and `..`.
    public static func listDirectory(_ path: String) throws -> [String] {
        try listDirectoryWithTypes(path).map(\.name)
    }

    /// A directory's entries with whether each is a regular file, as the directory itself
    /// records it (`d_type`): nil where the file system does not say, and `lstat` must.
    /// Listing a hundred thousand blobs this way reads no inode.
    public static func listDirectoryWithTypes(_ path: String) throws -> [(name: String, isRegularFile: Bool?)] {
        guard let dir = opendir(path) else { throw ioError("list", path) }
        defer { closedir(dir) }
        var entries: [(name: String, isRegularFile: Bool?)] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard name != "." && name != ".." else { continue }
            let type = entry.pointee.d_type
            entries.append((name, type == UInt8(DT_UNKNOWN) ? nil : type == UInt8(DT_REG)))
        }
        return entries
    }

    /// Opens a file for reading that must be a regular file reached without a symlink
    /// (`O_NOFOLLOW`, and `O_NONBLOCK` so a fifo cannot block the open).
    public static func openRegularFile(_ path: String) throws -> Int32 {
        try openRegularFileWithSize(path).fd
    }

    /// `openRegularFile`, also giving the file's size when it was opened (from the same
    /// `fstat`, so a reader that checks it costs no extra call).
    public static func openRegularFileWithSize(_ path: String) throws -> (fd: Int32, size: Int64) {
        let fd: Int32
        do {
            fd = try open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch let error as StowageError where error.cause == errorText(ELOOP) {
            throw StowageError(.invalidLayout, "\(path) is a symbolic link; a layout's blobs must be regular files")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw StowageError(.invalidLayout, "\(path) is not a regular file")
        }
        // O_NONBLOCK only kept the open from waiting on a fifo: reads of a regular file
        // ignore it, so it stays set (two fcntl calls a file saved).
        return (fd, Int64(st.st_size))
    }

    /// What `readSmallRegularFile` found.
    public enum SmallFile {
        case bytes([UInt8])
        case missing
        case notRegularFile
        case tooLarge(size: Int64)
    }

    /// Reads a whole small regular file, reached without a symlink, with one open, one
    /// fstat and (for a file that does not change while read, as blobs do not) one read:
    /// the walks of verify and gc read tens of thousands of manifests this way.
    public static func readSmallRegularFile(_ path: String, limit: Int) throws -> SmallFile {
        var fd: Int32
        repeat { fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .missing
            case ELOOP: return .notRegularFile
            default: throw ioError("open", path)
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("inspect", path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .notRegularFile }
        guard st.st_size <= limit else { return .tooLarge(size: Int64(st.st_size)) }
        guard let bytes = try readAll(fd, statedSize: Int(st.st_size), limit: limit, path: path) else {
            return .tooLarge(size: Int64(limit) + 1)
        }
        return .bytes(bytes)
    }

    /// Reads `fd` to its end into one array made for the `statedSize` bytes `fstat` gave
    /// (nil for a pipe), grown only if the file grew; nil once it holds more than `limit`.
    private static func readAll(_ fd: Int32, statedSize: Int?, limit: Int, path: String) throws -> [UInt8]? {
        // One byte more than stated, so a file that grew is noticed without a second read
        // in the usual case. The bytes are read over, so they need no zeroing first.
        let capacity = Swift.min(statedSize ?? 64 * 1024, limit) + 1
        var bytes = [UInt8](unsafeUninitializedCapacity: capacity) { _, initialized in initialized = capacity }
        var count = 0
        while true {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]), path: path)
            }
            count += n
            // As long as the file stated: done, without a read that only says end of file.
            if n == 0 || count == statedSize { break }
            if count == bytes.count {
                guard bytes.count <= limit else { return nil }
                bytes += repeatElement(0, count: Swift.min(bytes.count * 2, limit + 1) - bytes.count)
            }
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Reads a whole small file, refusing files larger than `limit` bytes. A blob, which
    /// must be a regular file reached without a symlink, is read with `readSmallRegularFile`.
    public static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("inspect", path) }
        // A pipe or a special file states no size: read it as it comes.
        let statedSize = (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : nil
        guard let bytes = try readAll(fd, statedSize: statedSize, limit: limit, path: path) else {
            throw StowageError(.unsupported, "\(path) is larger than \(limit) bytes, the limit for a JSON document")
        }
        return bytes
    }

    /// The largest `index.json` read, from a layout or an archive.
    public static let maxIndexSize = 256 * 1024 * 1024

    /// Reads an `index.json` (or any index) from a file as a stream: memory grows with
    /// the entries, never with a copy of the file. `what` names it in errors.
    public static func readIndex(_ path: String, what: String) throws -> Index {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("inspect", path) }
        guard st.st_size <= maxIndexSize else {
            throw StowageError(.unsupported, "\(what) is \(st.st_size) bytes, more than the \(maxIndexSize) Stowage reads for an index")
        }
        let reader = JSONReader(what: what) { buffer in try read(fd, into: buffer, path: path) }
        return try Index(reading: reader, what: what, documentSize: Int64(st.st_size))
    }

    /// The first `count` bytes of a file (fewer if it is shorter).
    public static func readPrefix(_ path: String, count: Int, followLinks: Bool = true) throws -> [UInt8] {
        let fd = followLinks ? try open(path, O_RDONLY) : try openRegularFile(path)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = try buffer.withUnsafeMutableBytes { try read(fd, into: $0, path: path) }
        return Array(buffer[0..<n])
    }

    /// Writes `bytes` to a new file at `path`, fsynced; fails if `path` exists.
    public static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws {
        try writeNewFile(path) { write in try write(bytes) }
    }

    /// Creates `path` (which must not exist), lets `body` write it in pieces, and fsyncs it.
    public static func writeNewFile(_ path: String, _ body: (_ write: ([UInt8]) throws -> Void) throws -> Void) throws {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL)
        defer { close(fd) }
        try body { bytes in try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) } }
        try fsync(fd, path: path)
    }

    /// Writes `temporary` (which must not exist) with `body`, fsyncs it and renames it over
    /// `path`, so `path` is replaced whole or not at all; `temporary` is removed on failure.
    public static func replaceFile(
        _ path: String, through temporary: String, _ body: (_ write: ([UInt8]) throws -> Void) throws -> Void
    ) throws {
        do {
            try writeNewFile(temporary, body)
            try rename(temporary, path)
        } catch {
            try? removeFile(temporary)
            throw error
        }
    }

    /// Whether this process may write into `path` (false on a read-only mount or directory).
    public static func isWritable(_ path: String) -> Bool {
        access(path, W_OK) == 0
    }

    /// The directory of `path` (`.` for a bare name, `/` at the root) and its last component.
    public static func splitPath(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// A short random hex string for temporary names.
    public static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }

    /// This machine's host name, for lock-owner records.
    public static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }
}
