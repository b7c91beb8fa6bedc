import StowageModel

/// Stowage's own records about a layout, kept under `.stowage/records/KIND/NAME.json`:
/// what a command must remember between runs (the last run of an image set), never
/// part of the OCI layout. A record is replaced whole, like `index.json`.
extension Layout {
    /// The file of record `name` of `kind`; both must be plain names (letters, digits, `-_.`).
    public func recordPath(_ kind: String, _ name: String) throws -> String {
        for part in [kind, name] {
            guard !part.isEmpty, part.first != ".", part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw StowageError(.usage, "'\(Digest.printable(part))' cannot name a record: use letters, digits, '-', '_' and '.'")
            }
        }
        return "\(privateDirectory)/records/\(kind)/\(name).json"
    }

    /// The bytes of a record, or nil when there is none.
    public func readRecord(_ kind: String, _ name: String) throws -> [UInt8]? {
        let path = try recordPath(kind, name)
        guard FileSystem.exists(path) else { return nil }
        return try FileSystem.readFile(path, limit: FileSystem.maxIndexSize)
    }

    /// Replaces a record: written to a temporary file, fsynced and renamed into place.
    public func writeRecord(_ kind: String, _ name: String, bytes: [UInt8]) throws {
        let path = try recordPath(kind, name)
        try preparePrivateDirectory()
        try FileSystem.makeDirectories("\(privateDirectory)/records/\(kind)")
        try replaceFile(path, with: bytes)
    }

    /// Takes the exclusive lock of one record, so two runs of one image set take turns.
    public func lockRecord(_ kind: String, _ name: String, purpose: String) throws -> FileLock {
        let path = try recordPath(kind, name)
        try preparePrivateDirectory()
        try FileSystem.makeDirectories("\(privateDirectory)/records/\(kind)")
        return try FileLock(path: String(path.dropLast(".json".count)) + ".lock", mode: .exclusive, timeout: lockTimeout, purpose: purpose)
    }
}
