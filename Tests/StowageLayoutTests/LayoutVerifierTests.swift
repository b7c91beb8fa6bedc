import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

@Suite("verify: every problem, with its blob and reference")
struct LayoutVerifierTests {
    /// app:v1 (a manifest), app:multi (an index of an index of two manifests, one shared
    /// with app:v1), and an unnamed image.
    struct Sample {
        let fixture: IntegrityLayout
        let v1 = integrityImage(1)
        let arm = integrityImage(2, architecture: "arm64")
        let unnamed = integrityImage(3, architecture: "s390x")
        var inner: Descriptor!
        var outer: Descriptor!

        init() throws {
            fixture = try IntegrityLayout()
            let v1Descriptor = try fixture.store(v1, platform: Platform(os: "linux", architecture: "amd64"))
            let armDescriptor = try fixture.store(arm, platform: Platform(os: "linux", architecture: "arm64"))
            inner = try fixture.storeIndex([v1Descriptor, armDescriptor])
            outer = try fixture.storeIndex([inner])
            try fixture.name(v1.descriptor, "team/app:v1")
            try fixture.name(outer, "team/app:multi")
            try fixture.addUnnamed(try fixture.store(unnamed))
        }

        func verify(fast: Bool = false, jobs: Int = 2) throws -> VerifyReport {
            try LayoutVerifier(root: fixture.root, jobs: jobs).verify(fast: fast)
        }
    }

    @Test func aCleanLayoutPassesWithEveryBlobChecked() throws {
        let sample = try Sample()
        let report = try sample.verify()
        #expect(report.clean, "\(report.problems)")
        #expect(report.problems.isEmpty)
        #expect(report.images == 3)
        #expect(report.references == 2)
        // 3 images × (config + 2 layers + manifest) + 2 indexes.
        #expect(report.blobsChecked == 14)
        #expect(report.unreferencedBlobs == 0)
        let total = try sample.fixture.blobNames().reduce(Int64(0)) { sum, name in
            sum + Int64(try integrityBytes("\(sample.fixture.layout.blobs.directory)/\(name)").count)
        }
        #expect(report.bytesHashed == total, "every byte of every blob hashed once")
    }

    @Test func aFlippedByteInALayerIsReportedWithItsReference() throws {
        let sample = try Sample()
        let layer = sample.arm.layerDigests[1]
        try sample.fixture.flipByte(of: layer, at: 100)
        let report = try sample.verify()
        #expect(!report.clean)
        let problem = try #require(report.problems.first)
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(problem.kind == .digestMismatch)
        #expect(problem.blob == layer.string)
        #expect(problem.reference == "team/app:multi")
        #expect(problem.message.contains("layer \(layer) of manifest \(sample.arm.descriptor.digest)"))
        #expect(problem.message.contains("reached from team/app:multi"))
        #expect(problem.message.contains("corrupt"))
        // --fast checks sizes only, so a same-size change goes unseen.
        #expect(try sample.verify(fast: true).clean)
    }

    @Test("a flipped byte in a blob hashed on two threads is found, wherever it is", arguments: [0, 3 << 20, (9 << 20) - 1])
    func aFlippedByteInALargeLayerIsReported(_ offset: Int) throws {
        let fixture = try IntegrityLayout()
        let image = integrityImage(7, layers: 1, layerSize: 9 << 20)
        try fixture.name(try fixture.store(image), "team/big:v1")
        #expect(try LayoutVerifier(root: fixture.root).verify().clean)
        let layer = image.layerDigests[0]
        try fixture.flipByte(of: layer, at: offset)
        let report = try LayoutVerifier(root: fixture.root).verify()
        #expect(report.problems.map(\.kind) == [.digestMismatch], "\(report.problems)")
        #expect(report.problems.first?.blob == layer.string)
    }

