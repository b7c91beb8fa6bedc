import Foundation
import StowageLayout
import StowageModel
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Creates a fresh, empty directory under the system temporary directory.
func makeTemporaryDirectory(_ label: String = "layout-unit") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Removes a directory made by `makeTemporaryDirectory`, making it writable first.
func removeTemporaryDirectory(_ path: String) {
    _ = chmod(path, 0o755)
    try? FileManager.default.removeItem(atPath: path)
}

/// The names in a directory, sorted; empty when it does not exist.
func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

/// Every path below `root`, relative and sorted.
func tree(_ root: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    return enumerator.compactMap { $0 as? String }.sorted()
}

/// The bytes of a file.
func contents(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes a file, replacing it.
func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The inode number of a file (changes when a file is replaced by a rename).
func inode(_ path: String) throws -> UInt64 {
    var st = stat()
    guard lstat(path, &st) == 0 else { throw StowageError(.io, "stat \(path)") }
    return UInt64(st.st_ino)
}

/// Runs `body`, which must throw a `StowageError`, and returns it.
func stowageError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StowageError? {
    do {
        try body()
        Issue.record("expected a StowageError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as StowageError {
        return error
    } catch {
        Issue.record("expected a StowageError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
let abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/// A digest made of one repeated hex digit, for index bookkeeping tests.
func fakeDigest(_ c: Character) -> Digest {
    try! Digest(hex: String(repeating: c, count: 64))
}

/// A manifest descriptor for index bookkeeping tests (no blob behind it).
func fakeManifest(_ c: Character, name: String? = nil) -> Descriptor {
    var descriptor = Descriptor(mediaType: .ociManifest, digest: fakeDigest(c), size: 100)
    descriptor.refName = name
    return descriptor
}

/// Stores a complete single-platform image (config, one layer, manifest) and
/// returns the manifest's descriptor, without naming it.
func storeImage(in layout: Layout, os: String = "linux", architecture: String = "amd64", variant: String? = nil, layer: String) throws -> Descriptor {
    var config = #"{"architecture":"\#(architecture)","os":"\#(os)","#
    if let variant { config += #""variant":"\#(variant)","# }
    config += #""rootfs":{"type":"layers","diff_ids":[]}}"#
    let (configDigest, configSize) = try layout.blobs.write(Array(config.utf8))
    let (layerDigest, layerSize) = try layout.blobs.write(Array(layer.utf8))
    let manifest = Manifest(
        config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: configSize),
        layers: [Descriptor(mediaType: .ociLayer, digest: layerDigest, size: layerSize)])
    let (digest, size) = try layout.blobs.write(JSONCoding.encode(manifest))
    return Descriptor(mediaType: .ociManifest, digest: digest, size: size)
}

/// Stores an index of `children` (with their platforms) and returns its descriptor.
func storeIndex(in layout: Layout, _ children: [Descriptor]) throws -> Descriptor {
    let (digest, size) = try layout.blobs.write(JSONCoding.encode(Index(manifests: children)))
    return Descriptor(mediaType: .ociIndex, digest: digest, size: size)
}
