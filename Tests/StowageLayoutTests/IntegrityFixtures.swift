import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A layout for the verify, gc and reachability tests, built in code so that
/// every blob of every image is known by digest.
struct IntegrityLayout {
    let directory = TemporaryDirectory("integrity")
    let layout: Layout

    init() throws {
        layout = try Layout.create(directory.child("layout"))
    }

    var root: String { layout.root }

    /// Stores every blob of `image` and returns its manifest descriptor (with its platform).
    @discardableResult
    func store(_ image: TestImage, platform: Platform? = nil) throws -> Descriptor {
        for blob in image.blobs { try layout.blobs.write(blob) }
        var descriptor = image.descriptor
        descriptor.platform = platform
        return descriptor
    }

    /// Stores an index of `children` and returns its descriptor.
    func storeIndex(_ children: [Descriptor], subject: Descriptor? = nil) throws -> Descriptor {
        var index = Index(manifests: children)
        index.subject = subject
        let (digest, size) = try layout.blobs.write(JSONCoding.encode(index))
        return Descriptor(mediaType: .ociIndex, digest: digest, size: size)
    }

    /// Names `descriptor` in index.json.
    func name(_ descriptor: Descriptor, _ reference: String) throws {
        try layout.updateIndex(purpose: "test") { $0.setReference(try RefName(stored: reference), to: descriptor) }
    }

    /// Adds `descriptor` to index.json without a name.
    func addUnnamed(_ descriptor: Descriptor) throws {
        try layout.updateIndex(purpose: "test") { $0.addUnnamed(descriptor) }
    }

    /// The file of a blob.
    func path(_ digest: Digest) -> String { layout.blobs.path(of: digest) }

    /// The names of the files under blobs/sha256.
    func blobNames() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: layout.blobs.directory)) ?? [])
    }

    /// Replaces index.json with `text`.
    func writeIndex(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: layout.indexPath))
    }

    /// Flips one bit of the byte at `offset` of a blob, keeping its size.
    func flipByte(of digest: Digest, at offset: Int = 0) throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path(digest))))
        bytes[offset] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path(digest)))
    }

    /// Cuts a blob down to `size` bytes.
    func truncate(_ digest: Digest, to size: Int) {
        _ = Glibc.truncate(path(digest), off_t(size))
    }

    /// Removes a blob.
    func remove(_ digest: Digest) throws {
        try FileManager.default.removeItem(atPath: path(digest))
    }
}

/// Images with distinct, deterministic layers.
func integrityImage(_ seed: UInt64, architecture: String = "amd64", layers: Int = 2, layerSize: Int = 3000) -> TestImage {
    TestImage.make(
        architecture: architecture,
        layers: (0..<layers).map { pseudoRandomBytes(layerSize + $0, seed: seed * 100 + UInt64($0)) })
}

/// The digests of an image's blobs.
func digests(of image: TestImage) -> Set<Digest> {
    Set(image.blobs.map(ContentHasher.digest(of:)))
}

extension TestImage {
    /// The config's digest.
    var configDigest: Digest { ContentHasher.digest(of: config) }
    /// The layers' digests.
    var layerDigests: [Digest] { layers.map(ContentHasher.digest(of:)) }
}

/// The bytes of a file.
func integrityBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes a text file, replacing it.
func integrityWrite(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The names in a directory, sorted; empty when it does not exist.
func integrityListing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}
