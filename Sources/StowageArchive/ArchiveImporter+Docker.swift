import StowageLayout
import StowageModel

/// docker-archive (`docker save`, `buildah push … docker-archive:`): a
/// `manifest.json` naming config and layer files. Stowage keeps the config and
/// layers byte for byte and writes an OCI manifest for them, as skopeo does.
extension ArchiveImporter {
    /// One image of `manifest.json`.
    struct DockerArchiveImage: Decodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]
    }

    func dockerCandidates(_ scan: inout ArchiveScan, staging: String, needed: inout Set<Digest>) throws -> [Candidate] {
        let archive = scan.archive
        let images = try JSONCoding.decode(
            [DockerArchiveImage].self, from: scan.documents["manifest.json"]!, what: "\(archive): entry manifest.json")
        guard !images.isEmpty else {
            throw StowageError(.invalidArchive, "\(archive): entry manifest.json lists no images")
        }
        return try images.map { image in
            let (configDigest, configSize) = try locate(image.Config, in: &scan)
            _ = try JSONCoding.decode(
                ImageConfig.self, from: scan.readDocument(configDigest, layout: layout),
                what: "\(archive): entry \(image.Config)")
            needed.insert(configDigest)
            var layers: [Descriptor] = []
            for path in image.Layers {
                let (digest, size) = try locate(path, in: &scan)
                let magic = try scan.readPrefix(digest, layout: layout, count: 4)
                layers.append(Descriptor(mediaType: Self.layerMediaType(magic: magic), digest: digest, size: size))
                needed.insert(digest)
            }
            let manifest = Manifest(
                config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: configSize), layers: layers)
            let bytes = try JSONCoding.encode(manifest)
            let writer = try layout.blobs.makeWriter(in: staging)
            try writer.write(bytes)
            let (digest, size) = try writer.finish()
            scan.blobs[digest] = .staged(path: writer.temporaryPath, size: size)
            needed.insert(digest)
            let names = try (image.RepoTags ?? []).map { tag in
                do { return try RefName(userInput: tag) } catch let error as StowageError {
                    throw error.prefixed("\(archive): entry manifest.json RepoTags")
                }
            }
            return Candidate(descriptor: Descriptor(mediaType: .ociManifest, digest: digest, size: size), names: names)
        }
    }

    /// Finds a file `manifest.json` names: a hashed loose file, or a `blobs/sha256/` entry.
    private func locate(_ name: String, in scan: inout ArchiveScan) throws -> (Digest, Int64) {
        let archive = scan.archive
        let path = try ArchiveReader.normalize(name, archive: archive)
        if scan.symbolicLinks.contains(path) {
            throw scan.failure(path, "is a symbolic link; Stowage does not follow links in archives")
        }
        if let file = scan.looseFiles[path] {
            if try layout.blobs.size(of: file.digest) != nil {
                scan.blobs[file.digest] = scan.blobs[file.digest] ?? .inLayout(size: file.size)
            } else {
                scan.blobs[file.digest] = .staged(path: file.path, size: file.size)
            }
            return (file.digest, file.size)
        }
        if path.hasPrefix("blobs/") {
            let digest = try ArchiveScan.blobDigest(path, archive: archive)
            if let location = scan.blobs[digest] { return (digest, location.size) }
        }
        throw StowageError(.invalidArchive, "\(archive): entry manifest.json names \(path), which is not in the archive")
    }

    /// The OCI layer media type for a layer whose first bytes are `magic`.
    static func layerMediaType(magic: [UInt8]) -> MediaType {
        if magic.starts(with: [0x1f, 0x8b]) { return .ociLayerGzip }
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .ociLayerZstd }
        return .ociLayer
    }
}
