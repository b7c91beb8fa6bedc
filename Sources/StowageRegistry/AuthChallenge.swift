/// A `WWW-Authenticate` challenge: `Basic realm="…"` or
/// `Bearer realm="…",service="…",scope="…"`.
public struct AuthChallenge: Sendable, Equatable {
    /// `basic` or `bearer`, lowercased.
    public var scheme: String
    /// The parameters, keys lowercased.
    public var parameters: [String: String]

    /// The token endpoint (Bearer) or the realm name (Basic).
    public var realm: String? { parameters["realm"] }
    /// The service the token is for.
    public var service: String? { parameters["service"] }
    /// The scope the registry asks for, if it says.
    public var scope: String? { parameters["scope"] }

    /// Parses one challenge; nil for a header that is not one.
    public init?(header: String) {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " ") else {
            guard !trimmed.isEmpty else { return nil }
            scheme = trimmed.lowercased()
            parameters = [:]
            return
        }
        scheme = trimmed[..<space].lowercased()
        parameters = Self.parseParameters(trimmed[trimmed.index(after: space)...])
    }

    /// `key="value", key2=value2` with quoted strings that may contain commas and escapes.
    static func parseParameters(_ text: Substring) -> [String: String] {
        var result: [String: String] = [:]
        var index = text.startIndex
        func skip(_ characters: Set<Character>) {
            while index < text.endIndex, characters.contains(text[index]) { index = text.index(after: index) }
        }
        while index < text.endIndex {
            skip([" ", ","])
            let keyStart = index
            while index < text.endIndex, text[index] != "=" , text[index] != "," { index = text.index(after: index) }
            let key = text[keyStart..<index].trimmingSpaces().lowercased()
            guard index < text.endIndex, text[index] == "=" else { continue }
            index = text.index(after: index)
            skip([" "])
            var value = ""
            if index < text.endIndex, text[index] == "\"" {
                index = text.index(after: index)
                while index < text.endIndex, text[index] != "\"" {
                    if text[index] == "\\", text.index(after: index) < text.endIndex { index = text.index(after: index) }
                    value.append(text[index])
                    index = text.index(after: index)
                }
                if index < text.endIndex { index = text.index(after: index) }
            } else {
                let valueStart = index
                while index < text.endIndex, text[index] != "," { index = text.index(after: index) }
                value = text[valueStart..<index].trimmingSpaces()
            }
            if !key.isEmpty { result[key] = value }
        }
        return result
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
