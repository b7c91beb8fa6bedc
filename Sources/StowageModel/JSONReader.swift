/// A strict JSON parser (RFC 8259) that reads bytes from any source in chunks, so a
/// large document (a layout's `index.json` with a hundred thousand entries) is turned
/// into values without ever being held whole in memory, and without Foundation's
/// intermediate trees.
///
/// Hostile input gets a clear error: invalid UTF-8, control characters in strings,
/// lone surrogates, duplicate keys, nesting deeper than `maxDepth`, trailing bytes,
/// numbers out of range. `what` names the document in every error.
public final class JSONReader {
    /// Where the bytes come from: fills the buffer and returns how many bytes it wrote (0 at the end).
    public typealias Source = (UnsafeMutableRawBufferPointer) throws -> Int

    /// How deep arrays and objects may nest.
    public static let maxDepth = 64

    private let what: String
    private let source: Source?
    private var buffer: UnsafeMutableRawBufferPointer
    private let ownsBuffer: Bool
    private var start = 0
    private var end = 0
    private var consumed: Int64 = 0
    private var atEnd = false
    private var depth = 0
    /// The keys of the object being read at each depth, for the duplicate check.
    private var keyLists: [[String]] = []
    /// Short strings seen before (keys, media types, platforms): one copy each, however
    /// many entries repeat them. Bounded, so unique hostile strings cannot grow it.
    /// Made on the first short string, sized to the document when it is small.
    private var interned: [(hash: UInt64, bytes: [UInt8], string: String)?] = []
    private var internSlots: Int
    private static let internLength = 48
    private static let internCount = 4096

