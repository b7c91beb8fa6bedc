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
        let rows = rows.map { $0.map(UserText.escaped) }
        guard let width = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
