/// What a layout or a registry holds: every blob (manifests and indexes included)
/// with its size, and every name with the digest it points at.
///
/// The far side of an air gap writes one with `stowage inventory`; the near side
/// exports only what it lacks (`stowage export --exclude-present FILE`).
///
/// The JSON form is versioned (`schemaVersion`) and canonical: blobs sorted by
/// digest, names by name, keys in a fixed order, one blob or name per line. The
/// same content always gives the same bytes, so two inventories can be compared
/// with `cmp` or `diff`:
///
/// ```json
/// {"schemaVersion":1,"sources":["oci:/srv/layout"],
/// "blobs":[
/// {"digest":"sha256:…","size":1234}
/// ],
/// "names":[
/// {"name":"team/app:v1","digest":"sha256:…","mediaType":"application/vnd.oci.image.index.v1+json"}
/// ]}
/// ```
public struct Inventory: Sendable, Equatable {
    /// A blob held, and its size in bytes.
    public struct Blob: Sendable, Equatable, Hashable {
        /// The blob's digest.
        public var digest: Digest
        /// Its size in bytes.
        public var size: Int64

        /// A blob of `size` bytes.
        public init(digest: Digest, size: Int64) {
            self.digest = digest
            self.size = size
        }
    }

    /// A name held, and what it points at.
    public struct Name: Sendable, Equatable, Hashable {
        /// The reference (`team/app:v1`; `HOST/REPO:TAG` in a registry's inventory).
        public var name: String
        /// The digest of the manifest or index it names.
        public var digest: Digest
        /// That manifest's or index's media type.
        public var mediaType: MediaType

        /// A name for `digest`.
        public init(name: String, digest: Digest, mediaType: MediaType) {
            self.name = name
            self.digest = digest
            self.mediaType = mediaType
        }
    }

    /// The format version this Stowage writes and reads.
    public static let schemaVersion = 1

    /// Where the content was found: `oci:DIR` or `docker://HOST/REPO`, sorted.
    public private(set) var sources: [String]
    /// Every blob, sorted by digest, each once.
    public private(set) var blobs: [Blob]
    /// Every name, sorted by name, each once.
    public private(set) var names: [Name]
    private var sizes: [Digest: Int64]

    /// An inventory of `blobs` and `names` found in `sources`. Duplicates are folded;
    /// a digest listed with two sizes, or a name with two targets, is refused.
    public init(sources: [String], blobs: [Blob], names: [Name]) throws {
        var sizes: [Digest: Int64] = [:]
        for blob in blobs {
            guard blob.size >= 0 else {
                throw StowageError(.invalidJSON, "blob \(blob.digest) has the negative size \(blob.size)")
            }
            if let known = sizes.updateValue(blob.size, forKey: blob.digest), known != blob.size {
                throw StowageError(.invalidJSON, "blob \(blob.digest) is listed as both \(known) and \(blob.size) bytes")
            }
        }
        var targets: [String: Name] = [:]
        for name in names {
            if let known = targets.updateValue(name, forKey: name.name), known != name {
                throw StowageError(.invalidJSON, "the name \(name.name) is listed for both \(known.digest) and \(name.digest)")
            }
        }
        self.sources = Array(Set(sources)).sorted()
        self.sizes = sizes
        self.blobs = sizes.keys.sorted().map { Blob(digest: $0, size: sizes[$0]!) }
        self.names = targets.keys.sorted(by: JSONWriter.keyOrder).map { targets[$0]! }
    }

    /// The size the inventory gives `digest`, or nil when it does not hold it.
    public func size(of digest: Digest) -> Int64? {
        sizes[digest]
    }

    /// Whether the inventory holds `digest` with exactly `size` bytes. A blob listed with
    /// another size is not taken for present: the inventory is wrong about it.
    public func holds(_ digest: Digest, size: Int64) -> Bool {
        sizes[digest] == size
    }

    /// The bytes of all blobs.
    public var totalBytes: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// This inventory and `other` together.
    public func merged(with other: Inventory) throws -> Inventory {
        try Inventory(sources: sources + other.sources, blobs: blobs + other.blobs, names: names + other.names)
    }

    // MARK: - JSON

