import Foundation
import StowageArchive
import StowageCopy
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

@Suite struct IndexBuilderTests {
    let directory = TemporaryDirectory()

    func makeLayout(_ name: String = "layout") throws -> Layout { try Layout.create(directory.child(name)) }

    func request(_ tags: [String], _ sources: [String]) throws -> IndexRequest {
        IndexRequest(tags: try tags.map { try RefName(userInput: $0) }, sources: sources)
    }

    func fixtures(_ names: String...) -> [String] { names.map(Fixtures.path) }

    func storedIndex(_ layout: Layout, _ digest: String) throws -> Index {
        try JSONCoding.decode(Index.self, from: layout.blobs.readDocument(Digest(digest)), what: "index")
    }

    @Test func buildsTheMergeStepFromBuildahArchives() throws {
        let layout = try makeLayout()
        let archives = Fixtures.perArchitecture.map { Fixtures.path($0.file) }
        let report = try IndexBuilder(layout: layout).create(request(["team/app:v1.0.0", "team/app:latest"], archives))
        #expect(report.entries.map(\.platform) == Fixtures.perArchitecture.map(\.platform))
        #expect(report.imports.count == 5)
        let index = try storedIndex(layout, report.digest)
        #expect(index.mediaType == .ociIndex)
        #expect(index.annotations == nil)
        for (entry, imported) in zip(index.manifests, report.imports) {
            let image = try #require(imported.images.first)
            #expect(entry.digest.string == image.digest)
            #expect(entry.size == image.size)
            #expect(entry.mediaType == .ociManifest)
            #expect(entry.annotations == nil, "no ref.name leaks into the index")
            #expect(try layout.blobs.readDocument(entry.digest).count == Int(entry.size))
        }
        let names = try layout.readIndex().manifests
        #expect(names.map(\.refName) == ["team/app:v1.0.0", "team/app:latest"], "the per-arch images need no entries of their own")
        #expect(Set(names.map(\.digest.string)) == [report.digest])
    }

    @Test func sameInputsGiveTheSameDigest() throws {
        let archives = fixtures("x86_64.tar", "aarch64.tar", "s390x.tar")
        let first = try IndexBuilder(layout: makeLayout("a")).create(request(["team/app:1"], archives))
        let second = try IndexBuilder(layout: makeLayout("b")).create(request(["other/name:2"], archives))
        #expect(first.digest == second.digest)
        let layout = try Layout.open(directory.child("a"))
        let again = try IndexBuilder(layout: layout).create(request(["team/app:again"], ["team/app:1"]))
        #expect(again.digest == first.digest, "an index source flattened gives back the same index")
    }

    @Test func noSourceOrNoTagIsAnError() throws {
        let layout = try makeLayout()
        let noSource = try #require(throws: StowageError.self) { try IndexBuilder(layout: layout).create(request(["team/app:1"], [])) }
        #expect(noSource.code == .usage)
        let noTag = try #require(throws: StowageError.self) { try IndexBuilder(layout: layout).create(request([], fixtures("x86_64.tar"))) }
        #expect(noTag.code == .usage)
        let unknown = try #require(throws: StowageError.self) { try IndexBuilder(layout: layout).create(request(["team/app:1"], ["team/nothing:here"])) }
        #expect(unknown.message.contains("team/nothing:here"))
    }

    @Test func duplicateSourcesAndDigestsAreSkipped() throws {
        let layout = try makeLayout()
        // named.tar holds the very image of x86_64.tar.
        let report = try IndexBuilder(layout: layout).create(
            request(["team/app:1"], fixtures("x86_64.tar", "aarch64.tar", "x86_64.tar", "named.tar")))
        #expect(report.entries.map(\.source) == fixtures("x86_64.tar", "aarch64.tar"))
        #expect(report.skipped.map(\.reason) == ["duplicate source", "same image as \(Fixtures.path("x86_64.tar"))"])
        // Digest sources count as the same image too.
        let byDigest = try IndexBuilder(layout: layout).create(request(["team/app:2"], [
            "team/app:v1.0.0", "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c",
        ]))
        #expect(byDigest.entries.count == 1)
        #expect(byDigest.skipped.count == 1)
    }

    @Test func allDuplicatesButOneLeavesOneEntry() throws {
        let layout = try makeLayout()
        let report = try IndexBuilder(layout: layout).create(
            request(["team/app:1"], fixtures("x86_64.tar", "x86_64.tar.gz", "named.tar", "x86_64.tar")))
        #expect(report.entries.count == 1)
        #expect(report.skipped.count == 3)
    }

