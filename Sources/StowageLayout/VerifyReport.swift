/// One thing wrong with a layout, as `stowage verify` reports it.
public struct VerifyProblem: Sendable, Codable, Equatable {
    /// What kind of problem it is; scripts branch on it, people read `message`.
    public enum Kind: String, Sendable, Codable, Equatable, CaseIterable {
        /// `oci-layout` is missing, not JSON, or of another major version.
        case layoutFile
        /// `index.json` is missing, not JSON, or not an image index.
        case index
        /// A reference appears on more than one `index.json` entry.
        case duplicateReference
        /// An `org.opencontainers.image.ref.name` value outside the OCI grammar.
        case invalidReference
        /// A blob some descriptor points at is not in `blobs/sha256/`.
        case missingBlob
        /// A blob's size differs from what a descriptor declares.
        case sizeMismatch
        /// A blob's content does not hash to its name.
        case digestMismatch
        /// A manifest or index that cannot be parsed, or is too large or deep to read.
        case invalidDocument
        /// A blob path that is a directory, link or device instead of a regular file.
        case notRegularFile
        /// A file under `blobs/` that is not named by a valid digest.
        case strayFile
        /// A directory under `blobs/` for a digest algorithm Stowage does not check.
        case unsupportedAlgorithm
    }

    /// The kind of problem.
    public var kind: Kind
    /// The blob involved (`sha256:…`), when there is one.
    public var blob: String?
    /// The first reference (or unnamed image digest) whose content leads to the blob.
    public var reference: String?
    /// Every reference whose content leads to the blob.
    public var references: [String]
    /// The file involved, relative to the layout.
    public var path: String?
    /// One line naming the blob, file or reference, and what is wrong.
    public var message: String

    /// Creates a problem.
    public init(
        kind: Kind, blob: String? = nil, references: [String] = [], path: String? = nil, message: String
    ) {
        self.kind = kind
        self.blob = blob
        self.reference = references.first
        self.references = references
        self.path = path
        self.message = message
    }
}

/// What `stowage verify` found.
public struct VerifyReport: Sendable, Codable, Equatable {
    /// The layout directory.
    public var layout: String
    /// True when no problem was found; `stowage verify` exits 0 only then.
    public var clean: Bool
    /// Entries of `index.json`.
    public var images: Int
    /// Entries of `index.json` that carry a reference.
    public var references: Int
    /// Distinct blobs reached from `index.json` and checked.
    public var blobsChecked: Int
    /// Whether blob contents were hashed (false with `--fast`, which checks existence and size only).
    public var hashed: Bool
    /// Bytes read and hashed.
    public var bytesHashed: Int64
    /// Valid blobs no reference reaches (not a problem: `stowage gc` removes them).
    public var unreferencedBlobs: Int
    /// Every problem found, in a stable order.
    public var problems: [VerifyProblem]
    /// Observations that are not problems (unreferenced blobs).
    public var notes: [String]
    /// Things that pass verification but deserve attention: a referrer (signature, SBOM,
    /// attestation) whose subject the layout does not hold.
    public var warnings: [String] = []
}
