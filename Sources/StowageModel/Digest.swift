/// A content digest that can only hold a valid `sha256:` + 64 lowercase hex value.
///
/// Digests come from untrusted archives and registries and become file paths
/// under `blobs/sha256/`, so they are validated on construction: no other
/// algorithm, no uppercase, no path separators, exactly 64 hex digits.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The only algorithm Stowage accepts.
    public static let algorithm = "sha256"

    /// The 64 lowercase hex digits of the SHA-256 sum.
    public let hex: String

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
        guard Self.isValidHex(hex) else {
            throw StowageError(.invalidDigest, "invalid sha256 digest 'sha256:\(Self.printable(hex))': expected 64 lowercase hex digits")
        }
        self.hex = hex
    }

    /// Builds a digest from raw SHA-256 bytes (32 of them).
    public init(sha256Bytes bytes: some Sequence<UInt8>) {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0x0f)])
        }
        precondition(out.count == 64, "a SHA-256 sum has 32 bytes")
        self.hex = String(decoding: out, as: UTF8.self)
    }

    /// Whether `hex` is exactly 64 lowercase hex digits.
    public static func isValidHex(_ hex: String) -> Bool {
        let utf8 = hex.utf8
        guard utf8.count == 64 else { return false }
        return utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// `sha256:<hex>`.
    public var string: String { "\(Self.algorithm):\(hex)" }
    public var description: String { string }

    /// The first 12 hex digits, as users see image IDs.
    public var short: String { String(hex.prefix(12)) }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.hex < rhs.hex }

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
