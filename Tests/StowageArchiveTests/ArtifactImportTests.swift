import Foundation
import StowageArchive
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Artifacts of any shape import whole: nothing an archive's document references is
/// left out of the layout, and what cannot be walked is refused, not half-imported.
@Suite struct ArtifactImportTests {
    let directory = TemporaryDirectory()

    func archive(_ entries: [(descriptor: Descriptor, blobs: [[UInt8]], refName: String?)], _ name: String) throws -> String {
        var builder = ArchiveBuilder()
        var seen = Set<Digest>()
        for entry in entries {
            for blob in entry.blobs where seen.insert(ContentHasher.digest(of: blob)).inserted {
                builder.entries.append(.file("blobs/sha256/\(ContentHasher.digest(of: blob).hex)", blob))
            }
        }
        let index = Index(manifests: entries.map { entry in
            var descriptor = entry.descriptor
            descriptor.refName = entry.refName
            return descriptor
        })
        builder.entries.append(.file("index.json", try JSONCoding.encode(index)))
        builder.entries.append(.file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)))
        let path = directory.child(name)
        try builder.write(to: path)
        return path
    }

    @Test func artifactsOfEveryShapeLinkEveryBlobAndSurviveGC() throws {
        let layout = try Layout.create(directory.child("layout"))
        let image = TestImage.make(layers: [pseudoRandomBytes(500, seed: 1)])
        // An OCI 1.1 artifact with layers of media types Stowage has never heard of.
        let helm = TestArtifact.referrer(
            of: nil, artifactType: "application/vnd.cncf.helm.config.v1+json",
            layers: [("application/vnd.cncf.helm.chart.content.v1.tar+gzip", pseudoRandomBytes(300, seed: 2)),
                     ("application/x-anything", Array("opaque".utf8))])
        // An rc-era artifact manifest: `blobs`, no config.
        let rc = TestArtifact.rcArtifact(
            of: image.descriptor, artifactType: "application/vnd.example.sig",
            blobs: [("application/vnd.example.sig.v1", pseudoRandomBytes(200, seed: 3))])
        let path = try archive([
            (image.descriptor, image.blobs, "team/app:v1"),
            (helm.descriptor, helm.allBlobs, "team/chart:1"),
            (rc.descriptor, rc.allBlobs, nil),
        ], "artifacts.tar")
        try ArchiveImporter(layout: layout).importArchive(path)
        for blob in image.blobs + helm.allBlobs + rc.allBlobs {
            #expect(try layout.blobs.contains(ContentHasher.digest(of: blob)), "blob \(ContentHasher.digest(of: blob)) was not linked")
        }
        let report = try GarbageCollector(layout: layout, grace: 0).collect()
        #expect(report.removedBlobs.isEmpty)
        #expect(try LayoutVerifier(root: layout.root).verify().clean)
    }

    @Test func aDocumentOfAMediaTypeStowageCannotWalkIsRefused() throws {
        let layout = try Layout.create(directory.child("layout"))
        let layer = pseudoRandomBytes(100, seed: 9)
        let unknown = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.example.bundle.v1+json","layers":[{"mediaType":"application/octet-stream","digest":"\#(ContentHasher.digest(of: layer))","size":100}]}"#.utf8)
        let descriptor = Descriptor(mediaType: "application/vnd.example.bundle.v1+json", digest: ContentHasher.digest(of: unknown), size: Int64(unknown.count))
        let path = try archive([(descriptor, [layer, unknown], "team/bundle:1")], "unknown.tar")
        let before = try LayoutSnapshot(layout.root)
        let error = try #require(throws: StowageError.self) { try ArchiveImporter(layout: layout).importArchive(path) }
        #expect(error.code == .invalidArchive)
        #expect(error.message.contains("application/vnd.example.bundle.v1+json"))
        #expect(error.message.contains("cannot walk"))
        #expect(try LayoutSnapshot(layout.root) == before)
    }
}
