import StowageModel

/// How a user's words become an image of the layout: a name as stored, a name as a
/// user writes it (`:latest` implied), a digest, or the start of one.
extension Layout {
    /// Finds an image by name (as stored, or as a user writes it, `:latest` implied)
    /// or by digest (`sha256:…`, also a child manifest that has no entry of its own).
    /// A digest may be cut short to 12 or more hex digits, with or without `sha256:`,
    /// when only one entry or blob of the layout starts with them.
    public func resolve(_ query: String) throws -> Descriptor {
        try RefName.refuseTransport(query)
        if let entry = try quickResolve(query) { return entry }
        return try resolve(query, in: readIndex())
    }

    /// `resolve(_:in:)` on only the entries whose bytes mention what `query` may name
    /// (`IndexLocator`): they are all the entries the answer can come from. Nil when the
    /// whole index must be read: a miss (whose error lists names from all of it), and
    /// anything unusual.
    private func quickResolve(_ query: String) throws -> Descriptor? {
        guard let candidates = try locateEntries(containing: Self.needles(for: query)) else { return nil }
        return try? resolve(query, in: Index(manifests: candidates))
    }

    /// What the entries that `query` may resolve to mention in their bytes: the name as
    /// written, the name as a user means it, the digest's hex digits (whole or cut short).
    static func needles(for query: String) -> [[UInt8]] {
        var needles = [Array("\"\(query)\"".utf8)]
        if let name = (try? RefName(userInput: query))?.value, name != query { needles.append(Array("\"\(name)\"".utf8)) }
        if let prefix = (try? DigestPrefix(digestText(of: query))) ?? nil { needles.append(Array(prefix.hex.utf8)) }
        return needles
    }

    /// The part of `query` that can be a digest: after `@` (`NAME@sha256:…`), or all of it.
    static func digestText(of query: String) -> String {
        query.lastIndex(of: "@").map { String(query[query.index(after: $0)...]) } ?? query
    }

    /// The entries of `index.json` whose bytes contain one of `needles`, or nil when the
    /// file is too large to hold whole or not plainly an index (the caller reads it whole).
    func locateEntries(containing needles: [[UInt8]]) throws -> [Descriptor]? {
        guard let status = try FileSystem.status(indexPath), status.st_size <= Self.maxLocatedIndexSize else { return nil }
        return try IndexLocator.entries(in: readIndexBytes(), what: indexPath, containing: needles)
    }

    /// The largest `index.json` read whole for a lookup: beyond it, the streaming reader's
    /// bounded memory matters more than the speed.
    static let maxLocatedIndexSize: Int = 64 << 20

    /// Finds an image in a given version of `index.json` (the one read under the lock, when changing it).
    public func resolve(_ query: String, in index: Index) throws -> Descriptor {
        try RefName.refuseTransport(query)
        if let entry = index.entry(named: query) { return entry }
        if let name = try? RefName(userInput: query), let entry = index.entry(named: name.value) { return entry }
        guard let digest = try digest(matching: query, in: index) else { throw notFound(query, in: index) }
        if let entry = index.manifests.first(where: { $0.digest == digest }) {
            var unnamed = entry
            unnamed.refName = nil
            return unnamed
        }
        if let size = try blobs.size(of: digest) { return try manifestDescriptor(digest, size: size) }
        throw StowageError(.notFound, "no image with digest \(digest) in layout \(root)")
    }

    /// The digest `query` names: `sha256:<hex>`, `NAME@sha256:<hex>`, or 12 to 64 hex digits
    /// alone; a short one must start exactly one entry's or blob's digest. Nil when `query`
    /// is not written as a digest.
    func digest(matching query: String, in index: Index) throws -> Digest? {
        let text = Self.digestText(of: query)
        guard let prefix = try DigestPrefix(text) else {
            // `NAME@…` can only be meant as a digest: say what is wrong with it.
            if query.contains("@") { _ = try Digest(text) }
            return nil
        }
        if let digest = prefix.digest { return digest }
        var matches = Set(index.manifests.lazy.map(\.digest).filter(prefix.matches))
        matches.formUnion(try blobs.digests(matching: prefix))
        let sorted = matches.sorted()
        guard sorted.count <= 1 else {
            let shown = sorted.prefix(5).map(\.string).joined(separator: ", ")
            throw StowageError(
                .conflict,
                "digest \(prefix) is ambiguous in layout \(root): it starts \(sorted.count) digests (\(shown)\(sorted.count > 5 ? ", …" : "")); give more hex digits")
        }
        guard let digest = sorted.first else {
            throw StowageError(.notFound, "no image or blob with a digest starting \(prefix) in layout \(root); `stowage ls` lists the images")
        }
        return digest
    }

    /// The descriptor of a stored blob that no entry names, which must be a manifest or index.
    /// A layer or config says what it is, rather than failing as a document that is not JSON.
    private func manifestDescriptor(_ digest: Digest, size: Int64) throws -> Descriptor {
        let start = try blobs.readPrefix(digest, count: 64).first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }
        let hint = "give an image's name or manifest digest (`stowage ls` lists them)"
        guard start == UInt8(ascii: "{"), size <= BlobStore.maxDocumentSize else {
            throw StowageError(.unsupported, "blob \(digest) is a layer, not a manifest or index; \(hint)")
        }
        let bytes = try blobs.readDocument(digest, expectedSize: size)
        // A Docker image config has a `config` field too: only a document that parses as
        // what its shape suggests is a manifest or index.
        guard let mediaType = try? MediaType(ofDocument: bytes, what: "blob \(digest)"),
            (try? ContentDocument(bytes, mediaType: mediaType, what: "blob \(digest)")) != nil
        else {
            throw StowageError(.unsupported, "blob \(digest) is an image config or another JSON blob, not a manifest or index; \(hint)")
        }
        return Descriptor(mediaType: mediaType, digest: digest, size: size)
    }

    /// "No image named …", with the names the user may have meant: the same repository
    /// path and tag under another registry host (`docker.io/team/app:v1` for `team/app:v1`).
    func notFound(_ query: String, in index: Index) -> StowageError {
        let message = "no image named '\(Digest.printable(query))' in layout \(root)"
        let similar = Self.similarNames(to: query, among: index.manifests.lazy.compactMap(\.refName))
        if !similar.isEmpty {
            return StowageError(.notFound, message + "; did you mean \(similar.map { "'\($0)'" }.joined(separator: " or "))?")
        }
        if query.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
            return StowageError(.notFound, message + "; a digest needs at least \(DigestPrefix.minimumLength) hex digits")
        }
        return StowageError(.notFound, message + "; `stowage ls` lists the names")
    }

    /// Up to three stored names that differ from `query` only in the registry host
    /// (or in Docker Hub's `library/`).
    static func similarNames(to query: String, among names: some Sequence<String>) -> [String] {
        func key(_ text: String) -> String? {
            guard let reference = try? Reference(parsing: text).withDefaultTag, reference.digest == nil else { return nil }
            let path = reference.path.hasPrefix("library/") ? String(reference.path.dropFirst("library/".count)) : reference.path
            return "\(path):\(reference.tag ?? "")"
        }
        guard let wanted = key(query) else { return [] }
        var found: [String] = []
        for name in names where name != query && key(name) == wanted && !found.contains(name) {
            found.append(name)
            if found.count == 3 { break }
        }
        return found
    }
}
