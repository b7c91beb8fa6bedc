import StowageModel

extension Layout {
    /// An `index.json` entry narrowed to `platforms` (`--platform`, repeatable), for
    /// export and sync: an index becomes its image for one platform, or a new index of
    /// several (returned too, as it is not in the layout; `preserveDigests` refuses it),
    /// or stays whole when the platforms cover it; an image must be of one of them.
    /// The entry's annotations (its name) stay on what stands for it.
    public func narrow(_ entry: Descriptor, to platforms: [Platform], preserveDigests: Bool) throws -> (entry: Descriptor, filtered: FilteredIndex?) {
        let shown = entry.refName ?? entry.digest.string
        guard entry.mediaType.isIndex else {
            let stated = try self.platforms(of: entry)
            guard stated.contains(where: { image in platforms.contains { image.matches($0) } }) else {
                throw StowageError(
                    .conflict,
                    "\(shown) is \(stated.map(\.description).joined(separator: ", ")), not \(platforms.map(\.description).joined(separator: " or "))")
            }
            return (entry, nil)
        }
        let bytes = try blobs.readDocument(entry.digest, expectedSize: entry.size)
        let index = try JSONCoding.decode(Index.self, from: bytes, what: "index \(entry.digest) (\(shown))")
        var narrowed: Descriptor
        var made: FilteredIndex?
        switch try index.selecting(platforms, source: entry, what: shown, preserveDigests: preserveDigests) {
        case .whole: return (entry, nil)
        case .image(let image): narrowed = image
        case .filtered(let filtered):
            narrowed = filtered.descriptor
            made = filtered
        }
        narrowed.annotations = entry.annotations
        return (narrowed, made)
    }
}
