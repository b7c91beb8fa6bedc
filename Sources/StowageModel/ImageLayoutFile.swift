/// The `oci-layout` file that marks a directory (or archive) as an OCI image layout.
public struct ImageLayoutFile: Codable, Sendable, Equatable {
    /// The layout version; Stowage writes 1.0.0 and reads any 1.x.
    public var imageLayoutVersion: String

    /// The version Stowage writes.
    public static let currentVersion = "1.0.0"

    /// The bytes Stowage writes: `{"imageLayoutVersion":"1.0.0"}`.
    public static var currentBytes: [UInt8] {
        // Encoding a one-field struct cannot fail.
        try! JSONCoding.encode(ImageLayoutFile(imageLayoutVersion: currentVersion))
    }

    /// Creates a file with the given version.
    public init(imageLayoutVersion: String) {
        self.imageLayoutVersion = imageLayoutVersion
    }

    /// Parses an `oci-layout` file and checks that it is a version Stowage reads;
    /// `what` names it in errors (a path, or "ARCHIVE: entry oci-layout").
    public static func check(_ bytes: [UInt8], what: String) throws {
        let file = try JSONCoding.decode(ImageLayoutFile.self, from: bytes, what: what)
        guard file.imageLayoutVersion.split(separator: ".").first == "1" else {
            throw StowageError(.unsupported, "\(what) declares layout version \(file.imageLayoutVersion); Stowage reads version 1.x")
        }
    }
}