    @Test func platformConflictFailsUnlessReplace() throws {
        let layout = try makeLayout()
        let sources = fixtures("x86_64.tar", "aarch64.tar", "v2-x86_64.tar")
        let error = try #require(throws: StowageError.self) { try IndexBuilder(layout: layout).create(request(["team/app:1"], sources)) }
        #expect(error.code == .conflict)
        #expect(error.message.contains("x86_64.tar") && error.message.contains("v2-x86_64.tar") && error.message.contains("linux/amd64"))
        #expect(try layout.readIndex().manifests.allSatisfy { $0.refName == nil }, "no name was written")
        var replacing = try request(["team/app:1"], sources)
        replacing.replace = true
        let report = try IndexBuilder(layout: layout).create(replacing)
        #expect(report.entries.map(\.source) == fixtures("aarch64.tar", "v2-x86_64.tar"))
        #expect(report.removed.map(\.source) == fixtures("x86_64.tar"))
    }

    @Test func indexSourcesAreFlattenedWithTheirPlatforms() throws {
        let layout = try makeLayout()
        let report = try IndexBuilder(layout: layout).create(request(["team/app:all"], fixtures("multi.tar", "s390x.tar", "armv7l.tar")))
        #expect(report.entries.map(\.platform) == ["linux/amd64", "linux/arm64/v8", "linux/ppc64le", "linux/s390x", "linux/arm/v7"])
        let index = try storedIndex(layout, report.digest)
        #expect(!index.manifests.contains { $0.mediaType.isIndex })
    }

    @Test func attestationEntriesAreKeptAndStillPointAtTheirImage() throws {
        let layout = try makeLayout()
        // A BuildKit-style index: an image and its attestation manifest.
        let image = TestImage.make(layers: [pseudoRandomBytes(500, seed: 1)])
        let statement = Array(#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.utf8)
        let attestation = TestImage.make(config: Array("{}".utf8), layers: [statement])
        var attestationEntry = attestation.descriptor
        attestationEntry.platform = Platform(os: "unknown", architecture: "unknown")
        attestationEntry.annotations = [
            "vnd.docker.reference.digest": image.descriptor.digest.string, "vnd.docker.reference.type": "attestation-manifest",
        ]
        var imageEntry = image.descriptor
        imageEntry.platform = Platform(os: "linux", architecture: "amd64")
        let buildkitIndex = try JSONCoding.encode(Index(manifests: [imageEntry, attestationEntry]))
        var builder = ArchiveBuilder.ociArchive([(image, nil), (attestation, nil)])
        builder.addBlob(buildkitIndex)
        let indexEntry = Descriptor(
            mediaType: .ociIndex, digest: ContentHasher.digest(of: buildkitIndex), size: Int64(buildkitIndex.count),
            annotations: [Descriptor.refNameAnnotation: "team/buildkit:1"])
        builder.replace("index.json", with: try JSONCoding.encode(Index(manifests: [indexEntry])))
        let archive = directory.child("buildkit.tar")
        try builder.write(to: archive)

        let report = try IndexBuilder(layout: layout).create(request(["team/app:1"], [archive] + fixtures("aarch64.tar")))
        let index = try storedIndex(layout, report.digest)
        #expect(index.manifests.count == 3)
        #expect(index.manifests[1] == attestationEntry, "the attestation entry is kept as it was")
        #expect(index.manifests[1].annotations?["vnd.docker.reference.digest"] == index.manifests[0].digest.string)

        // Replacing the amd64 image drops the attestation that described it.
        var replacing = try request(["team/app:2"], [archive, Fixtures.path("x86_64.tar")])
        replacing.replace = true
        let replaced = try IndexBuilder(layout: layout).create(replacing)
        #expect(try storedIndex(layout, replaced.digest).manifests.map(\.platform?.description) == ["linux/amd64"])
    }

    /// A Docker schema 2 image, as `docker push` stores it.
    func dockerImage(_ arch: String, seed: UInt64) throws -> String {
        let config = Array(#"{"architecture":"\#(arch)","os":"linux"}"#.utf8)
        let layer = [0x1f, 0x8b] + pseudoRandomBytes(300, seed: seed)
        let manifest = try JSONCoding.encode(Manifest(
            mediaType: .dockerManifest,
            config: Descriptor(mediaType: .dockerConfig, digest: ContentHasher.digest(of: config), size: Int64(config.count)),
            layers: [Descriptor(mediaType: .dockerLayerGzip, digest: ContentHasher.digest(of: layer), size: Int64(layer.count))]))
        let entry = Descriptor(mediaType: .dockerManifest, digest: ContentHasher.digest(of: manifest), size: Int64(manifest.count))
        var builder = ArchiveBuilder(entries: [.file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))])
        for blob in [config, layer, manifest] { builder.addBlob(blob) }
        builder.entries.append(.file("index.json", try JSONCoding.encode(Index(manifests: [entry]))))
        let path = directory.child("docker-\(arch).tar")
        try builder.write(to: path)
        return path
    }

