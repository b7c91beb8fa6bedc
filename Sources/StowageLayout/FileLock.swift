#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StowageModel

/// A cross-process lock on a file under `.stowage/`, using open-file-description
/// (OFD) record locks, which the Linux NFSv4 client turns into NFS locks, so
/// processes on different machines sharing a volume exclude each other.
///
/// The lock is released when the `FileLock` is released or the process dies:
/// the kernel (or the NFS server's lease) drops it with the last descriptor.
public final class FileLock {
    /// Shared (readers of the same resource) or exclusive (one writer).
    public enum Mode: Sendable { case shared, exclusive }

    /// The lock file.
    public let path: String
    private var fd: Int32

    // F_OFD_* are behind _GNU_SOURCE in glibc's headers; the values are Linux ABI.
    private static let ofdGetLock: Int32 = 36
    private static let ofdSetLock: Int32 = 37

    /// Takes the lock, waiting up to `timeout` seconds; on timeout, the error
    /// names the lock file and the last holder recorded in it.
    public init(path: String, mode: Mode, timeout: Double, purpose: String) throws {
        self.path = path
        fd = try FileSystem.open(path, O_RDWR | O_CREAT, mode: 0o644)
        var waited = 0.0
        var pause = 0.002
        while true {
            if try Self.tryLock(fd, mode: mode, path: path) { break }
            if waited >= timeout {
                let holder = Self.ownerRecord(path)
                close(fd)
                fd = -1  // deinit runs for a thrown init too: never close a number twice
                throw StowageError(
                    .lockTimeout,
                    "timed out after \(Self.seconds(timeout)) waiting for the \(purpose) lock \(path)"
                        + (holder.isEmpty ? "" : " held by \(holder)")
                        + "; if that process is gone, its lock is freed when its machine's NFS lease expires")
            }
            usleep(UInt32(pause * 1_000_000))
            waited += pause
            pause = min(pause * 2, 0.1)
        }
        if mode == .exclusive { recordOwner(purpose: purpose) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private static func seconds(_ value: Double) -> String {
        value >= 10 ? "\(Int(value))s" : "\((value * 10).rounded() / 10)s"
    }

    /// Releases the lock now rather than at deinit.
    public func unlock() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    private static func tryLock(_ fd: Int32, mode: Mode, path: String) throws -> Bool {
        var lock = flock()
        lock.l_type = Int16(mode == .exclusive ? F_WRLCK : F_RDLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        lock.l_pid = 0
        if fcntl(fd, ofdSetLock, &lock) == 0 { return true }
        if errno == EAGAIN || errno == EACCES || errno == EINTR { return false }
        if errno == EINVAL || errno == ENOLCK {
            // No OFD locks (old kernel, NFSv3 without lockd): fall back to a classic POSIX lock.
            if fcntl(fd, F_SETLK, &lock) == 0 { return true }
            if errno == EAGAIN || errno == EACCES || errno == EINTR { return false }
        }
        throw FileSystem.ioError("lock", path)
    }

    /// Writes who holds the lock into the lock file, for timeout messages.
    private func recordOwner(purpose: String) {
        let record = "pid \(getpid()) on host \(FileSystem.hostName()) (\(purpose))\n"
        _ = ftruncate(fd, 0)
        _ = record.utf8CString.withUnsafeBufferPointer { buffer in
            pwrite(fd, buffer.baseAddress, buffer.count - 1, 0)
        }
    }

    private static func ownerRecord(_ path: String) -> String {
        guard let bytes = try? FileSystem.readFile(path, limit: 4096) else { return "" }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
