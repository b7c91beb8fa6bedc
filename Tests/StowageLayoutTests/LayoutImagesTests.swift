import Foundation
import StowageLayout
import StowageModel
import Testing

@Suite("Layout index updates and images")
struct LayoutImagesTests {
    @Test("updateIndex persists the change and returns the closure's result")
    func updatePersists() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let result = try layout.updateIndex(purpose: "test") { index -> Int in
            index.setReference(try RefName(stored: "app:v1"), to: fakeManifest("a"))
            index.annotations = ["org.example": "x"]
            return 42
        }
        #expect(result == 42)
        let reopened = try Layout.open(dir).readIndex()
        #expect(reopened.entry(named: "app:v1")?.digest == fakeDigest("a"))
        #expect(reopened.annotations == ["org.example": "x"])
        #expect(try layout.readIndexBytes() == (try JSONCoding.encode(reopened)), "written with JSONCoding")
        #expect(listing(layout.temporaryDirectory).isEmpty, "no temporary file is left behind")
    }

    @Test("updateIndex writes nothing when the closure throws")
    func updateThrows() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        try layout.updateIndex(purpose: "setup") { $0.setReference(try RefName(stored: "app:v1"), to: fakeManifest("a")) }
        let before = try contents(layout.indexPath)
        let inodeBefore = try inode(layout.indexPath)
        let error = try #require(stowageError {
            try layout.updateIndex(purpose: "failing") { index in
                index.manifests.removeAll()
                index.setReference(try RefName(stored: "app:v2"), to: fakeManifest("b"))
                throw StowageError(.conflict, "changed my mind")
            }
        })
        #expect(error == StowageError(.conflict, "changed my mind"))
        #expect(try contents(layout.indexPath) == before)
        #expect(try inode(layout.indexPath) == inodeBefore)
        #expect(listing(layout.temporaryDirectory).isEmpty)
    }

    @Test("updateIndex does not rewrite index.json when nothing changes")
    func updateUnchanged() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        // Bytes Stowage would not write itself: a rewrite would show.
        let foreign = "{ \"schemaVersion\": 2,\n  \"manifests\": [] }\n"
        try writeFile(layout.indexPath, foreign)
        let inodeBefore = try inode(layout.indexPath)
        try layout.updateIndex(purpose: "noop") { index in
            index.addUnnamed(fakeManifest("a"))
            _ = index.removeReference(fakeManifest("a").digest.string)
            index.manifests.removeAll()
        }
        #expect(String(decoding: try contents(layout.indexPath), as: UTF8.self) == foreign)
        #expect(try inode(layout.indexPath) == inodeBefore)
    }

    @Test("updateIndex keeps unknown fields of index.json")
    func updateKeepsUnknownFields() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        try writeFile(layout.indexPath, #"{"schemaVersion":2,"manifests":[],"x-tool":{"v":[1,null]}}"#)
        try layout.updateIndex(purpose: "t") { $0.addUnnamed(fakeManifest("a")) }
        let text = String(decoding: try contents(layout.indexPath), as: UTF8.self)
        #expect(text.contains(#""x-tool":{"v":[1,null]}"#))
        #expect(try layout.readIndex().manifests.count == 1)
    }

    @Test("successive updates from several layouts on the same directory are all kept")
    func concurrentUpdates() async throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try Layout.create(dir)
        let count = 16
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask {
                    let layout = try Layout.open(dir)
                    try layout.updateIndex(purpose: "writer \(i)") { index in
                        index.setReference(try RefName(stored: "app:v\(i)"), to: fakeManifest(Array("0123456789abcdef")[i]))
                    }
                }
            }
            try await group.waitForAll()
        }
        let index = try Layout.open(dir).readIndex()
        #expect(index.manifests.count == count)
        #expect(Set(index.manifests.compactMap(\.refName)) == Set((0..<count).map { "app:v\($0)" }))
    }

    @Test("tag names an image; resolve finds it by name, implied :latest and digest")
    func tagAndResolve() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let image = try storeImage(in: layout, layer: "one")
        try layout.updateIndex(purpose: "t") { $0.addUnnamed(image) }

        let tagged = try layout.tag(image.digest.string, as: try RefName(userInput: "team/app"))
        #expect(tagged.digest == image.digest)
        let index = try layout.readIndex()
        #expect(index.manifests.count == 1, "the unnamed entry became the named one")
        #expect(index.manifests[0].refName == "team/app:latest")

        #expect(try layout.resolve("team/app:latest").digest == image.digest)
        #expect(try layout.resolve("team/app").digest == image.digest)
        #expect(try layout.resolve("team/app").refName == "team/app:latest")
        let byDigest = try layout.resolve(image.digest.string)
        #expect(byDigest.digest == image.digest)
        #expect(byDigest.size == image.size)
        #expect(byDigest.mediaType == .ociManifest)
        #expect(byDigest.refName == nil, "a digest lookup names no reference")
        #expect(try layout.resolve("team/app@" + image.digest.string).digest == image.digest)
    }

    @Test("resolve finds a tag-only name as stored")
    func resolveTagOnly() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let image = try storeImage(in: layout, layer: "x")
        try layout.updateIndex(purpose: "t") { $0.setReference(try RefName(stored: "v1.0.0"), to: image) }
        #expect(try layout.resolve("v1.0.0").digest == image.digest)
    }

    @Test("resolve finds a child manifest by digest, reading its media type")
    func resolveChild() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let child = try storeImage(in: layout, layer: "child")
        var entry = child
        entry.platform = Platform(os: "linux", architecture: "amd64")
        let index = try storeIndex(in: layout, [entry])
        try layout.updateIndex(purpose: "t") { $0.setReference(try RefName(stored: "multi:v1"), to: index) }
        let resolved = try layout.resolve(child.digest.string)
        #expect(resolved.digest == child.digest)
        #expect(resolved.size == child.size)
        #expect(resolved.mediaType == .ociManifest)
    }

    @Test("resolve of something unknown is .notFound", arguments: ["missing", "team/app:v9", "Team/App", "sha256:" + emptySHA256])
    func resolveUnknown(_ query: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let image = try storeImage(in: layout, layer: "x")
        try layout.updateIndex(purpose: "t") { $0.setReference(try RefName(stored: "team/app:v1"), to: image) }
        let error = try #require(stowageError { _ = try layout.resolve(query) })
        #expect(error.code == .notFound)
        #expect(error.message.contains(dir))
    }

    @Test("resolve of a malformed digest is .invalidDigest")
    func resolveBadDigest() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let error = try #require(stowageError { _ = try layout.resolve("sha256:1234") })
        #expect(error.code == .invalidDigest)
    }

    @Test("tag moves a name from one image to another and keeps the source's name")
    func tagMoves() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let one = try storeImage(in: layout, layer: "one")
        let two = try storeImage(in: layout, layer: "two")
        try layout.updateIndex(purpose: "t") { index in
            index.setReference(try RefName(stored: "app:one"), to: one)
            index.setReference(try RefName(stored: "app:two"), to: two)
        }
        try layout.tag("app:one", as: try RefName(userInput: "app:current"))
        #expect(try layout.resolve("app:current").digest == one.digest)
        try layout.tag("app:two", as: try RefName(userInput: "app:current"))
        #expect(try layout.resolve("app:current").digest == two.digest)
        let index = try layout.readIndex()
        #expect(index.manifests.filter { $0.refName == "app:current" }.count == 1)
        #expect(index.entry(named: "app:one")?.digest == one.digest)
        #expect(index.entry(named: "app:two")?.digest == two.digest)
        #expect(index.manifests.count == 3)
    }

    @Test("tag of an unknown source is .notFound and changes nothing")
    func tagUnknown() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let before = try contents(layout.indexPath)
        let error = try #require(stowageError { try layout.tag("nothing:here", as: try RefName(userInput: "x")) })
        #expect(error.code == .notFound)
        #expect(try contents(layout.indexPath) == before)
    }

    @Test("removeReference removes a name, as stored or as a user writes it; blobs stay")
    func removeReference() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let image = try storeImage(in: layout, layer: "x")
        try layout.updateIndex(purpose: "t") { index in
            index.setReference(try RefName(stored: "team/app:latest"), to: image)
            index.setReference(try RefName(stored: "team/app:v1"), to: image)
        }
        let removed = try layout.removeReference("team/app")
        #expect(removed.refName == "team/app:latest")
        #expect(removed.digest == image.digest)
        #expect(try layout.readIndex().manifests.compactMap(\.refName) == ["team/app:v1"])
        try layout.removeReference("team/app:v1")
        #expect(try layout.readIndex().manifests.isEmpty)
        #expect(try layout.blobs.contains(image.digest))

        let before = try contents(layout.indexPath)
        let error = try #require(stowageError { try layout.removeReference("team/app:v1") })
        #expect(error.code == .notFound)
        #expect(error.message.contains("team/app:v1"))
        #expect(try contents(layout.indexPath) == before)
    }

    @Test("summaries list every entry with its platforms")
    func summaries() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let amd = try storeImage(in: layout, os: "linux", architecture: "amd64", layer: "amd")
        let arm = try storeImage(in: layout, os: "linux", architecture: "arm64", variant: "v8", layer: "arm")
        var amdEntry = amd
        amdEntry.platform = Platform(os: "linux", architecture: "amd64")
        // An index entry without a platform falls back to the child's config.
        let multi = try storeIndex(in: layout, [amdEntry, arm])
        let loose = try storeImage(in: layout, os: "windows", architecture: "amd64", layer: "win")
        try layout.updateIndex(purpose: "t") { index in
            index.setReference(try RefName(stored: "app:arm"), to: arm)
            index.setReference(try RefName(stored: "app:multi"), to: multi)
            index.addUnnamed(loose)
        }
        let summaries = try layout.summaries()
        try #require(summaries.count == 3)
        #expect(summaries.map(\.reference) == ["app:arm", "app:multi", nil])
        #expect(summaries.map(\.digest) == [arm.digest.string, multi.digest.string, loose.digest.string])
        #expect(summaries.map(\.mediaType) == [MediaType.ociManifest.rawValue, MediaType.ociIndex.rawValue, MediaType.ociManifest.rawValue])
        #expect(summaries.map(\.size) == [arm.size, multi.size, loose.size])
        #expect(summaries.map(\.platforms) == [["linux/arm64/v8"], ["linux/amd64", "linux/arm64/v8"], ["windows/amd64"]])
    }

    @Test("summaries report a blob whose size disagrees with its entry")
    func summariesCorrupt() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        var image = try storeImage(in: layout, layer: "x")
        image.size += 1
        try layout.updateIndex(purpose: "t") { $0.setReference(try RefName(stored: "app:v1"), to: image) }
        let error = try #require(stowageError { _ = try layout.summaries() })
        #expect(error.code == .digestMismatch)
    }

    @Test("sniffMediaType tells manifests from indexes when they do not say", arguments: [
        (#"{"schemaVersion":2,"manifests":[]}"#, MediaType.ociIndex),
        (#"{"schemaVersion":2,"config":{}}"#, MediaType.ociManifest),
        (#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#, MediaType.dockerManifestList),
    ])
    func sniff(_ json: String, _ expected: MediaType) throws {
        #expect(try Layout.sniffMediaType(Array(json.utf8), digest: fakeDigest("a")) == expected)
    }

    @Test("sniffMediaType refuses other documents")
    func sniffOther() throws {
        let error = try #require(stowageError { _ = try Layout.sniffMediaType(Array(#"{"architecture":"amd64"}"#.utf8), digest: fakeDigest("a")) })
        #expect(error.code == .unsupported)
        #expect(error.message.contains(fakeDigest("a").string))
    }
}
