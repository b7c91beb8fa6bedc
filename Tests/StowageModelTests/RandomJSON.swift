import Foundation
import StowageModel

/// A seeded xorshift source of the random text and JSON values the fast-path property
/// tests build documents from: the same seed always gives the same document.
struct RandomJSON {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed | 1
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Up to 11 characters, escapes, control characters and non-ASCII among them.
    mutating func text() -> String {
        let alphabet = Array("abcXYZ019-._:/+ \"\\\u{1}\n\té😀")
        return String((0..<Int(next() % 12)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] })
    }

    /// Any JSON value, nested at most a few levels.
    mutating func value(_ depth: Int = 0) -> JSONValue {
        switch next() % (depth > 2 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: next()) >> Int64(next() % 60))
        case 3: return .string(text())
        case 4: return .array((0..<Int(next() % 3)).map { _ in value(depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for i in 0..<Int(next() % 3) {
                let key = "k\(i)\(text())"
                let member = value(depth + 1)
                if members[key] == nil { members[key] = member }
            }
            return .object(members)
        }
    }

    /// A valid sha256 digest.
    mutating func digest() -> Digest {
        try! Digest("sha256:" + (0..<4).map { _ in String(format: "%016llx", next()) }.joined())
    }
}
