/// The start of a digest, as users type it from `stowage ls` or `import` output:
/// `sha256:340e505f4c53` or `340e505f4c53`, 12 to 64 lowercase hex digits.
///
/// A prefix only stands for a digest once a layout has found exactly one match.
public struct DigestPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The fewest hex digits accepted: the length of a short image ID.
    public static let minimumLength = 12

    /// The lowercase hex digits given.
    public let hex: String

    /// Reads `sha256:<hex>` or bare `<hex>`; nil when `text` is no digest at all.
    /// A `sha256:` prefix with fewer than `minimumLength` digits, or with characters that
    /// are not lowercase hex, throws, since it can only have been meant as a digest.
    /// Bare hex needs `minimumLength` digits, as shorter hex is just as likely a name.
    public init?(_ text: String) throws {
        let algorithm = "\(Digest.algorithm):"
        if text.hasPrefix(algorithm) {
            let digits = String(text.dropFirst(algorithm.count))
            guard !digits.isEmpty, digits.count <= 64, Self.isLowerHex(digits) else {
                throw StowageError(.invalidDigest, "invalid digest '\(Digest.printable(text))': expected sha256: and 12 to 64 lowercase hex digits")
            }
            guard digits.count >= Self.minimumLength else {
                throw StowageError(
                    .invalidDigest,
                    "digest '\(Digest.printable(text))' is too short: give at least \(Self.minimumLength) hex digits, as `stowage ls` shows them")
            }
            hex = digits
            return
        }
        guard (Self.minimumLength...64).contains(text.utf8.count), Self.isLowerHex(text) else { return nil }
        hex = text
    }

    /// The full digest, when all 64 digits were given.
    public var digest: Digest? { hex.utf8.count == 64 ? try? Digest(hex: hex) : nil }

    /// Whether `digest` starts with this prefix.
    public func matches(_ digest: Digest) -> Bool { digest.hex.hasPrefix(hex) }

    /// `sha256:<hex>`, with `…` when the prefix is short.
    public var description: String { "\(Digest.algorithm):\(hex)\(hex.utf8.count < 64 ? "…" : "")" }

    private static func isLowerHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
