import Foundation
import StowageLayout

/// A checksum listing of a layout's files, to prove an operation changed nothing.
///
/// Lock files under `.stowage/` are left out (taking a lock may create them);
/// any other file under `.stowage/` counts, so leftover temporary files show up.
public struct LayoutSnapshot: Equatable, CustomStringConvertible {
    /// Relative path → SHA-256 of the content (or a marker for directories).
    public let files: [String: String]

    /// Reads every file below `root`.
    public init(_ root: String) throws {
        var files: [String: String] = [:]
        let base = URL(fileURLWithPath: root)
        if let enumerator = FileManager.default.enumerator(atPath: root) {
            while let relative = enumerator.nextObject() as? String {
                if relative.hasSuffix(".lock") { continue }
                let full = base.appendingPathComponent(relative).path
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
                if isDirectory.boolValue {
                    files[relative] = "<dir>"
                } else {
                    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: full)))
                    files[relative] = ContentHasher.digest(of: bytes).hex
                }
            }
        }
        self.files = files
    }

    public var description: String {
        files.keys.sorted().map { "\($0) \(files[$0]!)" }.joined(separator: "\n")
    }

    /// The names of blobs under `blobs/sha256/`.
    public var blobNames: Set<String> {
        Set(files.keys.filter { $0.hasPrefix("blobs/sha256/") }.map { String($0.dropFirst("blobs/sha256/".count)) })
    }
}
