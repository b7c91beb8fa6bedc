#if canImport(Glibc)
import Glibc
#endif
import CArchive
import StowageLayout
import StowageModel

/// One entry of a tar stream, with its path already checked and normalised.
public struct ArchiveEntry: Sendable {
    /// What the entry is.
    public enum Kind: Sendable, Equatable {
        case regularFile
        case directory
        case symbolicLink(target: String)
        case hardLink(target: String)
        /// A device, fifo or socket: never acceptable in an image archive.
        case special
    }

    /// The path inside the archive, without `./` and with no `..` or leading `/`.
    public var path: String
    /// What the entry is.
    public var kind: Kind
    /// The declared size of its data in bytes.
    public var size: Int64
}

/// A streaming reader of tar archives (plain, gzip, zstd, bzip2, xz) over libarchive.
///
/// The file is read through our own callbacks so that skipping an entry of a
/// plain tar seeks instead of reading, and so that the bytes really read from
/// disk can be counted (`bytesRead`), which is how tests prove that a blob
/// already in the layout is never read again.
public final class ArchiveReader {
    /// The libarchive this build reads with, and the compression libraries it has:
    /// `libarchive 3.6.2 zlib/1.2.13 liblzma/5.4.1 bz2lib/1.0.8 libzstd/1.5.4`.
    public static var libraryVersion: String { String(cString: archive_version_details()) }

    /// The archive file.
    public let path: String
    private let archive: OpaquePointer
    private let source: Source
    private var entry: OpaquePointer?

    /// Bytes read from the file so far.
    public var bytesRead: Int64 { source.bytesRead }
    /// Bytes passed over by seeking, without reading them.
    public var bytesSeeked: Int64 { source.bytesSeeked }

    /// Reads the file in chunks of this size.
    static let readChunk = 1 << 20

    /// Opens `path`; an empty or unreadable file is refused here. With `progress`, the
    /// file's size is expected there and every byte read or seeked over is counted.
    public init(path: String, progress: TransferProgress? = nil) throws {
        self.path = path
        guard let st = try FileSystem.status(path) else {
            throw StowageError(.notFound, "archive \(path) does not exist")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFIFO else {
            throw StowageError(.invalidArchive, "\(path) is not a regular file")
        }
        if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
            throw StowageError(.invalidArchive, "\(path) is empty (0 bytes), not an archive")
        }
        source = Source(fd: try FileSystem.open(path, O_RDONLY), path: path, progress: progress)
        if (st.st_mode & S_IFMT) == S_IFREG { progress?.expect(Int64(st.st_size), blobs: 0) }
        guard let archive = archive_read_new() else {
            throw StowageError(.io, "cannot allocate an archive reader for \(path)")
        }
        self.archive = archive
        archive_read_support_format_tar(archive)
        archive_read_support_filter_gzip(archive)
        archive_read_support_filter_zstd(archive)
        archive_read_support_filter_bzip2(archive)
        archive_read_support_filter_xz(archive)
        archive_read_set_callback_data(archive, Unmanaged.passUnretained(source).toOpaque())
        archive_read_set_read_callback(archive) { _, context, buffer in
            let source = Unmanaged<Source>.fromOpaque(context!).takeUnretainedValue()
            return source.read(into: buffer!)
        }
        archive_read_set_skip_callback(archive) { _, context, request in
            let source = Unmanaged<Source>.fromOpaque(context!).takeUnretainedValue()
            return source.skip(request)
        }
        guard archive_read_open1(archive) == ARCHIVE_OK else {
            // deinit frees the reader: every stored property is set by now.
            let message = Self.errorText(archive)
            throw StowageError(.invalidArchive, "\(path) is not a readable tar archive", cause: message)
        }
    }

    deinit {
        archive_read_free(archive)
    }