    @Test func aTruncatedBlobIsASizeAndDigestProblem() throws {
        let sample = try Sample()
        let layer = sample.v1.layerDigests[0]
        sample.fixture.truncate(layer, to: 10)
        let report = try sample.verify()
        #expect(report.problems.map(\.kind) == [.sizeMismatch, .digestMismatch])
        #expect(report.problems.allSatisfy { $0.blob == layer.string })
        // Reached from both references: the message names the first and counts the other.
        #expect(report.problems[0].references == ["team/app:v1", "team/app:multi"])
        #expect(report.problems[0].message.contains("is 10 bytes, but its descriptor says 3000"))
        #expect(report.problems[0].message.contains("reached from team/app:v1 and 1 other reference"))
        let fast = try sample.verify(fast: true)
        #expect(fast.problems.map(\.kind) == [.sizeMismatch])
    }

    @Test func aMissingLayerIsReported() throws {
        let sample = try Sample()
        let config = sample.unnamed.configDigest
        try sample.fixture.remove(config)
        let report = try sample.verify(fast: true)
        #expect(report.problems.count == 1)
        #expect(report.problems[0].kind == .missingBlob)
        #expect(report.problems[0].reference == sample.unnamed.descriptor.digest.string, "an unnamed image is named by its digest")
        #expect(report.problems[0].message.contains("config \(config) of manifest \(sample.unnamed.descriptor.digest)"))
        #expect(report.problems[0].message.contains("is missing"))
    }

