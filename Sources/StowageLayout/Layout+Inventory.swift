#if canImport(Glibc)
import Glibc
#endif
import StowageModel

extension Layout {
    /// What the layout holds, for the other side of an air gap: every blob that
    /// `index.json` reaches (the blobs gc keeps; manifests and indexes included),
    /// with its size on disk, and every name.
    ///
    /// Found with the shared walk (`ContentGraph`). Blobs are not hashed (that is
    /// `verify`'s work): a manifest or index that cannot be read, and what only it
    /// reaches, is left out, so an export against the inventory carries it again.
    public func inventory() throws -> Inventory {
        let index = try readIndex()
        let graph = ContentGraph.walk(blobs, entries: index.manifests, followSubjects: false, groupedByDigest: true)
        var held: [Inventory.Blob] = []
        for digest in graph.reachable where graph.documentIssues[digest] == nil {
            if let size = try blobs.size(of: digest) { held.append(Inventory.Blob(digest: digest, size: size)) }
        }
        var named = Set<String>()
        let names = index.manifests.compactMap { entry -> Inventory.Name? in
            guard let name = entry.refName, named.insert(name).inserted else { return nil }
            return Inventory.Name(name: name, digest: entry.digest, mediaType: entry.mediaType)
        }
        return try Inventory(sources: ["oci:\(root)"], blobs: held, names: names)
    }
}

extension Inventory {
    /// The largest inventory file read (about two million blobs).
    public static let maxFileSize = 256 * 1024 * 1024

    /// Reads and checks the inventory file at `path`; errors name the file.
    public static func load(_ path: String) throws -> Inventory {
        guard FileSystem.exists(path) else {
            throw StowageError(.notFound, "inventory \(path) does not exist; write it on the other side with `stowage inventory -o FILE`")
        }
        guard FileSystem.isRegularFile(path) || !FileSystem.isDirectoryFollowingLinks(path) else {
            throw StowageError(.usage, "inventory \(path) is a directory; give the file `stowage inventory -o FILE` wrote")
        }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: maxFileSize)
        } catch let error as StowageError where error.code == .unsupported {
            throw StowageError(.unsupported, "inventory \(path) is larger than \(maxFileSize) bytes, more than any inventory Stowage writes")
        }
        return try parse(bytes, what: "inventory \(path)")
    }

    /// Writes the JSON form to `path` through a temporary file renamed into place, so
    /// a failed write never leaves a partial inventory under that name.
    public func write(to path: String) throws {
        let (directory, name) = FileSystem.splitPath(path)
        guard FileSystem.isDirectoryFollowingLinks(directory) else {
            throw StowageError(.notFound, "cannot write \(path): directory \(directory) does not exist; create it first")
        }
        let temporary = "\(directory)/.\(name).stowage-\(getpid())-\(FileSystem.randomSuffix())"
        let bytes = jsonBytes
        try FileSystem.replaceFile(path, through: temporary) { write in try write(bytes) }
        try? FileSystem.fsyncDirectory(directory)
    }
}