    /// The canonical JSON form, ending in a newline.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter(capacity: 128 + blobs.count * 100 + names.count * 160)
        writer.appendBytes(#"{"schemaVersion":"#.utf8)
        writer.writeInteger(Int64(Self.schemaVersion))
        writer.appendBytes(#","sources":["#.utf8)
        for (i, source) in sources.enumerated() {
            if i > 0 { writer.appendByte(UInt8(ascii: ",")) }
            writer.write(source)
        }
        writer.appendBytes("],\n\"blobs\":[".utf8)
        for (i, blob) in blobs.enumerated() {
            writer.appendBytes((i > 0 ? ",\n" : "\n").utf8)
            writer.appendBytes(#"{"digest":""#.utf8)
            writer.appendBytes(blob.digest.string.utf8)
            writer.appendBytes(#"","size":"#.utf8)
            writer.writeInteger(blob.size)
            writer.appendByte(UInt8(ascii: "}"))
        }
        writer.appendBytes((blobs.isEmpty ? "],\n\"names\":[" : "\n],\n\"names\":[").utf8)
        for (i, name) in names.enumerated() {
            writer.appendBytes((i > 0 ? ",\n" : "\n").utf8)
            writer.appendBytes(#"{"name":"#.utf8)
            writer.write(name.name)
            writer.appendBytes(#","digest":""#.utf8)
            writer.appendBytes(name.digest.string.utf8)
            writer.appendBytes(#"","mediaType":"#.utf8)
            writer.write(name.mediaType.rawValue)
            writer.appendByte(UInt8(ascii: "}"))
        }
        writer.appendBytes((names.isEmpty ? "]}\n" : "\n]}\n").utf8)
        return writer.bytes
    }

    /// Reads the JSON form; `what` names the file in errors. Every field is checked:
    /// the version, each digest (`sha256:` and 64 lowercase hex digits), each size
    /// (a whole number, 0 or more), each name and media type.
    public static func parse(_ bytes: [UInt8], what: String) throws -> Inventory {
        let value: JSONValue
        do {
            value = try JSONCoding.decode(JSONValue.self, from: bytes, what: what)
        } catch let error as StowageError {
            throw StowageError(.invalidJSON, "\(what) is not an inventory: it is not valid JSON", cause: error.description)
        }
        guard case .object(let root) = value else {
            throw StowageError(.invalidJSON, "\(what) is not an inventory: it is not a JSON object; write one with `stowage inventory -o FILE`")
        }
        guard case .int(let version)? = root["schemaVersion"] else {
            throw StowageError(.invalidJSON, "\(what) is not an inventory: it has no numeric schemaVersion; write one with `stowage inventory -o FILE`")
        }
        guard version == Int64(schemaVersion) else {
            throw StowageError(
                .unsupported, "\(what) is an inventory of schemaVersion \(version); this stowage reads schemaVersion \(schemaVersion) only")
        }
        func array(_ key: String, required: Bool) throws -> [JSONValue] {
            switch root[key] {
            case .array(let items)?: return items
            case nil where !required: return []
            default: throw StowageError(.invalidJSON, "\(what): '\(key)' must be an array")
            }
        }
        func string(_ object: [String: JSONValue], _ key: String, at place: String) throws -> String {
            guard case .string(let text)? = object[key] else {
                throw StowageError(.invalidJSON, "\(what): \(place).\(key) must be a string")
            }
            return text
        }
        func digest(_ object: [String: JSONValue], at place: String) throws -> Digest {
            let text = try string(object, "digest", at: place)
            guard let digest = try? Digest(text) else {
                throw StowageError(
                    .invalidDigest, "\(what): \(place).digest '\(Digest.printable(text))' is not a digest (sha256: and 64 lowercase hex digits)")
            }
            return digest
        }
        func object(_ item: JSONValue, at place: String) throws -> [String: JSONValue] {
            guard case .object(let members) = item else { throw StowageError(.invalidJSON, "\(what): \(place) must be an object") }
            return members
        }

        var sources: [String] = []
        for (i, item) in try array("sources", required: false).enumerated() {
            guard case .string(let text) = item else { throw StowageError(.invalidJSON, "\(what): sources[\(i)] must be a string") }
            sources.append(text)
        }
        var blobs: [Blob] = []
        for (i, item) in try array("blobs", required: true).enumerated() {
            let place = "blobs[\(i)]"
            let members = try object(item, at: place)
            guard case .int(let size)? = members["size"] else {
                throw StowageError(.invalidJSON, "\(what): \(place).size must be a whole number of bytes")
            }
            guard size >= 0 else {
                throw StowageError(.invalidJSON, "\(what): \(place).size is \(size); a size cannot be negative")
            }
            blobs.append(Blob(digest: try digest(members, at: place), size: size))
        }
        var names: [Name] = []
        for (i, item) in try array("names", required: false).enumerated() {
            let place = "names[\(i)]"
            let members = try object(item, at: place)
            let name = try string(members, "name", at: place)
            guard !name.isEmpty, name.utf8.count <= 1024, !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                throw StowageError(.invalidJSON, "\(what): \(place).name '\(UserText.clean(name, limit: 100))' is not a reference")
            }
            let mediaType = try string(members, "mediaType", at: place)
            names.append(Name(name: name, digest: try digest(members, at: place), mediaType: MediaType(mediaType)))
        }
        do {
            return try Inventory(sources: sources, blobs: blobs, names: names)
        } catch let error as StowageError {
            throw error.prefixed(what)
        }
    }
}
