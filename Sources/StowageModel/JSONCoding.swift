import Foundation

/// The JSON settings Stowage uses everywhere, so documents it writes are stable:
/// sorted keys, no escaped slashes, and errors that name the document.
public enum JSONCoding {
    /// Decodes `bytes` as `T`; `what` names the document in the error ("index.json of ARCHIVE").
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>, what: String) throws -> T {
        // Indexes (a layout's index.json above all), manifests and raw values take the fast path.
        if T.self == Index.self { return try Index.parse(Array(bytes), what: what) as! T }
        if T.self == JSONValue.self { return try JSONReader.parse(Array(bytes), what: what) as! T }
        if T.self == Manifest.self, let manifest = Manifest.readFast(Array(bytes), what: what) { return manifest as! T }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as StowageError {
            throw error.prefixed(what)
        } catch let DecodingError.dataCorrupted(context) {
            throw StowageError(.invalidJSON, "\(what) is not valid JSON", cause: context.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) {
            throw StowageError(.invalidJSON, "\(what) lacks the required field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw StowageError(.invalidJSON, "\(what) has a field of the wrong type at '\(path)'")
        } catch let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw StowageError(.invalidJSON, "\(what) has a null where a value is required at '\(path)'")
        } catch {
            throw StowageError(.invalidJSON, "\(what) is not valid JSON", cause: "\(error)")
        }
    }

    /// Encodes `value` compactly with sorted keys: the same value always gives the same bytes.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if let index = value as? Index { return index.jsonBytes }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Encodes `value` indented for people to read.
    public static func encodePretty<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Re-indents any JSON document for display, keeping every field.
    public static func prettyPrinted(_ bytes: [UInt8], what: String) throws -> String {
        let value = try decode(JSONValue.self, from: bytes, what: what)
        return try encodePretty(value)
    }
}
