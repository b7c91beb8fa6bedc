import StowageModel

/// What users mean by an image's size: every distinct blob it is made of.
///
/// An image's total size depends on nothing but its digest (the documents it reaches
/// are immutable), so totals once computed are kept in `.stowage/cache/sizes`, one
/// `HEX TOTAL` line each, and a listing of twenty thousand names reads one file instead
/// of every manifest. Only layouts that already have `.stowage/` get one. The cache is advisory: a line that does not parse is ignored, a
/// layout that cannot be written (a read-only disk) is simply not cached, and two
/// processes that write it at once each leave a whole, valid file.
extension Layout {
    /// The total size of each descriptor's image, by digest: the sizes of the distinct
    /// blobs it reaches (its own document, child manifests and indexes, configs and
    /// layers), referrers left out. A digest whose graph is not all in the layout (a
    /// document missing or unreadable) has no total.
    public func totalSizes(of descriptors: [Descriptor]) -> [Digest: Int64] {
        var totals = readSizeCache()
        var seen = Set<Digest>()
        let missing = descriptors.filter { totals[$0.digest] == nil && seen.insert($0.digest).inserted }
        guard !missing.isEmpty else { return totals }
        let computed = parallelMap(missing, width: 8) { descriptor in self.computeTotalSize(descriptor) }
        var added = false
        for (descriptor, total) in zip(missing, computed) {
            guard let total else { continue }
            totals[descriptor.digest] = total
            added = true
        }
        // Only a layout Stowage already keeps files in gets the cache: reading a layout
        // that skopeo or umoci wrote leaves it as it was.
        if added, FileSystem.isDirectory(privateDirectory) { try? writeSizeCache(totals) }
        return totals
    }

    /// Sums the blobs `descriptor` reaches, each once; nil when a document can't be read.
    func computeTotalSize(_ descriptor: Descriptor) -> Int64? {
        var total: Int64 = 0
        var visited = Set<Digest>()
        var pending: [(descriptor: Descriptor, depth: Int)] = [(descriptor, 0)]
        while let (next, depth) = pending.popLast() {
            guard visited.insert(next.digest).inserted else { continue }
            total += next.size
            guard ContentDocument.isDocument(next.mediaType) else { continue }
            guard depth <= ContentDocument.maxDepth,
                let bytes = try? blobs.readDocument(next.digest, expectedSize: next.size),
                let document = try? ContentDocument(bytes, mediaType: next.mediaType, what: "blob \(next.digest)")
            else { return nil }
            pending += document.requiredReferences.map { ($0.descriptor, depth + 1) }
        }
        return total
    }

    private var sizeCachePath: String { "\(privateDirectory)/cache/sizes" }

    private func readSizeCache() -> [Digest: Int64] {
        guard FileSystem.exists(sizeCachePath),
            let bytes = try? FileSystem.readFile(sizeCachePath, limit: FileSystem.maxIndexSize)
        else { return [:] }
        var totals: [Digest: Int64] = [:]
        for line in bytes.split(separator: 0x0A) {
            let fields = line.split(separator: 0x20)
            guard fields.count == 2, let digest = try? Digest("sha256:" + String(decoding: fields[0], as: UTF8.self)),
                let total = Int64(String(decoding: fields[1], as: UTF8.self)), total >= 0
            else { continue }
            totals[digest] = total
        }
        return totals
    }

    private func writeSizeCache(_ totals: [Digest: Int64]) throws {
        try preparePrivateDirectory()
        try FileSystem.makeDirectories("\(privateDirectory)/cache")
        var text = ""
        for (digest, total) in totals.sorted(by: { $0.key.hex < $1.key.hex }) { text += "\(digest.hex) \(total)\n" }
        try replaceFile(sizeCachePath, with: Array(text.utf8))
    }
}
