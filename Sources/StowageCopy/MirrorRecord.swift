import StowageLayout
import StowageModel

/// What the last `stowage mirror` run of an image set brought into a layout, kept as
/// the layout's record `mirror/SET` so the next run can tell what changed: a tag whose
/// registry digest is the recorded one, and whose name still points where the run left
/// it, is up to date after one HEAD request.
public struct MirrorRecord: Sendable, Codable, Equatable {
    /// One image the set brought.
    public struct Image: Sendable, Codable, Equatable {
        /// Where it came from: `HOST/REPO:TAG` or `HOST/REPO@DIGEST`.
        public var source: String
        /// Its name in the layout; nil for an image listed by digest, which stays unnamed.
        public var name: String?
        /// The digest the registry had for it.
        public var sourceDigest: String
        /// The digest stored in the layout (another one when a platform filter made a new index).
        public var digest: String
        /// Whether the set still lists it; a retired image stays in the layout until `--prune`.
        public var retired: Bool?
    }

    /// The format of this record.
    public var schemaVersion = 1
    /// The set's name.
    public var set: String
    /// The images, sorted by source.
    public var images: [Image]

    static let kind = "mirror"

    /// The record of `set` in `layout`, or an empty one; a record Stowage cannot read is
    /// treated as absent (every image is then checked again, nothing is lost).
    static func read(from layout: Layout, set: String) throws -> MirrorRecord {
        guard let bytes = try layout.readRecord(kind, set),
            let record = try? JSONCoding.decode(MirrorRecord.self, from: bytes, what: "mirror record \(set)"),
            record.schemaVersion == 1
        else { return MirrorRecord(set: set, images: []) }
        return record
    }

    func write(to layout: Layout) throws {
        var sorted = self
        sorted.images.sort { $0.source < $1.source }
        try layout.writeRecord(Self.kind, set, bytes: try JSONCoding.encode(sorted))
    }
}
