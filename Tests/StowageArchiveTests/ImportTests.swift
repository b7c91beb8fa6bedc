import Foundation
import StowageArchive
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

@Suite struct ImportTests {
    let directory = TemporaryDirectory()

    func makeLayout() throws -> Layout { try Layout.create(directory.child("layout")) }

    func write(_ builder: ArchiveBuilder, _ name: String, compression: TarWriter.Compression = .none) throws -> String {
        let path = directory.child(name)
        try builder.write(to: path, compression: compression)
        return path
    }

    @Test(arguments: Fixtures.perArchitecture)
    func buildahArchivesImportUnnamedWithTheirPlatform(_ fixture: (file: String, platform: String)) throws {
        let layout = try makeLayout()
        let report = try ArchiveImporter(layout: layout).importArchive(Fixtures.path(fixture.file))
        #expect(report.format == "oci-archive")
        let image = try #require(report.images.first)
        #expect(report.images.count == 1)
        #expect(image.references.isEmpty)
        #expect(image.platforms == [fixture.platform])
        let index = try layout.readIndex()
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].refName == nil)
        #expect(index.manifests[0].digest.string == image.digest)
        #expect(index.manifests[0].platform?.description == fixture.platform)
    }

    @Test func unnamedImageAppearsOnceAndDisappearsWhenNamed() throws {
        let layout = try makeLayout()
        let importer = ArchiveImporter(layout: layout)
        for _ in 0..<3 { try importer.importArchive(Fixtures.path("x86_64.tar")) }
        try importer.importArchive(Fixtures.path("x86_64.tar.gz"))
        #expect(try layout.readIndex().manifests.count == 1)
        // named.tar is the same image with a name: the unnamed entry gives way.
        try importer.importArchive(Fixtures.path("named.tar"))
        let entries = try layout.readIndex().manifests
        #expect(entries.count == 1)
        #expect(entries[0].refName == "team/app:v1.0.0")
    }

    @Test func namesComeFromRefNameOrContainerdName() throws {
        let layout = try makeLayout()
        let a = TestImage.make(layers: [pseudoRandomBytes(100, seed: 1)])
        let b = TestImage.make(architecture: "arm64", layers: [pseudoRandomBytes(100, seed: 2)])
        let c = TestImage.make(architecture: "s390x", layers: [pseudoRandomBytes(100, seed: 3)])
        var builder = ArchiveBuilder.ociArchive([(a, "team/a:v1"), (b, "v2"), (c, "latest")])
        // Newer docker save: a tag-only ref.name next to the full containerd name.
        var index = try JSONCoding.decode(Index.self, from: builder.entries.first { $0.path == "index.json" }.map {
            guard case .file(_, let bytes) = $0 else { fatalError() }
            return bytes
        }!, what: "test")
        index.manifests[2].annotations?[Descriptor.containerdNameAnnotation] = "docker.io/library/c:latest"
        builder.replace("index.json", with: try JSONCoding.encode(index))
        let report = try ArchiveImporter(layout: layout).importArchive(try write(builder, "multi-image.tar"))
        #expect(report.images.map(\.references) == [["team/a:v1"], ["v2"], ["docker.io/library/c:latest"]])
        let names = Set(try layout.readIndex().manifests.compactMap(\.refName))
        #expect(names == ["team/a:v1", "v2", "docker.io/library/c:latest"])
        // The containerd annotation is not copied: the name is in ref.name now.
        #expect(try layout.readIndex().manifests.allSatisfy { $0.annotations?[Descriptor.containerdNameAnnotation] == nil })
    }

    @Test func tagNamesTheSingleImageAndMovesAnExistingName() throws {
        let layout = try makeLayout()
        let importer = ArchiveImporter(layout: layout)
        try importer.importArchive(Fixtures.path("x86_64.tar"), tag: RefName(userInput: "team/app:v1"))
        try importer.importArchive(Fixtures.path("aarch64.tar"), tag: RefName(userInput: "team/app:v1"))
        let entries = try layout.readIndex().manifests
        // Like a moved docker tag: the amd64 image loses its only name; its blobs stay until gc.
        #expect(entries.map(\.refName) == ["team/app:v1"])
        #expect(entries.map(\.platform?.architecture) == ["arm64"])
        #expect(try layout.blobs.contains(Digest("sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c")))
    }

    @Test func tagIsRefusedForAMultiImageArchive() throws {
        let layout = try makeLayout()
        let a = TestImage.make(layers: [[1]])
        let b = TestImage.make(architecture: "arm64", layers: [[2]])
        let archive = try write(.ociArchive([(a, nil), (b, nil)]), "two.tar")
        let before = try LayoutSnapshot(layout.root)
        let error = try #require(throws: StowageError.self) {
            try ArchiveImporter(layout: layout).importArchive(archive, tag: RefName(userInput: "team/x:1"))
        }
        #expect(error.code == .usage)
        #expect(error.message.contains("2 images"))
        #expect(try LayoutSnapshot(layout.root) == before)
    }

    @Test func multiPlatformArchiveImportsTheIndexWithItsChildren() throws {
        let layout = try makeLayout()
        let report = try ArchiveImporter(layout: layout).importArchive(Fixtures.path("multi.tar"))
        let image = try #require(report.images.first)
        #expect(image.references == ["team/app:multi"])
        #expect(image.mediaType == MediaType.ociIndex.rawValue)
        #expect(image.platforms == ["linux/amd64", "linux/arm64/v8", "linux/ppc64le"])
        let index = try JSONCoding.decode(
            Index.self, from: layout.blobs.readDocument(Digest(image.digest)), what: "index")
        for child in index.manifests {
            #expect(try layout.blobs.contains(child.digest))
        }
    }

    @Test func reimportSkipsKnownBlobsWithoutReadingThem() throws {
        let layout = try makeLayout()
        let big = pseudoRandomBytes(8 << 20, seed: 11)
        let image = TestImage.make(layers: [big, pseudoRandomBytes(1000, seed: 12)])
        let archive = try write(.ociArchive(image, refName: "team/big:1"), "big.tar")
        let importer = ArchiveImporter(layout: layout)
        let first = try importer.importArchive(archive)
        #expect(first.blobsAdded == 4)
        #expect(first.bytesRead >= Int64(big.count))
        let blobsAfterFirst = try LayoutSnapshot(layout.root).blobNames

        let second = try importer.importArchive(archive)
        #expect(second.blobsAdded == 0)
        #expect(second.bytesSkipped >= Int64(big.count))
        #expect(second.bytesRead < Int64(big.count) / 4, "the 8 MiB layer was seeked over, not read: \(second.bytesRead)")
        #expect(try LayoutSnapshot(layout.root).blobNames == blobsAfterFirst)

        // A second version sharing the big layer reads only what is new.
        let v2 = TestImage.make(layers: [big, pseudoRandomBytes(1000, seed: 13)])
        let third = try importer.importArchive(try write(.ociArchive(v2, refName: "team/big:2"), "big2.tar"))
        #expect(third.blobsAdded == 3)
        #expect(third.bytesRead < Int64(big.count) / 4)
        #expect(try LayoutSnapshot(layout.root).blobNames.count == blobsAfterFirst.count + 3)
    }

    @Test(arguments: [TarWriter.Compression.gzip, .zstd])
    func compressedArchivesGiveTheSameImage(_ compression: TarWriter.Compression) throws {
        let layout = try makeLayout()
        let image = TestImage.make(layers: [pseudoRandomBytes(50_000, seed: 4)])
        let report = try ArchiveImporter(layout: layout).importArchive(
            try write(.ociArchive(image, refName: "team/c:1"), "c.tar.\(compression)", compression: compression))
        #expect(report.images.map(\.digest) == [image.descriptor.digest.string])
        #expect(try layout.blobs.readDocument(image.descriptor.digest) == image.manifest)
    }

    @Test func blobsTheIndexDoesNotReachAreNotKept() throws {
        let layout = try makeLayout()
        let image = TestImage.make(layers: [[1, 2, 3]])
        var builder = ArchiveBuilder.ociArchive(image)
        let stray = pseudoRandomBytes(500, seed: 77)
        builder.addBlob(stray)
        try ArchiveImporter(layout: layout).importArchive(try write(builder, "stray.tar"))
        #expect(try !layout.blobs.contains(ContentHasher.digest(of: stray)))
        #expect(try layout.blobs.contains(image.descriptor.digest))
    }

    @Test func missingBlobsAlreadyInTheLayoutAreAccepted() throws {
        let layout = try makeLayout()
        let shared = pseudoRandomBytes(3000, seed: 8)
        let first = TestImage.make(layers: [shared])
        try ArchiveImporter(layout: layout).importArchive(try write(.ociArchive(first), "first.tar"))
        // A thin archive that leaves out a layer the layout already holds.
        let second = TestImage.make(architecture: "arm64", layers: [shared])
        var builder = ArchiveBuilder.ociArchive(second, refName: "team/thin:1")
        builder.remove("blobs/sha256/\(ContentHasher.digest(of: shared).hex)")
        let report = try ArchiveImporter(layout: layout).importArchive(try write(builder, "thin.tar"))
        #expect(report.images.map(\.references) == [["team/thin:1"]])
    }

    @Test func nonDistributableLayersWithURLsMayBeAbsent() throws {
        let layout = try makeLayout()
        let config = Array(#"{"architecture":"amd64","os":"windows"}"#.utf8)
        var foreign = Descriptor(mediaType: .dockerForeignLayer, digest: ContentHasher.digest(of: [9, 9]), size: 2)
        foreign.urls = ["https://example.invalid/layer"]
        let manifest = Manifest(
            mediaType: .dockerManifest,
            config: Descriptor(mediaType: .dockerConfig, digest: ContentHasher.digest(of: config), size: Int64(config.count)),
            layers: [foreign])
        let manifestBytes = try JSONCoding.encode(manifest)
        var builder = ArchiveBuilder(entries: [
            .file("blobs/sha256/\(ContentHasher.digest(of: config).hex)", config),
            .file("blobs/sha256/\(ContentHasher.digest(of: manifestBytes).hex)", manifestBytes),
            .file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
        ])
        let entry = Descriptor(mediaType: .dockerManifest, digest: ContentHasher.digest(of: manifestBytes), size: Int64(manifestBytes.count))
        builder.entries.append(.file("index.json", try JSONCoding.encode(Index(manifests: [entry]))))
        let report = try ArchiveImporter(layout: layout).importArchive(try write(builder, "foreign.tar"))
        #expect(report.images.first?.platforms == ["windows/amd64"])
    }

    // MARK: docker-archive

    @Test func buildahDockerArchiveKeepsConfigBytesAndNames() throws {
        let layout = try makeLayout()
        let report = try ArchiveImporter(layout: layout).importArchive(Fixtures.path("docker.tar"))
        #expect(report.format == "docker-archive")
        let image = try #require(report.images.first)
        #expect(image.references == ["docker.io/team/app:docker", "localhost/stowage/x86_64:v1"])
        #expect(image.platforms == ["linux/amd64"])
        let manifest = try JSONCoding.decode(
            Manifest.self, from: layout.blobs.readDocument(Digest(image.digest)), what: "manifest")
        #expect(manifest.mediaType == .ociManifest)
        #expect(manifest.config.mediaType == .ociConfig)
        // The config file is named by its own digest in the archive: the image ID is unchanged.
        #expect(manifest.config.digest.hex == "1f0a633099c1dfba80535e8883bb5b7c9f5cb27a7cef944cf37f4ef6d1224b66")
        #expect(manifest.layers.map(\.mediaType) == [.ociLayer, .ociLayer])
        #expect(manifest.layers.map(\.digest.hex) == [
            "b157e96c14eeea92b33fab8a385d39be1c6563164da1600ee74ef2a2e37c86b6",
            "484af6c5e158adee403617f07a67a108b092189866009ad0803c6b8f424e24fc",
        ])
    }

    @Test func dockerArchiveLayersKeepTheirCompression() throws {
        let layout = try makeLayout()
        let config = Array(#"{"architecture":"arm64","os":"linux","variant":"v8"}"#.utf8)
        let gzipLayer: [UInt8] = [0x1f, 0x8b, 8, 0] + pseudoRandomBytes(100, seed: 1)
        let zstdLayer: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd] + pseudoRandomBytes(100, seed: 2)
        let manifestJSON = #"[{"Config":"cfg.json","RepoTags":["team/d"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#
        let archive = try write(ArchiveBuilder(entries: [
            .file("cfg.json", config), .file("l1/layer.tar", gzipLayer), .file("l2/layer.tar", zstdLayer),
            .file("manifest.json", Array(manifestJSON.utf8)),
        ]), "docker-compressed.tar")
        let report = try ArchiveImporter(layout: layout).importArchive(archive)
        let image = try #require(report.images.first)
        #expect(image.references == ["team/d:latest"])
        #expect(image.platforms == ["linux/arm64/v8"])
        let manifest = try JSONCoding.decode(
            Manifest.self, from: layout.blobs.readDocument(Digest(image.digest)), what: "manifest")
        #expect(manifest.layers.map(\.mediaType) == [.ociLayerGzip, .ociLayerZstd])
        #expect(manifest.config.digest == ContentHasher.digest(of: config))
        // Importing again gives the same manifest digest: the generated manifest is deterministic.
        let again = try ArchiveImporter(layout: layout).importArchive(archive)
        #expect(again.images.first?.digest == image.digest)
        #expect(again.blobsAdded == 0)
    }

    @Test func newerDockerSaveWithAnOCIIndexUsesTheContainerdName() throws {
        let layout = try makeLayout()
        let image = TestImage.make(layers: [pseudoRandomBytes(300, seed: 6)])
        var builder = ArchiveBuilder.ociArchive(image, refName: "latest")
        var entry = image.descriptor
        entry.annotations = [Descriptor.refNameAnnotation: "latest", Descriptor.containerdNameAnnotation: "docker.io/library/web:latest"]
        builder.replace("index.json", with: try JSONCoding.encode(Index(manifests: [entry])))
        let configPath = "blobs/sha256/\(ContentHasher.digest(of: image.config).hex)"
        let layers = image.layers.map { "\"blobs/sha256/\(ContentHasher.digest(of: $0).hex)\"" }.joined(separator: ",")
        builder.entries.append(.file("manifest.json", Array(#"[{"Config":"\#(configPath)","RepoTags":["web:latest"],"Layers":[\#(layers)]}]"#.utf8)))
        let report = try ArchiveImporter(layout: layout).importArchive(try write(builder, "docker25.tar"))
        #expect(report.format == "oci-archive")
        #expect(report.images.map(\.references) == [["docker.io/library/web:latest"]])
        #expect(report.images.map(\.digest) == [image.descriptor.digest.string])
    }

    @Test("an archive whose index.json is larger than 16 MiB imports, as a layout's own may be")
    func aLargeArchiveIndexImports() throws {
        let image = TestImage.make(layers: [pseudoRandomBytes(1000, seed: 81)])
        var builder = ArchiveBuilder.ociArchive(image)
        // 60,000 names for one image, each with an annotation: an index.json of about 18 MB.
        let padding = String(repeating: "x", count: 200)
        let entries = (0..<60_000).map { i in
            var descriptor = image.descriptor
            descriptor.annotations = [Descriptor.refNameAnnotation: "team/repo\(i % 2000)/app:v\(i)", "org.example.note": padding]
            return descriptor
        }
        let index = try JSONCoding.encode(Index(manifests: entries))
        #expect(index.count > 16 << 20)
        builder.replace("index.json", with: index)
        let archive = try write(builder, "large-index.tar")
        let layout = try makeLayout()
        let report = try ArchiveImporter(layout: layout).importArchive(archive)
        #expect(report.images.count == 60_000)
        let names = try layout.readIndex().manifests.compactMap(\.refName)
        #expect(names.count == 60_000)
        #expect(names.last == "team/repo1999/app:v59999")
    }
}

@Suite("import of several archives in one call")
struct ImportManyTests {
    let directory = TemporaryDirectory()

    /// Three single-image archives sharing a base layer of 3 MiB (copied on two threads),
    /// each with a layer of its own; the last two give the same name.
    func threeArchives() throws -> (paths: [String], images: [TestImage]) {
        let base = pseudoRandomBytes(3 << 20, seed: 90)
        let images = ["amd64", "arm64", "s390x"].enumerated().map { position, architecture in
            TestImage.make(architecture: architecture, layers: [base, pseudoRandomBytes(200_000 + position, seed: 91 + UInt64(position))])
        }
        let names = ["team/a:v1", "team/b:v1", "team/b:v1"]
        var paths: [String] = []
        for (position, image) in images.enumerated() {
            let path = directory.child("image-\(position).tar")
            try ArchiveBuilder.ociArchive(image, refName: names[position]).write(to: path)
            paths.append(path)
        }
        return (paths, images)
    }

    func names(in path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    @Test func manyArchivesAtOnceGiveWhatOneCallEachGives() throws {
        let (paths, images) = try threeArchives()
        let together = try Layout.create(directory.child("together"))
        let results = try ArchiveImporter(layout: together).importArchives(paths, width: 3)
        let reports = try results.map { try $0.get() }
        #expect(reports.map(\.archive) == paths)
        #expect(reports.map { $0.images.map(\.digest) } == images.map { [$0.descriptor.digest.string] })

        let oneByOne = try Layout.create(directory.child("one-by-one"))
        for path in paths { try ArchiveImporter(layout: oneByOne).importArchive(path) }
        #expect(try together.readIndex() == oneByOne.readIndex(), "same entries, same order; the shared name on the last archive")
        #expect(try together.readIndex().manifests.map(\.refName) == ["team/a:v1", "team/b:v1"])
        #expect(try names(in: together.blobs.directory) == names(in: oneByOne.blobs.directory))
        // The shared base is in the layout once, counted added once in all.
        let added: Int = reports.map(\.blobsAdded).reduce(0, +)
        let skipped: Int = reports.map(\.blobsSkipped).reduce(0, +)
        #expect(added == 10, "3 configs, 3 own layers, 3 manifests and the base")
        #expect(skipped == 2, "the base, twice")
        #expect(try LayoutVerifier(root: together.root).verify().clean)
        #expect(try names(in: "\(together.root)/.stowage/tmp").isEmpty, "no staging left")
    }

    @Test func aFailingArchiveLeavesTheOthersImported() throws {
        let (paths, _) = try threeArchives()
        let broken = directory.child("broken.tar")
        try Data("not an archive at all".utf8).write(to: URL(fileURLWithPath: broken))
        let layout = try Layout.create(directory.child("layout"))
        let results = try ArchiveImporter(layout: layout).importArchives([paths[0], broken, paths[1]])
        #expect(results.count == 3)
        #expect((try? results[0].get())?.archive == paths[0])
        #expect((try? results[2].get())?.archive == paths[1])
        guard case .failure(let error) = results[1] else {
            Issue.record("the broken archive was imported")
            return
        }
        #expect(error.message.contains("broken.tar"))
        #expect(try layout.readIndex().manifests.compactMap(\.refName) == ["team/a:v1", "team/b:v1"])
        #expect(try LayoutVerifier(root: layout.root).verify().clean)
    }
}
