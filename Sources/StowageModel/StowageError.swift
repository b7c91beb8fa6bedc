/// The one error type of Stowage.
///
/// Every failure a user can meet is a `StowageError` whose `description` is a
/// single sentence naming the file, reference or entry involved, so the CLI can
/// print it as-is on one line.
public struct StowageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is; tests and callers branch on it, users read `message`.
    public enum Code: String, Sendable, Equatable {
        /// A digest string that is not `sha256:` followed by 64 lowercase hex digits.
        case invalidDigest
        /// A reference that does not follow the docker reference grammar.
        case invalidReference
        /// A platform string that is not `os/arch[/variant]`.
        case invalidPlatform
        /// A JSON document that cannot be parsed or misses required fields.
        case invalidJSON
        /// An archive that is malformed, hostile or inconsistent.
        case invalidArchive
        /// A layout directory that is not a valid OCI image layout.
        case invalidLayout
        /// Content whose digest or size does not match what was declared.
        case digestMismatch
        /// A reference, digest or file that does not exist.
        case notFound
        /// A request that contradicts itself or the layout's state.
        case conflict
        /// A lock that could not be taken in time.
        case lockTimeout
        /// A failed system call.
        case io
        /// A command-line usage mistake.
        case usage
        /// Something valid but not supported by Stowage.
        case unsupported
        /// A registry answered with an error status.
        case registry
        /// A registry refused the credentials, or none were found.
        case authentication
        /// A registry could not be reached, or the connection broke.
        case network
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence a user can act on.
    public var message: String
    /// The lower-level cause, if any (an errno description, a parser message).
    public var cause: String?
    /// Where the error was raised, for debugging.
    public var location: String

    /// Creates an error; `file` and `line` default to the call site.
    public init(
        _ code: Code, _ message: String, cause: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = "\(file):\(line)"
    }

    public var description: String {
        if let cause, !cause.isEmpty { return "\(message): \(cause)" }
        return message
    }

    public static func == (lhs: StowageError, rhs: StowageError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.cause == rhs.cause
    }

    /// Returns a copy whose message is prefixed with `context` ("ARCHIVE: ...").
    public func prefixed(_ context: String) -> StowageError {
        var copy = self
        copy.message = "\(context): \(message)"
        return copy
    }
}
