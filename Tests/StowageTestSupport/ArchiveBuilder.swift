import StowageArchive
import StowageLayout
import StowageModel

/// Deterministic pseudo-random bytes (xorshift), so test archives are reproducible.
public func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        var word = state
        for _ in 0..<8 where i < count {
            bytes[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return bytes
}

/// An image made in code: config, layers and manifest, with their digests.
public struct TestImage: Sendable {
    /// The config JSON.
    public var config: [UInt8]
    /// The layer blobs.
    public var layers: [[UInt8]]
    /// The manifest JSON.
    public var manifest: [UInt8]

    /// The manifest's descriptor.
    public var descriptor: Descriptor {
        Descriptor(mediaType: .ociManifest, digest: ContentHasher.digest(of: manifest), size: Int64(manifest.count))
    }

    /// Every blob of the image: config, layers, manifest.
    public var blobs: [[UInt8]] { [config] + layers + [manifest] }

    /// Makes an image for a platform with the given layer contents.
    public static func make(
        architecture: String = "amd64", variant: String? = nil, os: String = "linux", layers: [[UInt8]]
    ) -> TestImage {
        var configText = "{\"architecture\":\"\(architecture)\",\"os\":\"\(os)\""
        if let variant { configText += ",\"variant\":\"\(variant)\"" }
        let diffIDs = layers.map { "\"\(ContentHasher.digest(of: $0))\"" }.joined(separator: ",")
        configText += ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs)]}}"
        let config = Array(configText.utf8)
        return make(config: config, layers: layers)
    }

    /// Makes an image whose config bytes are given as they are.
    public static func make(config: [UInt8], layers: [[UInt8]]) -> TestImage {
        let manifest = Manifest(
            config: Descriptor(mediaType: .ociConfig, digest: ContentHasher.digest(of: config), size: Int64(config.count)),
            layers: layers.map {
                Descriptor(mediaType: .ociLayer, digest: ContentHasher.digest(of: $0), size: Int64($0.count))
            })
        return TestImage(config: config, layers: layers, manifest: try! JSONCoding.encode(manifest))
    }
}

/// The entries of a tar archive, built in code and written with `TarWriter`.
/// Tests start from a valid archive and then break it on purpose.
public struct ArchiveBuilder: Sendable {
    /// One tar entry.
    public enum Entry: Sendable {
        case file(String, [UInt8])
        case special(String, TarWriter.SpecialEntry)

        /// The entry's path.
        public var path: String {
            switch self {
            case .file(let path, _), .special(let path, _): path
            }
        }
    }

    /// The entries, in archive order.
    public var entries: [Entry]

    /// An archive with the given entries.
    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// A valid oci-archive holding `images`, each with an optional `ref.name`, blobs first
    /// like the archives skopeo and buildah write.
    public static func ociArchive(_ images: [(image: TestImage, refName: String?)]) -> ArchiveBuilder {
        var builder = ArchiveBuilder()
        var seen = Set<Digest>()
        for (image, _) in images {
            for blob in image.blobs {
                let digest = ContentHasher.digest(of: blob)
                if seen.insert(digest).inserted { builder.entries.append(.file("blobs/sha256/\(digest.hex)", blob)) }
            }
        }
        let index = Index(mediaType: nil, manifests: images.map { image, refName in
            var descriptor = image.descriptor
            descriptor.refName = refName
            return descriptor
        })
        builder.entries.append(.file("index.json", try! JSONCoding.encode(index)))
        builder.entries.append(.file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)))
        return builder
    }

    /// A single-image oci-archive.
    public static func ociArchive(_ image: TestImage, refName: String? = nil) -> ArchiveBuilder {
        ociArchive([(image, refName)])
    }

    /// Adds a blob entry named by its digest.
    public mutating func addBlob(_ bytes: [UInt8]) {
        entries.insert(.file("blobs/sha256/\(ContentHasher.digest(of: bytes).hex)", bytes), at: 0)
    }

    /// Replaces the content of the entry at `path`.
    public mutating func replace(_ path: String, with bytes: [UInt8]) {
        guard let position = entries.firstIndex(where: { $0.path == path }) else {
            fatalError("no entry \(path) in the test archive")
        }
        entries[position] = .file(path, bytes)
    }

    /// Removes the entry at `path`.
    public mutating func remove(_ path: String) {
        entries.removeAll { $0.path == path }
    }

    /// Writes the archive.
    public func write(to path: String, compression: TarWriter.Compression = .none) throws {
        let writer = try TarWriter(path: path, compression: compression)
        for entry in entries {
            switch entry {
            case .file(let name, let bytes): try writer.addFile(name, bytes)
            case .special(let name, let kind): try writer.addSpecial(name, kind)
            }
        }
        try writer.close()
    }
}