    /// A reader over bytes that come from `source`, `chunkSize` at a time.
    public init(what: String, chunkSize: Int = 1 << 20, source: @escaping Source) {
        self.what = what
        internSlots = Self.internCount
        self.source = source
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 8)
        ownsBuffer = true
    }

    /// A reader over bytes in memory.
    public convenience init(what: String, bytes: [UInt8]) {
        var offset = 0
        self.init(what: what, chunkSize: Swift.max(1, Swift.min(bytes.count, 1 << 20))) { target in
            let n = Swift.min(target.count, bytes.count - offset)
            if n > 0 {
                bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            }
            offset += n
            return n
        }
        // A small document has few strings to share: a table of its size, not 4096 slots.
        var slots = 16
        while slots < Self.internCount, slots * 32 < bytes.count { slots *= 2 }
        internSlots = slots
    }

    deinit {
        if ownsBuffer { buffer.deallocate() }
    }

    /// Parses one whole document: a value and nothing after it but whitespace.
    public static func parse(_ bytes: [UInt8], what: String) throws -> JSONValue {
        let reader = JSONReader(what: what, bytes: bytes)
        let value = try reader.readValue()
        try reader.expectEnd()
        return value
    }

    // MARK: - Bytes

    @inline(__always)
    private func peekByte() throws -> UInt8? {
        if start == end {
            guard try refill() else { return nil }
        }
        return buffer[start]
    }

    @inline(__always)
    private func nextByte() throws -> UInt8? {
        guard let byte = try peekByte() else { return nil }
        start += 1
        return byte
    }

    private func refill() throws -> Bool {
        guard !atEnd, let source else { return false }
        consumed += Int64(end)
        start = 0
        end = 0
        while end == 0 {
            let n = try source(buffer)
            if n == 0 {
                atEnd = true
                return false
            }
            end = n
        }
        return true
    }

    private var offset: Int64 { consumed + Int64(start) }

    /// How many bytes of the document have been read so far.
    public var bytesRead: Int64 { offset }

    private func fail(_ problem: String) -> StowageError {
        StowageError(.invalidJSON, "\(what) is not valid JSON: \(problem) at byte \(offset)")
    }

    @inline(__always)
    private func skipWhitespace() throws {
        while let byte = try peekByte(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            start += 1
        }
    }

    private func expect(_ byte: UInt8, _ description: String) throws {
        try skipWhitespace()
        guard try nextByte() == byte else { throw fail("expected \(description)") }
    }

    private func expectLiteral(_ rest: String) throws {
        for expected in rest.utf8 {
            guard try nextByte() == expected else { throw fail("invalid literal") }
        }
    }

    // MARK: - Structure

    /// Fails unless only whitespace is left.
    public func expectEnd() throws {
        try skipWhitespace()
        if try peekByte() != nil { throw fail("unexpected bytes after the document") }
    }

    /// Reads any value.
    public func readValue() throws -> JSONValue {
        try skipWhitespace()
        guard let byte = try peekByte() else { throw fail("unexpected end of the document") }
        switch byte {
        case UInt8(ascii: "{"):
            var object: [String: JSONValue] = [:]
            try readObject { key in
                object[key] = try self.readValue()
            }
            return .object(object)
        case UInt8(ascii: "["):
            var array: [JSONValue] = []
            try readArray { array.append(try self.readValue()) }
            return .array(array)
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"):
            start += 1
            try expectLiteral("rue")
            return .bool(true)
        case UInt8(ascii: "f"):
            start += 1
            try expectLiteral("alse")
            return .bool(false)
        case UInt8(ascii: "n"):
            start += 1
            try expectLiteral("ull")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readNumber()
        default:
            throw fail("unexpected character")
        }
    }

    /// Offers `body` the bytes already in the buffer from the next non-whitespace byte
    /// on, without reading more: a fast path for a known shape. When `body` returns a
    /// value and how many bytes it used, those bytes count as read; when it returns nil,
    /// nothing is consumed and the general methods read the value from its first byte.
    func readInPlace<T>(_ body: (UnsafeRawBufferPointer) -> (value: T, used: Int)?) throws -> T? {
        try skipWhitespace()
        guard depth < Self.maxDepth - 2,
            let (value, used) = body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
        else { return nil }
        start += used
        return value
    }

    /// Whether the next value is an array (whitespace is skipped, nothing is consumed).
    public func nextIsArray() throws -> Bool {
        try skipWhitespace()
        return try peekByte() == UInt8(ascii: "[")
    }

    /// Whether the next value is an object (whitespace is skipped, nothing is consumed).
    public func nextIsObject() throws -> Bool {
        try skipWhitespace()
        return try peekByte() == UInt8(ascii: "{")
    }

    /// Whether the next value is `null`; if it is, it is consumed.
    public func skipNull() throws -> Bool {
        try skipWhitespace()
        guard try peekByte() == UInt8(ascii: "n") else { return false }
        _ = try readValue()
        return true
    }

    /// Reads an object, calling `member` with each key; `member` must read the value.
    /// A key that appears twice is an error.
    public func readObject(_ member: (String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "an object")
        try enter()
        defer { depth -= 1 }
        try skipWhitespace()
        if try peekByte() == UInt8(ascii: "}") {
            start += 1
            return
        }
        // Objects are small: a list beats a set until they are not. Each depth reuses
        // its list, so reading a hundred thousand small objects allocates none.
        let level = depth - 1
        while keyLists.count <= level { keyLists.append([]) }
        var keys: [String] = []
        swap(&keys, &keyLists[level])
        defer {
            keys.removeAll(keepingCapacity: true)
            swap(&keys, &keyLists[level])
        }
        var manyKeys = Set<String>()
        while true {
            try skipWhitespace()
            guard try peekByte() == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try readString()
            let fresh: Bool
            if keys.count < 16 {
                fresh = !keys.contains(key)
                if fresh { keys.append(key) }
            } else {
                if manyKeys.isEmpty { manyKeys = Set(keys) }
                fresh = manyKeys.insert(key).inserted
            }
            guard fresh else {
                throw StowageError(.invalidJSON, "\(what) has the key '\(Digest.printable(key))' twice in one object (at byte \(offset))")
            }
            try expect(UInt8(ascii: ":"), "':'")
            try member(key)
            try skipWhitespace()
            switch try nextByte() {
            case UInt8(ascii: ",")?: continue
            case UInt8(ascii: "}")?: return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// Reads an array, calling `element` for each; `element` must read the value.
    public func readArray(_ element: () throws -> Void) throws {
        try expect(UInt8(ascii: "["), "an array")
        try enter()
        defer { depth -= 1 }
        try skipWhitespace()
        if try peekByte() == UInt8(ascii: "]") {
            start += 1
            return
        }
        while true {
            try element()
            try skipWhitespace()
            switch try nextByte() {
            case UInt8(ascii: ",")?: continue
            case UInt8(ascii: "]")?: return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private func enter() throws {
        guard depth < Self.maxDepth else {
            throw StowageError(.invalidJSON, "\(what) nests arrays and objects more than \(Self.maxDepth) levels deep")
        }
        depth += 1
    }

    /// Reads a string value.
    public func readString() throws -> String {
        try skipWhitespace()
        guard try nextByte() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        // Fast path: the whole string is a run of plain bytes inside the buffer.
        let i = plainRunEnd()
        if i < end, buffer[i] == UInt8(ascii: "\"") {
            let run = UnsafeRawBufferPointer(rebasing: buffer[start..<i])
            start = i + 1
            return try makeString(run)
        }
        var bytes: [UInt8] = []
        while true {
            let i = plainRunEnd()
            if i > start {
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<i]))
                start = i
            }
            if start == end {
                // The run reached the end of the chunk: read on.
                guard try refill() else { throw fail("unterminated string") }
                continue
            }
            let byte = buffer[start]
            start += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try bytes.withUnsafeBytes { try makeString($0) }
            case UInt8(ascii: "\\"):
                try readEscape(into: &bytes)
            default:
                throw fail("a control character in a string")
            }
        }
    }

    /// Where the run of string bytes that need no attention (no quote, backslash or
    /// control character) starting at `start` ends in the buffer.
    @inline(__always)
    private func plainRunEnd() -> Int {
        var i = start
        while i < end {
            let byte = buffer[i]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            i += 1
        }
        return i
    }

    /// A string from UTF-8 bytes found by a fast path, shared as `readString` shares
    /// short strings; nil for invalid UTF-8.
    func internedString(_ utf8: UnsafeRawBufferPointer) -> String? {
        try? makeString(utf8)
    }

    /// A string from validated UTF-8, one copy per short string seen before.
    private func makeString(_ utf8: UnsafeRawBufferPointer) throws -> String {
        guard utf8.count <= Self.internLength else {
            guard let string = String(validating: utf8, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
            return string
        }
        // FNV-1a: cheap, and good enough for a bounded cache that compares bytes anyway.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        if interned.isEmpty { interned = Array(repeating: nil, count: internSlots) }
        let slot = Int(truncatingIfNeeded: hash) & (internSlots - 1)
        if let entry = interned[slot], entry.hash == hash, entry.bytes.elementsEqual(utf8) { return entry.string }
        guard let string = String(validating: utf8, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
        interned[slot] = (hash, Array(utf8), string)
        return string
    }

    private func readEscape(into bytes: inout [UInt8]) throws {
        guard let byte = try nextByte() else { throw fail("unterminated string") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(byte)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard try nextByte() == UInt8(ascii: "\\"), try nextByte() == UInt8(ascii: "u") else { throw fail("a lone surrogate") }
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw fail("a lone surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw fail("a lone surrogate")
            }
            bytes.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            throw fail("an invalid escape")
        }
    }

    private func readHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = try nextByte() else { throw fail("unterminated escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("an invalid \\u escape")
            }
            value = value << 4 | digit
        }
        return value
    }

    private func readNumber() throws -> JSONValue {
        var text: [UInt8] = []
        func digits() throws -> Int {
            var count = 0
            while let byte = try peekByte(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                text.append(byte)
                start += 1
                count += 1
                guard text.count <= 400 else { throw fail("a number too long") }
            }
            return count
        }
        var isInteger = true
        if try peekByte() == UInt8(ascii: "-") {
            text.append(UInt8(ascii: "-"))
            start += 1
        }
        let first = try peekByte()
        guard try digits() > 0 else { throw fail("invalid number") }
        if first == UInt8(ascii: "0"), text.count - (text.first == UInt8(ascii: "-") ? 1 : 0) > 1 { throw fail("a number with a leading zero") }
        if try peekByte() == UInt8(ascii: ".") {
            isInteger = false
            text.append(UInt8(ascii: "."))
            start += 1
            guard try digits() > 0 else { throw fail("invalid number") }
        }
        if let byte = try peekByte(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            isInteger = false
            text.append(byte)
            start += 1
            if let sign = try peekByte(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                text.append(sign)
                start += 1
            }
            guard try digits() > 0 else { throw fail("invalid number") }
        }
        let string = String(decoding: text, as: UTF8.self)
        if isInteger, let value = Int64(string) { return .int(value) }
        guard let value = Double(string), value.isFinite else { throw fail("a number out of range") }
        return .double(value)
    }
}