    @Test func aMissingManifestIsReportedAndItsBlobsBecomeUnreferenced() throws {
        let sample = try Sample()
        let manifest = sample.arm.descriptor.digest
        try sample.fixture.remove(manifest)
        let report = try sample.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems[0].kind == .missingBlob)
        #expect(report.problems[0].message.contains("manifest \(manifest) of index \(sample.inner.digest) (reached from team/app:multi)"))
        #expect(report.unreferencedBlobs == 3, "its config and layers are no longer reachable")
        #expect(report.notes.contains { $0.contains("3 blobs are not referenced") })
    }

    @Test func aWrongSizeInADescriptorIsReported() throws {
        let sample = try Sample()
        var index = try sample.fixture.layout.readIndex()
        let position = try #require(index.manifests.firstIndex { $0.refName == "team/app:v1" })
        index.manifests[position].size += 5
        try Data(JSONCoding.encode(index)).write(to: URL(fileURLWithPath: sample.fixture.layout.indexPath))
        let report = try sample.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems[0].kind == .sizeMismatch)
        #expect(report.problems[0].references == ["team/app:v1"], "only the descriptor that lies")
        #expect(report.problems[0].message.contains("index.json"))
        #expect(report.problems[0].message.contains("but its descriptor says \(sample.v1.manifest.count + 5)"))
    }

    @Test(arguments: [
        ("{\"schemaVersion\":2,\"manifests\":[", "not valid JSON"),
        ("{\"manifests\":[]}", "schemaVersion"),
        ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:abc\",\"size\":1}]}", "digest"),
    ])
    func anInvalidIndexIsReported(_ text: String, _ words: String) throws {
        let sample = try Sample()
        try sample.fixture.writeIndex(text)
        let report = try sample.verify()
        #expect(!report.clean)
        #expect(report.problems.first?.kind == .index)
        #expect(report.problems.first?.message.contains("index.json") == true)
        #expect(report.problems.first?.message.contains(words) == true, "\(report.problems)")
        #expect(report.blobsChecked == 0)
        #expect(report.unreferencedBlobs == 14, "blobs are still listed")
    }

    @Test func aDuplicateReferenceIsReported() throws {
        let sample = try Sample()
        var index = try sample.fixture.layout.readIndex()
        var duplicate = sample.arm.descriptor
        duplicate.refName = "team/app:v1"
        index.manifests.append(duplicate)
        try Data(JSONCoding.encode(index)).write(to: URL(fileURLWithPath: sample.fixture.layout.indexPath))
        let report = try sample.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems[0].kind == .duplicateReference)
        #expect(report.problems[0].reference == "team/app:v1")
        #expect(report.problems[0].message.contains("team/app:v1 appears on 2 entries"))
        #expect(report.problems[0].message.contains(sample.arm.descriptor.digest.string))
    }

    @Test(arguments: ["team__x/app:v1", "[::1]:5000/app:v1", "team/app:v1_"])
    func aNameSkopeoCannotReadIsReported(_ name: String) throws {
        let sample = try Sample()
        var index = try sample.fixture.layout.readIndex()
        var named = sample.arm.descriptor
        named.refName = name
        index.manifests.append(named)
        try Data(JSONCoding.encode(index)).write(to: URL(fileURLWithPath: sample.fixture.layout.indexPath))
        let report = try sample.verify()
        #expect(report.problems.map(\.kind) == [.invalidReference])
        #expect(report.problems.first?.reference == name)
        #expect(report.problems.first?.message.contains("org.opencontainers.image.ref.name") == true)
    }

    @Test func strayFilesAndOtherAlgorithmsAreListed() throws {
        let sample = try Sample()
        let blobs = sample.fixture.layout.blobs.directory
        try integrityWrite("\(blobs)/not-a-digest", "x")
        try integrityWrite("\(blobs)/\(String(repeating: "A", count: 64))", "x")
        try FileManager.default.createDirectory(atPath: "\(sample.fixture.root)/blobs/sha512", withIntermediateDirectories: true)
        try integrityWrite("\(sample.fixture.root)/blobs/README", "x")
        // A valid, unreferenced blob is not a problem.
        try sample.fixture.layout.blobs.write(Array("orphan".utf8))
        let report = try sample.verify()
        #expect(report.problems.map(\.kind) == [.strayFile, .strayFile, .strayFile, .unsupportedAlgorithm])
        #expect(report.problems.map { $0.path ?? "" } == [
            "blobs/README", "blobs/sha256/\(String(repeating: "A", count: 64))", "blobs/sha256/not-a-digest", "blobs/sha512",
        ])
        #expect(report.unreferencedBlobs == 1)
    }

    @Test func aMissingOrForeignLayoutFileIsReported() throws {
        let sample = try Sample()
        try FileManager.default.removeItem(atPath: sample.fixture.layout.layoutFilePath)
        var report = try sample.verify()
        #expect(report.problems.map(\.kind) == [.layoutFile])
        #expect(report.problems[0].message.contains("oci-layout is missing"))
        try integrityWrite(sample.fixture.layout.layoutFilePath, #"{"imageLayoutVersion":"2.0.0"}"#)
        report = try sample.verify()
        #expect(report.problems.map(\.kind) == [.layoutFile])
        #expect(report.problems[0].message.contains("2.0.0"))
    }

    @Test func everyProblemIsReportedNotOnlyTheFirst() throws {
        let sample = try Sample()
        try sample.fixture.flipByte(of: sample.v1.layerDigests[1])
        try sample.fixture.remove(sample.arm.layerDigests[0])
        sample.fixture.truncate(sample.unnamed.configDigest, to: 1)
        try sample.fixture.remove(sample.unnamed.layerDigests[1])
        try integrityWrite("\(sample.fixture.layout.blobs.directory)/junk", "x")
        let report = try sample.verify()
        let kinds = report.problems.map(\.kind)
        #expect(kinds.filter { $0 == .digestMismatch }.count == 2, "\(report.problems)")
        #expect(kinds.filter { $0 == .missingBlob }.count == 2)
        #expect(kinds.filter { $0 == .sizeMismatch }.count == 1)
        #expect(kinds.filter { $0 == .strayFile }.count == 1)
        #expect(report.problems.count == 6)
    }

    @Test func aMissingSubjectIsAWarningAndAPresentOneIsChecked() throws {
        let sample = try Sample()
        // A referrer (say a signature) whose subject the layout does not hold.
        let absent = integrityImage(9).descriptor
        let referrer = try sample.fixture.storeIndex([], subject: absent)
        try sample.fixture.name(referrer, "team/app:sig-absent")
        var report = try sample.verify()
        #expect(report.clean, "\(report.problems)")
        #expect(report.warnings.contains { $0.contains("subject \(absent.digest)") && $0.contains("not in the layout") })
        // A subject that is there is walked and checked like anything else.
        let present = try sample.fixture.storeIndex([], subject: sample.unnamed.descriptor)
        try sample.fixture.name(present, "team/app:sig-present")
        try sample.fixture.flipByte(of: sample.unnamed.layerDigests[0])
        report = try sample.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems[0].references.contains("team/app:sig-present"))
    }

    @Test func aNonDistributableLayerMayBeAbsent() throws {
        let fixture = try IntegrityLayout()
        let config = Array(#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let (configDigest, configSize) = try fixture.layout.blobs.write(config)
        var foreign = Descriptor(mediaType: .dockerForeignLayer, digest: ContentHasher.digest(of: [1, 2, 3]), size: 3)
        foreign.urls = ["https://example.com/layer"]
        let manifest = Manifest(
            mediaType: .dockerManifest, config: Descriptor(mediaType: .dockerConfig, digest: configDigest, size: configSize),
            layers: [foreign])
        let (digest, size) = try fixture.layout.blobs.write(JSONCoding.encode(manifest))
        try fixture.name(Descriptor(mediaType: .dockerManifest, digest: digest, size: size), "team/win:v1")
        let report = try LayoutVerifier(root: fixture.root).verify()
        #expect(report.clean, "\(report.problems)")
    }

    @Test func hashingOnManyThreadsFindsWhatOneThreadFinds() throws {
        let fixture = try IntegrityLayout()
        var broken: Set<String> = []
        for i in 0..<12 {
            let image = integrityImage(UInt64(100 + i), layers: 3, layerSize: 20_000 + i * 1000)
            try fixture.name(try fixture.store(image), "team/many:\(i)")
            if i % 3 == 0 {
                try fixture.flipByte(of: image.layerDigests[i % 3], at: 5000)
                broken.insert(image.layerDigests[i % 3].string)
            }
        }
        let one = try LayoutVerifier(root: fixture.root, jobs: 1).verify()
        let many = try LayoutVerifier(root: fixture.root, jobs: 8).verify()
        #expect(one == many)
        #expect(Set(many.problems.compactMap(\.blob)) == broken)
        #expect(many.problems.map(\.blob) == many.problems.map(\.blob).sorted { ($0 ?? "") < ($1 ?? "") }, "stable order")
    }

    @Test func verifyWritesNothing() throws {
        let sample = try Sample()
        try FileManager.default.removeItem(atPath: "\(sample.fixture.root)/.stowage")
        try sample.fixture.flipByte(of: sample.v1.configDigest)
        let before = try LayoutSnapshot(sample.fixture.root)
        _ = try sample.verify()
        #expect(try LayoutSnapshot(sample.fixture.root) == before)
        #expect(!FileManager.default.fileExists(atPath: "\(sample.fixture.root)/.stowage"))
    }

    @Test func aLayoutReachedThroughASymlinkIsVerified() throws {
        let sample = try Sample()
        let link = sample.fixture.directory.child("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: sample.fixture.root)
        let report = try LayoutVerifier(root: link).verify()
        #expect(report.clean, "\(report.problems)")
        #expect(report.blobsChecked == 14)
        // A blob that is a symlink is not a blob.
        let layer = sample.v1.layerDigests[0]
        let elsewhere = sample.fixture.directory.child("elsewhere")
        try FileManager.default.moveItem(atPath: sample.fixture.path(layer), toPath: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: sample.fixture.path(layer), withDestinationPath: elsewhere)
        let linked = try LayoutVerifier(root: link).verify()
        #expect(linked.problems.map(\.kind) == [.notRegularFile])
        #expect(linked.problems.first?.blob == layer.string)
    }

    @Test func aDirectoryThatIsNotThereIsAnError() throws {
        let error = try #require(throws: StowageError.self) { _ = try LayoutVerifier(root: "/nonexistent/layout").verify() }
        #expect(error.code == .notFound)
        #expect(error.message.contains("/nonexistent/layout"))
    }
}
