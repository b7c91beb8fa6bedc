import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

@Suite("gc: exactly the unreachable, never the reachable")
struct GarbageCollectorTests {
    /// Named images, one reachable only through two levels of nested index, one named
    /// then unnamed (garbage), and a loose blob (garbage).
    struct Sample {
        let fixture: IntegrityLayout
        let kept = integrityImage(1)
        let nested = integrityImage(2, architecture: "arm64")
        let dropped: TestImage
        let orphan = Array("orphan blob".utf8)
        var indexes: [Descriptor] = []

        init() throws {
            fixture = try IntegrityLayout()
            // `dropped` shares a layer with `kept`: that layer must stay.
            dropped = TestImage.make(architecture: "ppc64le", layers: [kept.layers[0], pseudoRandomBytes(4000, seed: 77)])
            try fixture.name(try fixture.store(kept), "team/app:v1")
            let inner = try fixture.storeIndex([try fixture.store(nested)])
            let outer = try fixture.storeIndex([inner])
            indexes = [inner, outer]
            try fixture.name(outer, "team/app:multi")
            try fixture.name(try fixture.store(dropped), "team/app:old")
            _ = try fixture.layout.removeReference("team/app:old")
            try fixture.layout.blobs.write(orphan)
        }

        /// What must survive: everything the two remaining names reach.
        var reachable: Set<String> {
            Set((digests(of: kept).union(digests(of: nested)).union(indexes.map(\.digest))).map(\.hex))
        }

        /// What must go: the dropped image's own blobs and the orphan.
        var garbage: Set<String> {
            Set(digests(of: dropped).subtracting(digests(of: kept)).map(\.hex) + [ContentHasher.digest(of: orphan).hex])
        }

        func collect(grace: Double = 0, dryRun: Bool = false, later: Double = 0) throws -> GCReport {
            var collector = GarbageCollector(layout: fixture.layout, grace: grace, dryRun: dryRun)
            if later > 0 { collector.clock = { GarbageCollector.currentTime() + later } }
            return try collector.collect()
        }
    }

    @Test func removesExactlyTheUnreachableBlobsAndKeepsNestedOnes() throws {
        let sample = try Sample()
        #expect(sample.fixture.blobNames() == sample.reachable.union(sample.garbage))
        let report = try sample.collect()
        #expect(Set(report.removedBlobs.compactMap { $0.digest.map { String($0.dropFirst(7)) } }) == sample.garbage)
        #expect(sample.fixture.blobNames() == sample.reachable)
        #expect(report.reachableBlobs == sample.reachable.count)
        #expect(report.bytesFreed == report.removedBlobs.reduce(0) { $0 + $1.size })
        #expect(report.removedBlobs.map(\.path) == report.removedBlobs.map(\.path).sorted())
        #expect(try LayoutVerifier(root: sample.fixture.root).verify().clean)
        // A second run finds nothing more.
        #expect(try sample.collect().removedBlobs.isEmpty)
    }

    @Test func youngBlobsAreKeptUntilTheGracePeriodHasPassed() throws {
        let sample = try Sample()
        let young = try sample.collect(grace: 3600)
        #expect(young.removedBlobs.isEmpty)
        #expect(young.keptYoungBlobs == sample.garbage.count)
        #expect(sample.fixture.blobNames() == sample.reachable.union(sample.garbage))
        // Two hours later, the same blobs are stale.
        let later = try sample.collect(grace: 3600, later: 7200)
        #expect(later.removedBlobs.count == sample.garbage.count)
        #expect(later.keptYoungBlobs == 0)
        #expect(sample.fixture.blobNames() == sample.reachable)
    }

    @Test func aDryRunRemovesNothingButReportsTheSame() throws {
        let sample = try Sample()
        try makeStaleTemporaryFiles(sample.fixture.layout)
        let before = try LayoutSnapshot(sample.fixture.root)
        let dry = try sample.collect(dryRun: true)
        #expect(try LayoutSnapshot(sample.fixture.root) == before)
        #expect(dry.dryRun)
        let real = try sample.collect()
        #expect(!real.dryRun)
        #expect(dry.removedBlobs == real.removedBlobs)
        #expect(dry.removedTemporaryFiles == real.removedTemporaryFiles)
        #expect(dry.bytesFreed == real.bytesFreed)
    }

    func makeStaleTemporaryFiles(_ layout: Layout) throws {
        let tmp = layout.temporaryDirectory
        try FileManager.default.createDirectory(atPath: "\(tmp)/import-123-abc", withIntermediateDirectories: true)
        try integrityWrite("\(tmp)/import-123-abc/blob-123-def", String(repeating: "x", count: 1000))
        try integrityWrite("\(tmp)/blob-456-0a", String(repeating: "y", count: 10))
        try integrityWrite("\(tmp)/replace-789-1b", "{}")
    }

