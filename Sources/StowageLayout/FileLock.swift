#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StowageModel

/// A cross-process lock on a file under `.stowage/`, using open-file-description
/// (OFD) record locks, which the Linux NFSv4 client turns into NFS locks, so
/// processes on different machines sharing a volume exclude each other.
///
/// Within one process, every lock file is opened once: holders of the same file
/// share that descriptor and a count, shared with shared, and an exclusive holder
/// excludes everyone else, in this process as in others. So a nested lock of the
/// same file never closes another descriptor of it, which would drop every
/// classic POSIX lock (the fallback where OFD locks are missing) the process has.
///
/// After the lock is granted, the descriptor is checked to be the file now at
/// the path (device and inode): a lock file deleted or replaced meanwhile would
/// otherwise split the lock between the old file and the new one.
///
/// The lock is released when the last `FileLock` of the file in this process is
/// released or the process dies: the kernel (or the NFS server's lease) drops it
/// with the descriptor.
public final class FileLock: @unchecked Sendable {
    /// Shared (readers of the same resource) or exclusive (one writer).
    public enum Mode: Sendable { case shared, exclusive }

    /// The lock file.
    public let path: String
    /// The mode this lock was taken in.
    public let mode: Mode
    private var held = false
    private let guardLock = NSLock()

    /// Forces the classic POSIX lock (`F_SETLK`) instead of the OFD lock, as on a
    /// file system without OFD locks; for tests of that fallback.
    nonisolated(unsafe) public static var forceClassicLocks = false

    /// Takes the lock, waiting up to `timeout` seconds; on timeout, the error
    /// names the lock file and the last holder recorded in it.
    public init(path: String, mode: Mode, timeout: Double, purpose: String) throws {
        guard timeout.isFinite, timeout >= 0 else {
            throw StowageError(.usage, "the lock timeout must be a finite number of seconds, not \(timeout)")
        }
        self.path = path
        self.mode = mode
        var waited = 0.0
        var pause = 0.002
        while true {
            if try Self.table.acquire(path, mode: mode, purpose: purpose) { break }
            if waited >= timeout {
                let holder = Self.table.ownerRecord(path)
                throw StowageError(
                    .lockTimeout,
                    "timed out after \(Self.seconds(timeout)) waiting for the \(purpose) lock \(path)"
                        + (holder.isEmpty ? "" : " held by \(holder)")
                        + "; if that process is gone, its lock is freed when its machine's NFS lease expires")
            }
            usleep(UInt32(pause * 1_000_000))
            waited += pause
            // Short pauses: sixteen writers queueing on one index.json must not leave it idle
            // between them; a failed attempt is one fcntl call.
            pause = min(pause * 1.5, 0.01)
        }
        held = true
    }

    deinit {
        unlock()
    }

    /// Whether this process holds a lock on `path`, in any mode.
    public static func isHeld(_ path: String) -> Bool {
        table.isHeld(path)
    }

    private static func seconds(_ value: Double) -> String {
        value >= 10 ? "\(Int(value))s" : "\((value * 10).rounded() / 10)s"
    }

    /// Releases the lock now rather than at deinit; a second call does nothing.
    public func unlock() {
        let release = guardLock.withLock { () -> Bool in
            defer { held = false }
            return held
        }
        if release { Self.table.release(path) }
    }

    private static let table = LockTable()

    /// The lock files this process holds: one descriptor each, and how many hold it.
    private final class LockTable: @unchecked Sendable {
        struct Entry {
            var fd: Int32
            var mode: Mode
            var holders: Int
        }

        private var entries: [String: Entry] = [:]
        private let mutex = NSLock()

        /// Takes the lock if it is free now; false when someone (here or elsewhere) holds it.
        func acquire(_ path: String, mode: Mode, purpose: String) throws -> Bool {
            try mutex.withLock {
                if var entry = entries[path] {
                    guard entry.mode == .shared, mode == .shared else { return false }
                    entry.holders += 1
                    entries[path] = entry
                    return true
                }
                let fd = try FileSystem.open(path, O_RDWR | O_CREAT, mode: 0o644)
                // No entry: this process holds no lock on the file, so closing `fd` drops nothing.
                guard try FileLock.tryLock(fd, mode: mode, path: path) else {
                    close(fd)
                    return false
                }
                guard FileLock.isFileAtPath(fd, path) else {
                    // Deleted or replaced since it was opened: lock the file that is there now.
                    close(fd)
                    return false
                }
                entries[path] = Entry(fd: fd, mode: mode, holders: 1)
                if mode == .exclusive { FileLock.recordOwner(fd, purpose: purpose) }
                return true
            }
        }

        func release(_ path: String) {
            mutex.withLock {
                guard var entry = entries[path] else { return }
                entry.holders -= 1
                if entry.holders > 0 {
                    entries[path] = entry
                } else {
                    close(entry.fd)
                    entries[path] = nil
                }
            }
        }

        func isHeld(_ path: String) -> Bool {
            mutex.withLock { entries[path] != nil }
        }

        /// The holder recorded in the lock file, read through this process's descriptor
        /// when it has one (closing another would drop classic locks).
        func ownerRecord(_ path: String) -> String {
            mutex.withLock {
                let fd: Int32
                var opened = false
                if let entry = entries[path] {
                    fd = entry.fd
                } else {
                    fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { return "" }
                    opened = true
                }
                defer { if opened { close(fd) } }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return "" }
                return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    // F_OFD_* are behind _GNU_SOURCE in glibc's headers; the values are Linux ABI.
    private static let ofdSetLock: Int32 = 37

    private static func tryLock(_ fd: Int32, mode: Mode, path: String) throws -> Bool {
        var lock = flock()
        lock.l_type = Int16(mode == .exclusive ? F_WRLCK : F_RDLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        lock.l_pid = 0
        if !forceClassicLocks {
            if fcntl(fd, ofdSetLock, &lock) == 0 { return true }
            if errno == EAGAIN || errno == EACCES || errno == EINTR { return false }
            guard errno == EINVAL || errno == ENOLCK else { throw FileSystem.ioError("lock", path) }
        }
        // No OFD locks (old kernel, NFSv3 without lockd): fall back to a classic POSIX lock.
        if fcntl(fd, F_SETLK, &lock) == 0 { return true }
        if errno == EAGAIN || errno == EACCES || errno == EINTR { return false }
        throw FileSystem.ioError("lock", path)
    }

    /// Whether `fd` is the file now at `path` (same device and inode).
    private static func isFileAtPath(_ fd: Int32, _ path: String) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0, stat(path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// Writes who holds the lock into the lock file, for timeout messages.
    private static func recordOwner(_ fd: Int32, purpose: String) {
        let record = "pid \(getpid()) on host \(FileSystem.hostName()) (\(purpose))\n"
        _ = ftruncate(fd, 0)
        _ = record.utf8CString.withUnsafeBufferPointer { buffer in
            pwrite(fd, buffer.baseAddress, buffer.count - 1, 0)
        }
    }
}
