import Foundation

/// A directory under the system temp dir, removed when the test is done.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The directory.
    public let path: String

    /// Creates a fresh, empty directory.
    public init(_ label: String = "stowage-test") {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    public func child(_ name: String) -> String { "\(path)/\(name)" }
}
