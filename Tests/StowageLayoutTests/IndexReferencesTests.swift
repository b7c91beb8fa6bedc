import StowageLayout
import StowageModel
import Testing

@Suite("Index references")
struct IndexReferencesTests {
    private func names(_ index: Index) -> [String?] { index.manifests.map(\.refName) }
    private func name(_ value: String) throws -> RefName { try RefName(stored: value) }

    @Test("setReference names an image and entry(named:) finds it")
    func setAndFind() throws {
        var index = Index()
        index.setReference(try name("team/app:v1"), to: fakeManifest("a"))
        #expect(index.manifests.count == 1)
        #expect(index.entry(named: "team/app:v1")?.digest == fakeDigest("a"))
        #expect(index.entry(named: "team/app:v2") == nil)
        #expect(index.entry(named: "team/app") == nil, "entry(named:) matches exactly")
    }

    @Test("setReference moves a name from one digest to another and keeps names unique")
    func moveName() throws {
        var index = Index(manifests: [fakeManifest("a", name: "app:v1"), fakeManifest("b", name: "app:v2")])
        index.setReference(try name("app:v1"), to: fakeManifest("c"))
        #expect(index.manifests.filter { $0.refName == "app:v1" }.count == 1)
        #expect(index.entry(named: "app:v1")?.digest == fakeDigest("c"))
        #expect(!index.manifests.contains { $0.digest == fakeDigest("a") }, "the old owner had only that name")
        #expect(index.entry(named: "app:v2")?.digest == fakeDigest("b"))
        #expect(index.manifests.count == 2)

        index.setReference(try name("app:v1"), to: fakeManifest("b"))
        #expect(index.manifests.filter { $0.refName == "app:v1" }.count == 1)
        #expect(index.manifests.map(\.digest) == [fakeDigest("b"), fakeDigest("b")])
        #expect(Set(names(index).compactMap { $0 }) == ["app:v1", "app:v2"])
    }

    @Test("setReference with the name the entry already has keeps a single entry")
    func renameSame() throws {
        var index = Index(manifests: [fakeManifest("a", name: "app:v1")])
        index.setReference(try name("app:v1"), to: fakeManifest("a"))
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].refName == "app:v1")
    }

    @Test("an image may carry several names")
    func severalNames() throws {
        var index = Index()
        index.setReference(try name("app:v1"), to: fakeManifest("a"))
        index.setReference(try name("app:latest"), to: fakeManifest("a"))
        #expect(index.manifests.count == 2)
        #expect(index.entry(named: "app:v1")?.digest == fakeDigest("a"))
        #expect(index.entry(named: "app:latest")?.digest == fakeDigest("a"))
    }

    @Test("setReference drops an unnamed entry of the same digest, and only that")
    func dropsUnnamed() throws {
        var index = Index(manifests: [fakeManifest("a"), fakeManifest("b"), fakeManifest("c", name: "keep:me")])
        index.setReference(try name("app:v1"), to: fakeManifest("a"))
        #expect(index.manifests.count == 3)
        #expect(index.manifests.filter { $0.digest == fakeDigest("a") }.map(\.refName) == ["app:v1"])
        #expect(index.manifests.contains { $0.digest == fakeDigest("b") && $0.refName == nil })
        #expect(index.entry(named: "keep:me")?.digest == fakeDigest("c"))
    }

    @Test("setReference replaces the name a descriptor carries and keeps its other annotations and platform")
    func keepsOtherFields() throws {
        var source = fakeManifest("a", name: "old:name")
        source.annotations?["org.example"] = "x"
        source.platform = Platform(os: "linux", architecture: "arm64")
        var index = Index()
        index.setReference(try name("new:name"), to: source)
        let entry = try #require(index.entry(named: "new:name"))
        #expect(entry.annotations == [Descriptor.refNameAnnotation: "new:name", "org.example": "x"])
        #expect(entry.platform == Platform(os: "linux", architecture: "arm64"))
        #expect(index.entry(named: "old:name") == nil)
    }

    @Test("addUnnamed is idempotent and strips any name")
    func addUnnamed() {
        var index = Index()
        index.addUnnamed(fakeManifest("a", name: "ignored:name"))
        index.addUnnamed(fakeManifest("a"))
        index.addUnnamed(fakeManifest("a", name: "other:name"))
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].refName == nil)
        #expect(index.manifests[0].annotations == nil)
        index.addUnnamed(fakeManifest("b"))
        #expect(index.manifests.map(\.digest) == [fakeDigest("a"), fakeDigest("b")])
    }

    @Test("addUnnamed does not add an image that already has a named entry")
    func addUnnamedNamed() throws {
        var index = Index(manifests: [fakeManifest("a", name: "app:v1")])
        index.addUnnamed(fakeManifest("a"))
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].refName == "app:v1")
    }

    @Test("removeReference removes exactly the named entry and returns it")
    func removeReference() throws {
        var index = Index(manifests: [fakeManifest("a", name: "app:v1"), fakeManifest("a", name: "app:v2"), fakeManifest("b")])
        let removed = index.removeReference("app:v1")
        #expect(removed?.digest == fakeDigest("a"))
        #expect(removed?.refName == "app:v1")
        #expect(names(index) == ["app:v2", nil])
        #expect(index.removeReference("app:v1") == nil)
        #expect(index.removeReference("app") == nil, "names match exactly")
        #expect(names(index) == ["app:v2", nil])
    }

    @Test("adding many images at once ends exactly as adding them one by one", arguments: 0..<100)
    func batchAddMatchesOneByOne(_ seed: Int) throws {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        let digests: [Character] = ["a", "b", "c", "d", "e"]
        let names = ["app:1", "app:2", "app:3", "other:1"]
        var start = Index()
        for _ in 0..<next(6) {
            start.add(fakeManifest(digests[next(5)]), names: next(3) == 0 ? [] : [try name(names[next(4)])])
        }
        var items: [(descriptor: Descriptor, names: [RefName])] = []
        for _ in 0..<next(12) {
            let chosen = try (0..<next(3)).map { _ in try name(names[next(4)]) }
            items.append((fakeManifest(digests[next(5)]), chosen))
        }
        var oneByOne = start
        for (descriptor, chosen) in items { oneByOne.add(descriptor, names: chosen) }
        var batch = start
        batch.add(items)
        #expect(batch == oneByOne, "seed \(seed)")
    }
}
