#if canImport(Glibc)
import Glibc
#endif

/// Finds the few entries of a large `index.json` that a lookup needs (`inspect NAME`,
/// `ls REPOSITORY`) without turning the other twenty thousand into descriptors: the
/// document is walked structurally, and only entries whose bytes hold one of the
/// search strings are parsed, by the general reader, which judges them as always.
///
/// The walk does not validate what it skips. Whenever the document is not plainly an
/// index (a key written with escapes, a second `manifests`, bytes after the end), it
/// gives up and answers nil, and the caller reads the whole index as usual, which
/// then reports what is wrong.
public enum IndexLocator {
    /// The entries whose bytes contain one of `needles` (or an escape, which could hide
    /// one), parsed, in `index.json` order; nil when the caller must read the whole index.
    public static func entries(in bytes: [UInt8], what: String, containing needles: [[UInt8]]) throws -> [Descriptor]? {
        guard let ranges = bytes.withUnsafeBytes({ entryRanges(in: $0, needles: needles) }) else { return nil }
        return try ranges.map { item in
            let reader = JSONReader(what: what, bytes: Array(bytes[item.range]))
            let descriptor = try Descriptor(reading: reader, field: JSONField(what: what, path: "manifests").element(item.position))
            try reader.expectEnd()
            return descriptor
        }
    }

    /// The byte ranges (and positions) of the matching entries; nil to give up.
    static func entryRanges(in bytes: UnsafeRawBufferPointer, needles: [[UInt8]]) -> [(range: Range<Int>, position: Int)]? {
        var walk = Walk(bytes: bytes)
        var found: [(range: Range<Int>, position: Int)] = []
        var sawManifests = false
        var sawSchemaVersion = false
        guard walk.take(UInt8(ascii: "{")) else { return nil }
        if !walk.take(UInt8(ascii: "}")) {
            repeat {
                guard let key = walk.plainString(), walk.take(UInt8(ascii: ":")) else { return nil }
                if equal(key, "manifests") {
                    guard !sawManifests, walk.take(UInt8(ascii: "[")) else { return nil }
                    sawManifests = true
                    if walk.take(UInt8(ascii: "]")) { continue }
                    var position = 0
                    repeat {
                        walk.skipWhitespace()
                        let start = walk.position
                        guard walk.skipValue() else { return nil }
                        let entry = UnsafeRawBufferPointer(rebasing: bytes[start..<walk.position])
                        if contains(entry, UInt8(ascii: "\\")) || needles.contains(where: { contains(entry, $0) }) {
                            found.append((start..<walk.position, position))
                        }
                        position += 1
                    } while walk.take(UInt8(ascii: ","))
                    guard walk.take(UInt8(ascii: "]")) else { return nil }
                } else {
                    if equal(key, "schemaVersion") {
                        guard !sawSchemaVersion else { return nil }
                        sawSchemaVersion = true
                    }
                    guard walk.skipValue() else { return nil }
                }
            } while walk.take(UInt8(ascii: ","))
            guard walk.take(UInt8(ascii: "}")) else { return nil }
        }
        walk.skipWhitespace()
        guard walk.position == bytes.count, sawSchemaVersion else { return nil }
        return found
    }

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount
            && memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ byte: UInt8) -> Bool {
        haystack.count > 0 && memchr(haystack.baseAddress!, Int32(byte), haystack.count) != nil
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        return needle.withUnsafeBytes { needle in
            // memchr finds each candidate first byte at memory speed; memcmp checks the rest.
            let first = Int32(needle[0])
            var offset = 0
            while haystack.count - offset >= needle.count {
                guard let hit = memchr(haystack.baseAddress! + offset, first, haystack.count - offset - needle.count + 1) else { return false }
                let at = UnsafeRawPointer(hit) - haystack.baseAddress!
                if memcmp(hit, needle.baseAddress!, needle.count) == 0 { return true }
                offset = at + 1
            }
            return false
        }
    }

    /// A structural walk: strings, brackets and the extent of values, nothing more.
    private struct Walk {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
                position += 1
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// A key with no escapes: its bytes.
        mutating func plainString() -> UnsafeRawBufferPointer? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let first = position
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\""):
                    position += 1
                    return UnsafeRawBufferPointer(rebasing: bytes[first..<(position - 1)])
                case UInt8(ascii: "\\"): return nil
                default: position += 1
                }
            }
            return nil
        }

        /// Steps over one value of any kind; false when the bytes end first or make no sense.
        mutating func skipValue() -> Bool {
            skipWhitespace()
            var depth = 0
            repeat {
                guard position < bytes.count else { return false }
                switch bytes[position] {
                case UInt8(ascii: "\""):
                    position += 1
                    while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                        position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard position < bytes.count else { return false }
                    position += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    position += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard depth > 0 else { return false }
                    depth -= 1
                    position += 1
                case UInt8(ascii: ","), UInt8(ascii: ":"), 0x20, 0x0A, 0x0D, 0x09:
                    guard depth > 0 else { return false }
                    position += 1
                default:
                    // A number or literal: up to the next delimiter.
                    let first = position
                    while position < bytes.count, !",:{}[]\" \n\r\t".utf8.contains(bytes[position]) { position += 1 }
                    guard position > first else { return false }
                }
            } while depth > 0
            return true
        }
    }
}
