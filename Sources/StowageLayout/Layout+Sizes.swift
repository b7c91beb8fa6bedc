#if canImport(Glibc)
import Glibc
#endif
import StowageModel

/// What users mean by an image's size: every distinct blob it is made of.
///
/// An image's total size depends on nothing but its digest (the documents it reaches
/// are immutable), so totals once computed are kept in `.stowage/cache/sizes` (see
/// `SizeCache`), and a listing of twenty thousand names reads one file instead
/// of every manifest. Only layouts that already have `.stowage/` get one. The cache is advisory: a line that does not parse is ignored, a
/// layout that cannot be written (a read-only disk) is simply not cached, and two
/// processes that write it at once each leave a whole, valid file.
extension Layout {
    /// The total size of each descriptor's image, by digest: the sizes of the distinct
    /// blobs it reaches (its own document, child manifests and indexes, configs and
    /// layers), referrers left out. A digest whose graph is not all in the layout (a
    /// document missing or unreadable) has no total.
    public func totalSizes(of descriptors: [Descriptor]) -> [Digest: Int64] {
        let cache = SizeCache(readingFrom: sizeCachePath)
        var totals: [Digest: Int64] = [:]
        var missing: [Descriptor] = []
        var looked = Set<Digest>()
        for descriptor in descriptors where looked.insert(descriptor.digest).inserted {
            if let total = cache.total(of: descriptor.digest) {
                totals[descriptor.digest] = total
            } else {
                missing.append(descriptor)
            }
        }
        guard !missing.isEmpty else { return totals }
        let computed = parallelMap(missing, width: 8) { descriptor in self.computeTotalSize(descriptor) }
        var added: [(hex: String, total: Int64)] = []
        for (descriptor, total) in zip(missing, computed) {
            guard let total else { continue }
            totals[descriptor.digest] = total
            added.append((descriptor.digest.hex, total))
        }
        // Only a layout Stowage already keeps files in gets the cache: reading a layout
        // that skopeo or umoci wrote leaves it as it was.
        if !added.isEmpty, FileSystem.isDirectory(privateDirectory) { try? writeSizeCache(cache.merging(added)) }
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

    private func writeSizeCache(_ bytes: [UInt8]) throws {
        try preparePrivateDirectory()
        try FileSystem.makeDirectories("\(privateDirectory)/cache")
        try replaceFile(sizeCachePath, with: bytes)
    }
}

/// `.stowage/cache/sizes`: fixed-width lines `HEX TOTAL\n` (64 hex digits, a space, 20
/// decimal digits), sorted by digest, so a total is found by binary search without
/// reading the file into a dictionary: listing one repository of a layout of twenty
/// thousand names looks up a few lines.
struct SizeCache {
    static let lineLength = 64 + 1 + 20 + 1

    /// The file's bytes; empty when there is no file or it is not in this shape.
    private let bytes: [UInt8]

    init(readingFrom path: String) {
        // No cache (or one that cannot be read) is an empty one.
        guard let bytes = try? FileSystem.readFile(path, limit: FileSystem.maxIndexSize), bytes.count % Self.lineLength == 0
        else {
            self.bytes = []
            return
        }
        self.bytes = bytes
    }

    private var count: Int { bytes.count / Self.lineLength }

    /// The total recorded for `digest`, if any (a malformed line counts as none).
    func total(of digest: Digest) -> Int64? {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { buffer -> Int64? in
            digest.writeHex(into: buffer)
            let key = UnsafeRawBufferPointer(buffer)
            var low = 0
            var high = count
            while low < high {
                let middle = (low + high) / 2
                let start = middle * Self.lineLength
                let order = compare(key, at: start)
                if order == 0 { return value(at: start) }
                if order < 0 { high = middle } else { low = middle + 1 }
            }
            return nil
        }
    }

    /// This cache with `added`, as the bytes of a file.
    func merging(_ added: [(hex: String, total: Int64)]) -> [UInt8] {
        var lines: [String: Int64] = [:]
        for position in 0..<count {
            let start = position * Self.lineLength
            if let total = value(at: start) {
                lines[String(decoding: bytes[start..<start + 64], as: UTF8.self)] = total
            }
        }
        for (hex, total) in added { lines[hex] = total }
        var out: [UInt8] = []
        out.reserveCapacity(lines.count * Self.lineLength)
        for (hex, total) in lines.sorted(by: { $0.key < $1.key }) {
            let digits = String(total)
            out += Array(hex.utf8) + [0x20] + Array(repeating: 0x30, count: 20 - digits.utf8.count) + Array(digits.utf8) + [0x0A]
        }
        return out
    }

    private func compare(_ key: UnsafeRawBufferPointer, at start: Int) -> Int {
        bytes.withUnsafeBytes { Int(memcmp(key.baseAddress!, $0.baseAddress! + start, 64)) }
    }

    /// The total of the line at `start`, or nil when the line is not well formed.
    private func value(at start: Int) -> Int64? {
        guard bytes[start + 64] == 0x20, bytes[start + Self.lineLength - 1] == 0x0A else { return nil }
        var total: Int64 = 0
        for byte in bytes[start + 65..<start + 85] {
            guard (0x30...0x39).contains(byte) else { return nil }
            total = total &* 10 &+ Int64(byte - 0x30)
        }
        return total >= 0 ? total : nil
    }
}