    @Test func staleTemporaryFilesGoOnceOlderThanTheGracePeriod() throws {
        let sample = try Sample()
        try makeStaleTemporaryFiles(sample.fixture.layout)
        let young = try sample.collect(grace: 600)
        #expect(young.removedTemporaryFiles.isEmpty)
        #expect(young.keptYoungTemporaryFiles == 3)
        let later = try sample.collect(grace: 600, later: 601)
        #expect(later.removedTemporaryFiles.map(\.path) == [
            ".stowage/tmp/blob-456-0a", ".stowage/tmp/import-123-abc", ".stowage/tmp/replace-789-1b",
        ])
        #expect(later.removedTemporaryFiles.map(\.size) == [10, 1000, 2])
        #expect(integrityListing(sample.fixture.layout.temporaryDirectory).isEmpty)
        // Lock files are not temporary files.
        #expect(FileManager.default.fileExists(atPath: "\(sample.fixture.layout.privateDirectory)/index.lock"))
    }

    @Test func nothingIsRemovedWhenAManifestIsMissing() throws {
        let sample = try Sample()
        try sample.fixture.remove(sample.nested.descriptor.digest)
        let before = sample.fixture.blobNames()
        let error = try #require(throws: StowageError.self) { _ = try sample.collect() }
        #expect(error.code == .invalidLayout)
        #expect(error.message.contains("gc removed nothing"))
        #expect(error.message.contains("manifest \(sample.nested.descriptor.digest)"))
        #expect(error.message.contains("team/app:multi"))
        #expect(sample.fixture.blobNames() == before)
    }

    @Test func nothingIsRemovedWhenAManifestIsCorrupt() throws {
        let sample = try Sample()
        try sample.fixture.flipByte(of: sample.kept.descriptor.digest, at: 3)
        let before = sample.fixture.blobNames()
        let error = try #require(throws: StowageError.self) { _ = try sample.collect() }
        #expect(error.message.contains("corrupt"))
        #expect(sample.fixture.blobNames() == before)
    }

    @Test func filesNotNamedByADigestAreLeftAlone() throws {
        let sample = try Sample()
        let stray = "\(sample.fixture.layout.blobs.directory)/not-a-digest"
        try integrityWrite(stray, "x")
        _ = try sample.collect()
        #expect(FileManager.default.fileExists(atPath: stray))
    }

    @Test func aNamedReferrerStaysButDoesNotKeepItsSubject() throws {
        let sample = try Sample()
        let subject = integrityImage(40)
        let subjectDescriptor = try sample.fixture.store(subject)
        let referrer = try sample.fixture.storeIndex([], subject: subjectDescriptor)
        try sample.fixture.name(referrer, "team/app:sig")
        // And a referrer whose subject is absent does not stop gc.
        try sample.fixture.name(try sample.fixture.storeIndex([], subject: integrityImage(41).descriptor), "team/app:sig2")
        _ = try sample.collect()
        #expect(sample.fixture.blobNames().isDisjoint(with: digests(of: subject).map(\.hex)))
        #expect(sample.fixture.blobNames().contains(referrer.digest.hex))
    }
}

@Suite("content graph")
struct ContentGraphTests {
    @Test func walksNestedIndexesAndNamesEachRootsEdges() throws {
        let fixture = try IntegrityLayout()
        let a = integrityImage(1)
        let b = integrityImage(2, architecture: "arm64")
        let aDescriptor = try fixture.store(a)
        let inner = try fixture.storeIndex([aDescriptor, try fixture.store(b)])
        let outer = try fixture.storeIndex([inner])
        try fixture.name(outer, "team/app:multi")
        try fixture.name(aDescriptor, "team/app:a")
        let graph = ContentGraph.walk(fixture.layout.blobs, roots: ReachabilityRoot.entries(of: try fixture.layout.readIndex()))
        #expect(graph.documentIssues.isEmpty)
        #expect(graph.reachable == digests(of: a).union(digests(of: b)).union([inner.digest, outer.digest]))
        let outerEdges = graph.edges.filter { $0.root == "team/app:multi" }
        #expect(outerEdges.map(\.role) == [.entry, .index, .manifest, .config, .layer, .layer, .manifest, .config, .layer, .layer])
        #expect(outerEdges[1].parent == outer.digest)
        #expect(outerEdges[2].parent == inner.digest)
        // A's blobs are listed again under its own name, so messages can name either.
        #expect(graph.edges.filter { $0.root == "team/app:a" }.count == 4)
        #expect(graph.edgesByDigest.first { $0.digest == a.layerDigests[0] }?.edges.map(\.root) == ["team/app:multi", "team/app:a"])
        #expect(outerEdges[4].summary == "layer \(a.layerDigests[0]) of manifest \(a.descriptor.digest) (reached from team/app:multi)")
    }

