/// A content digest that can only hold a valid `sha256:` + 64 lowercase hex value.
///
/// Digests come from untrusted archives and registries and become file paths
/// under `blobs/sha256/`, so they are validated on construction: no other
/// algorithm, no uppercase, no path separators, exactly 64 hex digits.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The only algorithm Stowage accepts.
    public static let algorithm = "sha256"

    // The 32 bytes of the sum as four big-endian words: a digest is copied, hashed and
    // compared with no heap allocation and no reference counting, which matters when a
    // walk keeps a hundred thousand of them in sets and dictionaries. Comparing the
    // words in order is comparing the hex text, so sorting is unchanged.
    private let word0: UInt64
    private let word1: UInt64
    private let word2: UInt64
    private let word3: UInt64

    /// The 64 lowercase hex digits of the SHA-256 sum.
    public var hex: String {
        String(unsafeUninitializedCapacity: 64) { buffer in
            writeHex(into: UnsafeMutableRawBufferPointer(buffer))
            return 64
        }
    }

    /// Parses `sha256:<64 lowercase hex>`.
    public init(_ string: String) throws {
        guard let colon = string.firstIndex(of: ":") else {
            throw StowageError(.invalidDigest, "invalid digest '\(Self.printable(string))': expected sha256:<64 hex digits>")
        }
        let algorithm = string[..<colon]
        guard algorithm == Self.algorithm else {
            throw StowageError(.invalidDigest, "unsupported digest algorithm '\(Self.printable(String(algorithm)))' in '\(Self.printable(string))': only sha256 is supported")
        }
        try self.init(hex: String(string[string.index(after: colon)...]))
    }

    /// Accepts the 64 lowercase hex digits alone.
    public init(hex: String) throws {
        guard let parsed = Digest(validHex: hex) else {
            throw StowageError(.invalidDigest, "invalid sha256 digest 'sha256:\(Self.printable(hex))': expected 64 lowercase hex digits")
        }
        self = parsed
    }

    /// The digest whose 64 lowercase hex digits are `hex`; nil for anything else, with
    /// no error made: for listings of `blobs/sha256/`, where other names are expected.
    public init?(validHex hex: String) {
        var text = hex
        guard let parsed = text.withUTF8({ Digest(hexUTF8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// The digest whose 64 lowercase hex digits are `utf8`; nil for anything else. The
    /// fast paths that read names and documents straight from bytes use it.
    public init?(hexUTF8 utf8: UnsafeRawBufferPointer) {
        guard utf8.count == 64 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for word in 0..<4 {
            var value: UInt64 = 0
            for position in word * 16..<word * 16 + 16 {
                let byte = utf8[position]
                let nibble: UInt8
                switch byte {
                case 0x30...0x39: nibble = byte &- 0x30
                case 0x61...0x66: nibble = byte &- 0x61 &+ 10
                default: return nil
                }
                value = value << 4 | UInt64(nibble)
            }
            switch word {
            case 0: words.0 = value
            case 1: words.1 = value
            case 2: words.2 = value
            default: words.3 = value
            }
        }
        (word0, word1, word2, word3) = words
    }

    /// Builds a digest from raw SHA-256 bytes (32 of them).
    public init(sha256Bytes bytes: some Sequence<UInt8>) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var count = 0
        for byte in bytes {
            switch count / 8 {
            case 0: words.0 = words.0 << 8 | UInt64(byte)
            case 1: words.1 = words.1 << 8 | UInt64(byte)
            case 2: words.2 = words.2 << 8 | UInt64(byte)
            case 3: words.3 = words.3 << 8 | UInt64(byte)
            default: preconditionFailure("a SHA-256 sum has 32 bytes")
            }
            count += 1
        }
        precondition(count == 32, "a SHA-256 sum has 32 bytes")
        (word0, word1, word2, word3) = words
    }

    /// Writes the 64 hex digits to the start of `buffer`, which has room for them.
    public func writeHex(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 64, "a sha256 digest has 64 hex digits")
        func put(_ word: UInt64, at start: Int) {
            for nibble in 0..<16 {
                let value = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * nibble)) & 0x0f
                buffer[start + nibble] = value < 10 ? 0x30 &+ value : 0x61 &+ value &- 10
            }
        }
        put(word0, at: 0)
        put(word1, at: 16)
        put(word2, at: 32)
        put(word3, at: 48)
    }

    /// Whether `hex` is exactly 64 lowercase hex digits.
    public static func isValidHex(_ hex: String) -> Bool {
        Digest(validHex: hex) != nil
    }

    /// `sha256:<hex>`.
    public var string: String {
        String(unsafeUninitializedCapacity: 71) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            for (position, byte) in "sha256:".utf8.enumerated() { raw[position] = byte }
            writeHex(into: UnsafeMutableRawBufferPointer(rebasing: raw[7...]))
            return 71
        }
    }
    public var description: String { string }

    /// The first 12 hex digits, as users see image IDs.
    public var short: String { String(hex.prefix(12)) }

    public static func < (lhs: Digest, rhs: Digest) -> Bool {
        (lhs.word0, lhs.word1, lhs.word2, lhs.word3) < (rhs.word0, rhs.word1, rhs.word2, rhs.word3)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(container.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }

    /// Keeps hostile input from spilling control characters or megabytes into messages.
    public static func printable(_ s: String) -> String {
        var cleaned = String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
        if cleaned.count > 100 { cleaned = String(cleaned.prefix(100)) + "…" }
        return cleaned
    }
}
