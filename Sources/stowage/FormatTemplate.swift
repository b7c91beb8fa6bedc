import Foundation
import StowageModel

/// `--format` templates, in the shape docker, podman and skopeo users know:
/// `{{.Field}}`, `{{.Field.Key}}`, `{{json .Field}}`, `{{json .}}`, with `\t` and `\n`
/// in the text taken as a tab and a newline. A value prints as Go's templates print it
/// (`[a b]` for a list, `map[k:v]` for an object); a missing key prints `<no value>`.
/// A field name the command does not have is a usage error that lists those it has.
struct FormatTemplate {
    private enum Piece {
        case text(String)
        case field(path: [String], json: Bool)
    }

    private let pieces: [Piece]

    /// Parses `format`; `fields` are the top-level field names a value will have. With
    /// `documentFields`, a name that starts with a lower-case letter is a field of a JSON
    /// document, which may be absent (`<no value>`); the capitalised ones must be `fields`.
    init(_ format: String, fields: [String], documentFields: Bool = false) throws {
        var pieces: [Piece] = []
        var rest = Substring(format)
        while let open = rest.range(of: "{{") {
            pieces.append(.text(Self.unescaped(rest[..<open.lowerBound])))
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw StowageError(.usage, "--format '\(format)': '{{' has no '}}'")
            }
            var action = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            var json = false
            if action.hasPrefix("json ") {
                json = true
                action = action.dropFirst("json ".count).trimmingCharacters(in: .whitespaces)
            }
            guard action.hasPrefix(".") else {
                throw StowageError(.usage, "--format '\(format)': '{{\(action)}}' is not a field; write {{.Field}} or {{json .Field}}")
            }
            let path = action == "." ? [] : action.dropFirst().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if path.contains(where: \.isEmpty) {
                throw StowageError(.usage, "--format '\(format)': '{{\(action)}}' is not a field path")
            }
            if let first = path.first, !fields.contains(first), !(documentFields && first.first?.isLowercase == true) {
                let hint = Suggestion.closest(to: first, among: fields).map { "did you mean .\($0)? " } ?? ""
                throw StowageError(.usage, "--format: no field .\(first); \(hint)the fields are \(fields.map { ".\($0)" }.joined(separator: " "))")
            }
            pieces.append(.field(path: path, json: json))
            rest = rest[close.upperBound...]
        }
        pieces.append(.text(Self.unescaped(rest)))
        self.pieces = pieces
    }

    /// The text for one value.
    func render(_ value: JSONValue) throws -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let text):
                out += text
            case .field(let path, let json):
                var current: JSONValue? = value
                for key in path {
                    if case .object(let object) = current { current = object[key] } else { current = nil }
                }
                guard let current else {
                    out += "<no value>"
                    continue
                }
                out += json ? String(decoding: try JSONCoding.encode(current), as: UTF8.self) : Self.goText(current)
            }
        }
        return out
    }

    private static func unescaped(_ text: Substring) -> String {
        text.replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\\n", with: "\n")
    }

    /// What Go's text/template prints for a value.
    private static func goText(_ value: JSONValue) -> String {
        switch value {
        case .null: "<nil>"
        case .bool(let bool): bool ? "true" : "false"
        case .int(let int): String(int)
        case .double(let double): double == double.rounded() && abs(double) < 1e15 ? String(Int64(double)) : String(double)
        case .string(let string): string
        case .array(let items): "[" + items.map(goText).joined(separator: " ") + "]"
        case .object(let object): "map[" + object.keys.sorted().map { "\($0):\(goText(object[$0]!))" }.joined(separator: " ") + "]"
        }
    }
}
