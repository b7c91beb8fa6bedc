#if canImport(Glibc)
import Glibc
#endif
import CArchive
import StowageLayout
import StowageModel

/// Writes a tar archive (optionally gzip or zstd compressed) with fixed metadata:
/// every entry is owned by 0:0, dated 1970-01-01 and has fixed modes, so the
/// same entries in the same order always give the same bytes.
///
/// It can also write entries an image archive must never contain (links,
/// devices, `..` paths): tests use it to build hostile archives.
public final class TarWriter {
    /// Compression applied to the whole stream.
    public enum Compression: String, Sendable, CaseIterable {
        case none, gzip, zstd
    }

    /// An entry type other than a regular file.
    public enum SpecialEntry: Sendable {
        case directory
        case symbolicLink(target: String)
        case hardLink(target: String)
        case characterDevice
        case fifo
    }

    /// The file being written.
    public let path: String
    private let archive: OpaquePointer
    private var closed = false

    /// Creates (or truncates) `path`.
    public init(path: String, compression: Compression = .none) throws {
        self.path = path
        guard let archive = archive_write_new() else {
            throw StowageError(.io, "cannot allocate an archive writer for \(path)")
        }
        self.archive = archive
        archive_write_set_format_pax_restricted(archive)
        switch compression {
        case .none: break
        case .gzip:
            archive_write_add_filter_gzip(archive)
            // No name or timestamp in the gzip header, so output is reproducible.
            archive_write_set_filter_option(archive, "gzip", "timestamp", nil)
        case .zstd: archive_write_add_filter_zstd(archive)
        }
        archive_write_set_bytes_in_last_block(archive, 1)
        guard archive_write_open_filename(archive, path) == ARCHIVE_OK else {
            // deinit frees the writer: every stored property is set by now.
            let message = Self.errorText(archive)
            closed = true
            throw StowageError(.io, "cannot create archive \(path)", cause: message)
        }
    }

    deinit {
        if !closed { archive_write_close(archive) }
        archive_write_free(archive)
    }

    /// Adds a regular file with the given content.
    public func addFile(_ name: String, _ bytes: [UInt8]) throws {
        try addFile(name, size: Int64(bytes.count)) { write in
            try bytes.withUnsafeBytes { try write($0) }
        }
    }

    /// Adds a regular file whose `size` bytes are produced by `body` in chunks.
    public func addFile(_ name: String, size: Int64, _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try writeHeader(name, mode: 0o100644, size: size)
        var written: Int64 = 0
        try body { chunk in
            guard chunk.count > 0 else { return }
            let n = archive_write_data(archive, chunk.baseAddress, chunk.count)
            guard n == chunk.count else {
                throw StowageError(.io, "cannot write \(name) into \(path)", cause: Self.errorText(archive))
            }
            written += Int64(n)
        }
        guard written == size else {
            throw StowageError(.io, "wrote \(written) bytes for \(name) into \(path), but declared \(size)")
        }
    }

    /// Adds a directory, link, device or fifo entry.
    public func addSpecial(_ name: String, _ kind: SpecialEntry) throws {
        guard let entry = archive_entry_new() else { throw StowageError(.io, "out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, name)
        archive_entry_set_size(entry, 0)
        archive_entry_set_mtime(entry, 0, 0)
        switch kind {
        case .directory:
            archive_entry_set_mode(entry, 0o040755)
        case .symbolicLink(let target):
            archive_entry_set_mode(entry, 0o120777)
            archive_entry_set_symlink(entry, target)
        case .hardLink(let target):
            archive_entry_set_mode(entry, 0o100644)
            archive_entry_set_hardlink(entry, target)
        case .characterDevice:
            archive_entry_set_mode(entry, 0o020644)
            archive_entry_set_rdevmajor(entry, 1)
            archive_entry_set_rdevminor(entry, 3)
        case .fifo:
            archive_entry_set_mode(entry, 0o010644)
        }
        guard archive_write_header(archive, entry) == ARCHIVE_OK else {
            throw StowageError(.io, "cannot write entry \(name) into \(path)", cause: Self.errorText(archive))
        }
    }

    /// Finishes the archive (end-of-archive blocks, compression trailer) and closes the file.
    public func close() throws {
        guard !closed else { return }
        closed = true
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw StowageError(.io, "cannot finish archive \(path)", cause: Self.errorText(archive))
        }
    }

    private func writeHeader(_ name: String, mode: UInt32, size: Int64) throws {
        guard let entry = archive_entry_new() else { throw StowageError(.io, "out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, name)
        archive_entry_set_mode(entry, mode)
        archive_entry_set_size(entry, size)
        archive_entry_set_mtime(entry, 0, 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        guard archive_write_header(archive, entry) == ARCHIVE_OK else {
            throw StowageError(.io, "cannot write entry \(name) into \(path)", cause: Self.errorText(archive))
        }
    }

    private static func errorText(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
