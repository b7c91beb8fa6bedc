import Crypto

/// Incremental SHA-256 that yields a Stowage `Digest`; the only place the
/// crypto library is used, so its `Digest` protocol never shadows ours.
public struct ContentHasher {
    private var hasher = SHA256()

    /// Starts an empty hash.
    public init() {}

    /// Feeds bytes.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: buffer)
    }

    /// The digest of everything fed so far.
    public func finalize() -> Digest {
        Digest(sha256Bytes: hasher.finalize())
    }

    /// The digest of `bytes`.
    public static func digest(of bytes: [UInt8]) -> Digest {
        var hasher = ContentHasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}