    /// The next entry, or nil at the end of the archive.
    public func next() throws -> ArchiveEntry? {
        var header: OpaquePointer?
        let status = archive_read_next_header(archive, &header)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let header else {
            throw StowageError(.invalidArchive, "\(path) is damaged or truncated", cause: Self.errorText(archive))
        }
        entry = header
        guard let rawPath = archive_entry_pathname(header).map({ String(cString: $0) }) else {
            throw StowageError(.invalidArchive, "\(path) has an entry without a path")
        }
        let path = try Self.normalize(rawPath, archive: self.path)
        let size = archive_entry_size(header)
        let kind: ArchiveEntry.Kind
        if let target = archive_entry_hardlink(header) {
            kind = .hardLink(target: String(cString: target))
        } else {
            switch archive_entry_filetype(header) {
            case 0o100000: kind = .regularFile
            case 0o040000: kind = .directory
            case 0o120000:
                kind = .symbolicLink(target: archive_entry_symlink(header).map { String(cString: $0) } ?? "")
            default: kind = .special
            }
        }
        guard size >= 0 else {
            throw StowageError(.invalidArchive, "\(self.path): entry \(path) declares a negative size")
        }
        return ArchiveEntry(path: path, kind: kind, size: size)
    }

    /// Reads the current entry's data into `buffer`; 0 means the entry is done.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = archive_read_data(archive, buffer.baseAddress, buffer.count)
        guard n >= 0 else {
            throw StowageError(.invalidArchive, "\(path) is damaged or truncated", cause: Self.errorText(archive))
        }
        return n
    }

    /// Passes over the current entry's data; a plain tar on disk is seeked, not read.
    public func skip() throws {
        guard archive_read_data_skip(archive) == ARCHIVE_OK else {
            throw StowageError(.invalidArchive, "\(path) is damaged or truncated", cause: Self.errorText(archive))
        }
    }

    /// Checks and normalises an entry path: no absolute paths, no `..`, no empty names.
    public static func normalize(_ raw: String, archive: String) throws -> String {
        let shown = raw.count > 200 ? String(raw.prefix(200)) + "…" : raw
        guard !raw.hasPrefix("/") else {
            throw StowageError(.invalidArchive, "\(archive): entry '\(shown)' has an absolute path")
        }
        var components: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            guard component != ".." else {
                throw StowageError(.invalidArchive, "\(archive): entry '\(shown)' has a '..' path component")
            }
            guard !component.contains(where: { $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
                throw StowageError(.invalidArchive, "\(archive): entry '\(shown)' has control characters in its path")
            }
            components.append(component)
        }
        guard !components.isEmpty else {
            if raw.split(separator: "/").allSatisfy({ $0 == "." }) { return "." }
            throw StowageError(.invalidArchive, "\(archive): an entry has an empty path")
        }
        return components.joined(separator: "/")
    }

    private static func errorText(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}

/// The file under the reader: our read and skip callbacks, with counters.
private final class Source {
    let fd: Int32
    let path: String
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: ArchiveReader.readChunk, alignment: 16)
    var bytesRead: Int64 = 0
    var bytesSeeked: Int64 = 0
    var seekable = true
    let progress: TransferProgress?

    init(fd: Int32, path: String, progress: TransferProgress?) {
        self.fd = fd
        self.path = path
        self.progress = progress
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    func read(into out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        while true {
            let n = Glibc.read(fd, buffer, ArchiveReader.readChunk)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return -1 }
            bytesRead += Int64(n)
            progress?.advance(n)
            out.pointee = UnsafeRawPointer(buffer)
            return n
        }
    }

    func skip(_ request: Int64) -> Int64 {
        guard seekable, request > 0 else { return 0 }
        let here = lseek(fd, 0, SEEK_CUR)
        var st = stat()
        guard here >= 0, fstat(fd, &st) == 0 else {
            seekable = false
            return 0
        }
        // Never seek past the end: libarchive must still see a truncated archive as truncated.
        let available = max(0, Int64(st.st_size) - Int64(here))
        let step = min(request, available)
        guard step > 0, lseek(fd, off_t(step), SEEK_CUR) >= 0 else { return 0 }
        bytesSeeked += step
        progress?.advance(Int(step))
        return step
    }
}
