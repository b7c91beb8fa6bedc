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
        try locate(in: bytes, what: what, containing: needles)?.entries.map(\.descriptor)
    }

    /// The matching entries of an index, with where they are in its bytes.
    public struct Located: Sendable {
        /// An entry that mentions a needle: parsed, its bytes' range and its position in `manifests`.
        public struct Entry: Sendable {
            public var descriptor: Descriptor
            public var range: Range<Int>
            public var position: Int
        }
        /// The matching entries, in order.
        public var entries: [Entry]
        /// How many entries `manifests` has in all.
        public var count: Int
        /// The offset of the `]` that closes `manifests`.
        public var end: Int
    }

    /// Like `entries(in:what:containing:)`, with the entries' places in `bytes`.
    public static func locate(in bytes: [UInt8], what: String, containing needles: [[UInt8]]) throws -> Located? {
        guard let found = bytes.withUnsafeBytes({ entryRanges(in: $0, needles: needles) }) else { return nil }
        let entries = try found.ranges.map { item in
            let reader = JSONReader(what: what, bytes: Array(bytes[item.range]))
            let descriptor = try Descriptor(reading: reader, field: JSONField(what: what, path: "manifests").element(item.position))
            try reader.expectEnd()
            return Located.Entry(descriptor: descriptor, range: item.range, position: item.position)
        }
        return Located(entries: entries, count: found.count, end: found.end)
    }

    /// The byte ranges (and positions) of the matching entries, how many entries there are
    /// and where `manifests` ends; nil to give up.
    static func entryRanges(
        in bytes: UnsafeRawBufferPointer, needles: [[UInt8]]
    ) -> (ranges: [(range: Range<Int>, position: Int)], count: Int, end: Int)? {
        var walk = JSONByteCursor(bytes: bytes)
        var found: [(range: Range<Int>, position: Int)] = []
        var count = 0
        var end = -1
        var sawManifests = false
        var sawSchemaVersion = false
        guard walk.take(UInt8(ascii: "{")) else { return nil }
        if !walk.take(UInt8(ascii: "}")) {
            repeat {
                guard let key = walk.plainString(), walk.take(UInt8(ascii: ":")) else { return nil }
                if JSONByteCursor.equal(key, "manifests") {
                    guard !sawManifests, walk.take(UInt8(ascii: "[")) else { return nil }
                    sawManifests = true
                    if walk.take(UInt8(ascii: "]")) {
                        end = walk.position - 1
                        continue
                    }
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
                    count = position
                    end = walk.position - 1
                } else {
                    if JSONByteCursor.equal(key, "schemaVersion") {
                        guard !sawSchemaVersion else { return nil }
                        sawSchemaVersion = true
                    }
                    guard walk.skipValue() else { return nil }
                }
            } while walk.take(UInt8(ascii: ","))
            guard walk.take(UInt8(ascii: "}")) else { return nil }
        }
        walk.skipWhitespace()
        guard walk.position == bytes.count, sawSchemaVersion, sawManifests else { return nil }
        return (found, count, end)
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
}

extension JSONByteCursor {
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
            case UInt8(ascii: ","), UInt8(ascii: ":"), _ where Self.isWhitespace(bytes[position]):
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

extension IndexLocator {
    /// The bytes of the index after an edit, made by cutting and appending entries in
    /// `bytes` instead of writing twenty thousand anew: `result` is what the edit left of
    /// the located entries. It must keep some of them, in order, and append new entries
    /// after them (as naming and unnaming do); nil for any other change.
    ///
    /// The bytes are those the writer would give only when `bytes` are the writer's own.
    public static func splice(_ bytes: [UInt8], _ located: Located, into result: [Descriptor]) -> [UInt8]? {
        var removed = [Bool](repeating: true, count: located.entries.count)
        var next = 0
        var kept = 0
        while kept < result.count {
            guard let match = located.entries[next...].firstIndex(where: { $0.descriptor == result[kept] }) else { break }
            removed[match] = false
            next = match + 1
            kept += 1
        }
        let appended = result[kept...]
        var out = bytes
        var end = located.end
        var remaining = located.count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
        // Last to first, so that each cut sees its neighbours as they end up.
        for (entry, gone) in zip(located.entries, removed).reversed() where gone {
            var after = entry.range.upperBound
            while after < end, isSpace(out[after]) { after += 1 }
            var cut = entry.range
            if after < end, out[after] == UInt8(ascii: ",") {
                cut = entry.range.lowerBound..<(after + 1)
            } else {
                var before = entry.range.lowerBound - 1
                while before > 0, isSpace(out[before]) { before -= 1 }
                if out[before] == UInt8(ascii: ",") { cut = before..<entry.range.upperBound }
            }
            out.removeSubrange(cut)
            end -= cut.count
            remaining -= 1
        }
        guard out[end] == UInt8(ascii: "]") else { return nil }
        if !appended.isEmpty {
            var writer = JSONWriter()
            for (i, descriptor) in appended.enumerated() {
                if i > 0 || remaining > 0 { writer.appendByte(UInt8(ascii: ",")) }
                descriptor.write(to: &writer)
            }
            out.insert(contentsOf: writer.bytes, at: end)
        }
        return out
    }
}
