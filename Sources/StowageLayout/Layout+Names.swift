import StowageModel

/// Naming and unnaming images: each change is one edit of `index.json` under the lock.
extension Layout {
    /// Gives the image `source` (a name or digest) the name `name`; the old owner of `name` loses it.
    @discardableResult
    public func tag(_ source: String, as name: RefName) throws -> Descriptor {
        try tag(source, as: [name])
    }

    /// Gives the image `source` (a name or digest) every name of `names` in one edit of
    /// `index.json`; each name moves if another image had it.
    @discardableResult
    public func tag(_ source: String, as names: [RefName]) throws -> Descriptor {
        guard !names.isEmpty else { throw StowageError(.usage, "give at least one new name, REPOSITORY:TAG") }
        let purpose = "tag \(names.map(\.value).joined(separator: " "))"
        // A digest may name a blob no entry reaches (a gc candidate): keep gc out until it is named.
        let blobLock = try lockBlobs(.shared, purpose: purpose)
        defer { blobLock.unlock() }
        func edit(_ index: inout Index) throws -> Descriptor {
            // Resolved under the lock, so a name removed a moment ago is not revived.
            let target = try resolve(source, in: index)
            if !index.manifests.contains(where: { $0.digest == target.digest }) {
                // A digest no entry reaches may have lost part of its graph to gc.
                try requireComplete(target, label: source)
            }
            for name in names { index.setReference(name, to: target) }
            return target
        }
        // The entries involved: the source, the names, and every entry of the source's digest.
        let quick = try quickUpdateIndex(
            purpose: purpose, needles: Self.needles(for: source) + names.map { Array("\"\($0.value)\"".utf8) },
            moreNeedles: { partial in [Array(try resolve(source, in: partial).digest.hex.utf8)] },
            edit)
        return try quick ?? updateIndex(purpose: purpose, edit)
    }

    /// Adds images to `index.json` in one edit, each under its names or unnamed, as
    /// `Index.add(_:)` does (imports and pulls name what they bring this way).
    public func addEntries(_ items: [(descriptor: Descriptor, names: [RefName])], purpose: String) throws {
        func edit(_ index: inout Index) { index.add(items) }
        // The entries involved: those of the names, and those of the images' digests.
        let needles = items.flatMap { item in [Array(item.descriptor.digest.hex.utf8)] + item.names.map { Array("\"\($0.value)\"".utf8) } }
        if try quickUpdateIndex(purpose: purpose, needles: needles, edit) == nil {
            try updateIndex(purpose: purpose, edit)
        }
    }

    /// Removes a name, or the unnamed entry of a digest. The blobs stay until garbage collection.
    @discardableResult
    public func removeReference(_ query: String) throws -> Descriptor {
        try removeReferences([query])[0]
    }

    /// Removes every name (or unnamed entry, given by its digest) of `queries` in one edit
    /// of `index.json`, all or nothing: when one is not found, nothing is removed.
    /// Returns the removed entries, in the order of `queries` (repeats counted once, also
    /// when spelt two ways: `team/app` and `team/app:latest`).
    @discardableResult
    public func removeReferences(_ queries: [String]) throws -> [Descriptor] {
        var unique: [String] = []
        var seen = Set<String>()
        for query in queries where seen.insert((try? RefName(userInput: query))?.value ?? query).inserted { unique.append(query) }
        guard !unique.isEmpty else { throw StowageError(.usage, "give at least one name or digest to remove") }
        let purpose = "rm \(unique.joined(separator: " "))"
        func edit(_ index: inout Index) throws -> [Descriptor] {
            try unique.map { try removeEntry($0, from: &index) }
        }
        let quick = try quickUpdateIndex(purpose: purpose, needles: unique.flatMap(Self.needles(for:)), edit)
        return try quick ?? updateIndex(purpose: purpose, edit)
    }

    private func removeEntry(_ query: String, from index: inout Index) throws -> Descriptor {
        try RefName.refuseTransport(query)
        if let removed = index.removeReference(query) { return removed }
        if let name = try? RefName(userInput: query), let removed = index.removeReference(name.value) {
            return removed
        }
        guard let digest = try digest(matching: query, in: index) else { throw notFound(query, in: index) }
        if let position = index.manifests.firstIndex(where: { $0.digest == digest && $0.refName == nil }) {
            return index.manifests.remove(at: position)
        }
        let names = index.manifests.filter { $0.digest == digest }.compactMap(\.refName)
        guard names.isEmpty else {
            throw StowageError(
                .conflict,
                "\(digest) has no unnamed entry to remove; it is named \(names.map { "'\($0)'" }.joined(separator: ", ")): remove a name with `stowage rm NAME`")
        }
        throw StowageError(.notFound, "no entry of index.json in layout \(root) has digest \(digest)")
    }
}
