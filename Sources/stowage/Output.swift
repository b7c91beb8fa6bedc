import Foundation
import StowageLayout
import StowageModel

/// Printing helpers: results to stdout, errors to stderr, JSON when asked.
enum Output {
    /// Prints a line to stdout.
    static func line(_ text: String) {
        print(text)
    }

    /// Lines to stdout, written 64 KiB at a time: a listing of twenty thousand lines
    /// costs a few writes, not one locked `print` per line.
    struct BufferedLines {
        private var bytes: [UInt8] = []

        mutating func append(_ line: String) {
            var line = line
            line.withUTF8 { bytes.append(contentsOf: $0) }
            bytes.append(0x0A)
            if bytes.count >= 1 << 16 { flush() }
        }

        /// Appends a line given as bytes, without its newline.
        mutating func append(_ line: UnsafeRawBufferPointer) {
            bytes.append(contentsOf: line)
            bytes.append(0x0A)
            if bytes.count >= 1 << 16 { flush() }
        }

        mutating func flush() {
            guard !bytes.isEmpty else { return }
            fflush(nil)   // what `print` has buffered goes first
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }   // a closed pipe: the reader is gone
                    offset += n
                }
            }
            bytes.removeAll(keepingCapacity: true)
        }
    }

    /// Prints `value` as indented JSON to stdout.
    static func json<T: Encodable>(_ value: T) throws {
        print(try JSONCoding.encodePretty(value))
    }

    /// Writes raw bytes to stdout, unchanged.
    static func raw(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    /// Prints one error line to stderr; newlines from hostile input are flattened.
    static func error(_ message: String) {
        let flat = message.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        TransferProgress.writeToStandardError("stowage: error: \(flat)\n")
    }

    /// Prints a note to stderr (progress, hints), keeping stdout for results.
    static func note(_ message: String) {
        TransferProgress.writeToStandardError("\(message)\n")
    }

    /// `1.2 MB`-style sizes for people.
    static func size(_ bytes: Int64) -> String {
        TransferProgress.format(bytes)
    }

    /// A short name for well-known media types.
    static func kind(_ mediaType: String) -> String {
        switch MediaType(mediaType) {
        case .ociManifest: "oci-manifest"
        case .ociIndex: "oci-index"
        case .dockerManifest: "docker-manifest"
        case .dockerManifestList: "docker-list"
        default: mediaType
        }
    }

    /// Left-aligned columns separated by two spaces.
    /// Aligned columns; cells are escaped (`UserText.escaped`), as they may come from a layout.
    static func table(_ rows: [[String]]) -> [String] {
        var lines: [String] = []
        printTable(count: rows.count, row: { rows[$0] }) { line in lines.append(String(decoding: line, as: UTF8.self)) }
        return lines
    }

    /// Aligned columns built row by row, in two passes (widths, then lines), so a listing
    /// of a hundred thousand images never holds all its lines at once.
    static func printTable(count: Int, row: (Int) -> [String]) {
        var out = BufferedLines()
        printTable(count: count, row: row) { line in out.append(line) }
        out.flush()
    }

    /// `printTable`, each line's bytes (without its newline) handed to `emit`.
    static func printTable(count: Int, row: (Int) -> [String], emit: (UnsafeRawBufferPointer) -> Void) {
        // Characters on screen: for ASCII, one per byte (counting graphemes is slow).
        func width(_ text: String) -> Int {
            text.utf8.allSatisfy { $0 < 0x80 } ? text.utf8.count : text.count
        }
        // Up to 50,000 rows are kept between the passes (a row is built once); beyond,
        // each pass builds them anew, so a huge listing never holds all its lines.
        let kept = count <= 50_000 ? (0..<count).map { row($0).map(UserText.escaped) } : nil
        func cells(_ i: Int) -> [String] { kept?[i] ?? row(i).map(UserText.escaped) }
        var widths: [Int] = []
        for i in 0..<count {
            for (column, cell) in cells(i).enumerated() {
                let cellWidth = width(cell)
                if column < widths.count { widths[column] = max(widths[column], cellWidth) } else { widths.append(cellWidth) }
            }
        }
        // Each line is written as bytes into one reused buffer: no string is built per line.
        var line: [UInt8] = []
        for i in 0..<count {
            let cells = cells(i)
            line.removeAll(keepingCapacity: true)
            for (column, cell) in cells.enumerated() {
                var cell = cell
                cell.withUTF8 { line.append(contentsOf: $0) }
                if column < cells.count - 1 {
                    line.append(contentsOf: repeatElement(UInt8(ascii: " "), count: max(0, widths[column] - width(cell)) + 2))
                }
            }
            line.withUnsafeBytes(emit)
        }
    }
}