    @Test func unreadableDocumentsAreRecordedNotThrown() throws {
        let fixture = try IntegrityLayout()
        let a = integrityImage(1)
        try fixture.store(a)
        let (bogus, bogusSize) = try fixture.layout.blobs.write(Array("{\"schemaVersion\":2}".utf8))
        let roots = [
            ReachabilityRoot(label: "a", descriptor: a.descriptor),
            ReachabilityRoot(label: "bogus", descriptor: Descriptor(mediaType: .ociManifest, digest: bogus, size: bogusSize)),
            ReachabilityRoot(label: "gone", descriptor: integrityImage(3).descriptor),
        ]
        try fixture.flipByte(of: a.descriptor.digest)
        let graph = ContentGraph.walk(fixture.layout.blobs, roots: roots)
        guard case .corrupt? = graph.documentIssues[a.descriptor.digest] else {
            Issue.record("corrupt manifest not recorded: \(graph.documentIssues)")
            return
        }
        guard case .invalid? = graph.documentIssues[bogus] else {
            Issue.record("invalid manifest not recorded")
            return
        }
        #expect(graph.documentIssues[integrityImage(3).descriptor.digest] == .missing)
        #expect(graph.edges.count == 3, "children of unreadable documents stay unknown")
        #expect(graph.blockingIssues.count == 3)
    }
}

@Suite("grace periods")
struct GracePeriodTests {
    @Test(arguments: [
        ("0", 0.0), ("90", 90), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172_800),
        ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5), (" 5m ", 300),
    ])
    func parses(_ text: String, _ seconds: Double) throws {
        #expect(try GracePeriod.parse(text) == seconds)
    }

    @Test(arguments: ["", "h", "-1", "-5m", "1x", "ten minutes", "5m-", "1h 30m", "nan", "inf"])
    func refuses(_ text: String) throws {
        let error = try #require(throws: StowageError.self) { _ = try GracePeriod.parse(text) }
        #expect(error.code == .usage)
        #expect(error.message.contains("invalid duration"))
    }

    @Test func formats() {
        #expect(GracePeriod.format(3600) == "1h")
        #expect(GracePeriod.format(5400) == "1h30m")
        #expect(GracePeriod.format(0) == "0s")
        #expect(GracePeriod.format(45) == "45s")
        #expect(GracePeriod.format(0.25) == "250ms")
    }
}

@Suite("gc and verify never pass over a document they cannot walk")
struct UnwalkableDocumentTests {
    @Test func gcRefusesAndVerifyReportsADocumentOfAnUnknownMediaType() throws {
        let fixture = try IntegrityLayout()
        // Opaque bytes listed as an entry reference nothing: no reason to refuse.
        let (opaque, opaqueSize) = try fixture.layout.blobs.write(Array("just bytes".utf8))
        try fixture.name(Descriptor(mediaType: "application/x-tar", digest: opaque, size: opaqueSize), "team/blob:1")
        #expect(try GarbageCollector(layout: fixture.layout, grace: 0).collect().removedBlobs.isEmpty)
        #expect(try LayoutVerifier(root: fixture.root).verify().clean)

        let layer = pseudoRandomBytes(100, seed: 9)
        let (layerDigest, _) = try fixture.layout.blobs.write(layer)
        let mediaType: MediaType = "application/vnd.example.bundle.v1+json"
        let bytes = Array(#"{"schemaVersion":2,"mediaType":"\#(mediaType)","layers":[{"mediaType":"application/octet-stream","digest":"\#(layerDigest)","size":100}]}"#.utf8)
        let (digest, size) = try fixture.layout.blobs.write(bytes)
        try fixture.name(Descriptor(mediaType: mediaType, digest: digest, size: size), "team/bundle:1")
        let before = fixture.blobNames()

        let error = try #require(throws: StowageError.self) { try GarbageCollector(layout: fixture.layout, grace: 0).collect() }
        #expect(error.message.contains("gc removed nothing"))
        #expect(error.message.contains(digest.string))
        #expect(error.message.contains(mediaType.rawValue))
        #expect(fixture.blobNames() == before)

        let report = try LayoutVerifier(root: fixture.root).verify()
        #expect(!report.clean)
        let problem = try #require(report.problems.first { $0.blob == digest.string })
        #expect(problem.kind == .invalidDocument)
        #expect(problem.message.contains("cannot walk"))
    }
}