    @Test func formatFollowsTheChildrenAndMixedNeedsAChoice() throws {
        let layout = try makeLayout()
        let dockerSources = [try dockerImage("amd64", seed: 1), try dockerImage("arm64", seed: 2)]
        let docker = try IndexBuilder(layout: layout).create(request(["team/docker:1"], dockerSources))
        #expect(docker.mediaType == MediaType.dockerManifestList.rawValue)
        #expect(try storedIndex(layout, docker.digest).mediaType == .dockerManifestList)

        let mixed = dockerSources + fixtures("s390x.tar")
        let error = try #require(throws: StowageError.self) { try IndexBuilder(layout: layout).create(request(["team/mixed:1"], mixed)) }
        #expect(error.message.contains("--format"))
        var explicit = try request(["team/mixed:1"], mixed)
        explicit.format = .oci
        let oci = try IndexBuilder(layout: layout).create(explicit)
        let index = try storedIndex(layout, oci.digest)
        #expect(index.mediaType == .ociIndex)
        #expect(index.manifests.map(\.mediaType) == [.dockerManifest, .dockerManifest, .ociManifest], "children keep their types and bytes")

        var annotated = try request(["team/docker:2"], dockerSources)
        annotated.annotations = ["org.opencontainers.image.version": "1"]
        #expect(throws: StowageError.self) { try IndexBuilder(layout: layout).create(annotated) }
    }

    @Test func annotationsAndPlatformOverrides() throws {
        let layout = try makeLayout()
        let noVariant = TestImage.make(architecture: "arm", layers: [[1, 2, 3]])
        let archive = directory.child("armhf.tar")
        try ArchiveBuilder.ociArchive(noVariant).write(to: archive)
        var request = try request(["team/app:1"], [archive] + fixtures("x86_64.tar"))
        request.annotations = ["org.opencontainers.image.version": "1.0.0"]
        request.platformOverrides = [archive: try Platform(parsing: "linux/arm/v6")]
        let report = try IndexBuilder(layout: layout).create(request)
        let index = try storedIndex(layout, report.digest)
        #expect(index.annotations == ["org.opencontainers.image.version": "1.0.0"])
        #expect(index.manifests.map(\.platform?.description) == ["linux/arm/v6", "linux/amd64"])
    }

    @Test func sourcesFromDifferentRegistriesGiveAWarning() throws {
        let layout = try makeLayout()
        let importer = ArchiveImporter(layout: layout)
        try importer.importArchive(Fixtures.path("x86_64.tar"), tag: RefName(userInput: "registry-a.example.com/app:1"))
        try importer.importArchive(Fixtures.path("aarch64.tar"), tag: RefName(userInput: "registry-b.example.com:5000/app:1"))
        let report = try IndexBuilder(layout: layout).create(
            request(["team/app:1"], ["registry-a.example.com/app:1", "registry-b.example.com:5000/app:1"]))
        #expect(report.entries.count == 2)
        #expect(report.warnings.count == 1)
        #expect(report.warnings.first?.contains("registry-a.example.com") == true)
    }

    @Test func addAndRemoveKeepTheOtherEntriesUnchanged() throws {
        let layout = try makeLayout()
        let builder = IndexBuilder(layout: layout)
        let created = try builder.create(request(["team/app:1", "team/app:latest"], fixtures("x86_64.tar", "aarch64.tar", "ppc64le.tar")))
        let original = try storedIndex(layout, created.digest)

        let added = try builder.add(request(["team/app:1"], fixtures("s390x.tar", "v2-x86_64.tar")))
        let amended = try storedIndex(layout, added.digest)
        #expect(Array(amended.manifests[0..<2]) == Array(original.manifests[1..<3]), "arm64 and ppc64le entries untouched")
        #expect(amended.manifests.map(\.platform?.description) == ["linux/arm64/v8", "linux/ppc64le", "linux/s390x", "linux/amd64"])
        #expect(try layout.resolve("team/app:1").digest.string == added.digest)
        #expect(try layout.resolve("team/app:latest").digest.string == created.digest, "only the named tags move")
        #expect(try layout.blobs.contains(Digest(created.digest)), "the old index stays until gc")

        let removed = try builder.remove(tags: [RefName(userInput: "team/app:1")], platform: Platform(parsing: "linux/ppc64le"))
        let smaller = try storedIndex(layout, removed.digest)
        #expect(smaller.manifests == amended.manifests.filter { $0.platform?.architecture != "ppc64le" })

        let missing = try #require(throws: StowageError.self) {
            try builder.remove(tags: [RefName(userInput: "team/app:1")], platform: Platform(parsing: "windows/amd64"))
        }
        #expect(missing.message.contains("linux/s390x"), "the error lists what the index has")
        try ArchiveImporter(layout: layout).importArchive(Fixtures.path("named.tar"))
        let notIndex = try #require(throws: StowageError.self) {
            try builder.add(request(["team/app:v1.0.0"], fixtures("s390x.tar")))
        }
        #expect(notIndex.message.contains("not an index"))
    }

    @Test func removingTheLastPlatformIsRefused() throws {
        let layout = try makeLayout()
        let builder = IndexBuilder(layout: layout)
        _ = try builder.create(request(["team/app:1"], fixtures("x86_64.tar")))
        #expect(throws: StowageError.self) {
            try builder.remove(tags: [RefName(userInput: "team/app:1")], platform: Platform(parsing: "linux/amd64"))
        }
    }
}
