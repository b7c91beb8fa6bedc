import Foundation
import StowageCopy
import StowageModel

/// Printing helpers: results to stdout, errors to stderr, JSON when asked.
enum Output {
    /// Prints a line to stdout.
    static func line(_ text: String) {
        print(text)
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
        FileHandle.standardError.write(Data("stowage: error: \(flat)\n".utf8))
    }

    /// Prints a note to stderr (progress, hints), keeping stdout for results.
    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
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
        printTable(count: rows.count, row: { rows[$0] }) { lines.append($0) }
        return lines
    }

    /// Aligned columns built row by row, in two passes (widths, then lines), so a listing
    /// of a hundred thousand images never holds all its lines at once.
    static func printTable(count: Int, row: (Int) -> [String], emit: (String) -> Void = { line($0) }) {
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
        for i in 0..<count {
            let cells = cells(i)
            var text = ""
            for (column, cell) in cells.enumerated() {
                text += cell
                if column < cells.count - 1 {
                    text += String(repeating: " ", count: max(0, widths[column] - width(cell)) + 2)
                }
            }
            emit(text)
        }
    }
}
