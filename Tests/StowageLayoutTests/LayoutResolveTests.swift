import Foundation
import StowageLayout
import StowageModel
import Testing

/// `Layout.resolve` and the name edits built on it: short digests, what a digest that is
/// no manifest is, and the names a user may have meant.
@Suite struct LayoutResolveTests {
    /// A layout with one named and one unnamed image.
    struct Fixture {
        let directory: String
        let layout: Layout
        let named: Descriptor
        let unnamed: Descriptor

        init() throws {
            directory = try makeTemporaryDirectory()
            layout = try Layout.create(directory)
            named = try storeImage(in: layout, layer: "named")
            unnamed = try storeImage(in: layout, architecture: "arm64", layer: "unnamed")
            let (named, unnamed) = (named, unnamed)
            try layout.updateIndex(purpose: "t") { index in
                index.setReference(try RefName(stored: "docker.io/team/app:docker"), to: named)
                index.addUnnamed(unnamed)
            }
        }

        /// The image's layer, from its manifest.
        func layer(of image: Descriptor) throws -> Descriptor {
            let manifest = try JSONCoding.decode(Manifest.self, from: layout.blobs.readDocument(image.digest), what: "m")
            return manifest.layers[0]
        }

        func config(of image: Descriptor) throws -> Descriptor {
            try JSONCoding.decode(Manifest.self, from: layout.blobs.readDocument(image.digest), what: "m").config
        }
    }

    @Test("a digest cut to 12 or more hex digits, with or without sha256:, resolves when unique")
    func shortDigests() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let hex = fixture.unnamed.digest.hex
        for query in ["sha256:\(hex.prefix(12))", String(hex.prefix(12)), "sha256:\(hex.prefix(40))", hex] {
            let found = try fixture.layout.resolve(query)
            #expect(found.digest == fixture.unnamed.digest, "\(query)")
            #expect(found.refName == nil)
        }
    }

    @Test("a short digest that starts two digests is refused, naming both")
    func ambiguousShortDigest() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let hex = fixture.unnamed.digest.hex
        // Another blob file whose name shares the first 20 digits.
        let twin = String(hex.prefix(20)) + String(repeating: hex.hasSuffix("0") ? "1" : "0", count: 44)
        try writeFile("\(fixture.layout.blobs.directory)/\(twin)", "x")
        let error = try #require(stowageError { _ = try fixture.layout.resolve(String(hex.prefix(12))) })
        #expect(error.code == .conflict)
        #expect(error.message.contains("is ambiguous"), "\(error.message)")
        #expect(error.message.contains(fixture.unnamed.digest.string) && error.message.contains("sha256:\(twin)"), "\(error.message)")
        #expect(error.message.hasSuffix("give more hex digits"), "\(error.message)")
        // 21 digits tell them apart.
        #expect(try fixture.layout.resolve(String(hex.prefix(21))).digest == fixture.unnamed.digest)
    }

    @Test("sha256: with fewer than 12 hex digits is too short")
    func tooShort() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let error = try #require(stowageError { _ = try fixture.layout.resolve("sha256:\(fixture.unnamed.digest.hex.prefix(8))") })
        #expect(error.code == .invalidDigest)
        #expect(error.message.contains("is too short: give at least 12 hex digits"), "\(error.message)")
        let bare = try #require(stowageError { _ = try fixture.layout.resolve(String(fixture.unnamed.digest.hex.prefix(8))) })
        #expect(bare.code == .notFound)
        #expect(bare.message.hasSuffix("a digest needs at least 12 hex digits"), "\(bare.message)")
    }

    @Test("a layer or config digest says what the blob is, not that it is invalid JSON")
    func blobsThatAreNoManifest() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let layer = try fixture.layer(of: fixture.named).digest
        let layerError = try #require(stowageError { _ = try fixture.layout.resolve(layer.string) })
        #expect(layerError.message.hasPrefix("blob \(layer) is a layer, not a manifest or index;"), "\(layerError.message)")
        let config = try fixture.config(of: fixture.named).digest
        let configError = try #require(stowageError { _ = try fixture.layout.resolve(String(config.hex.prefix(12))) })
        #expect(configError.message.hasPrefix("blob \(config) is an image config or another JSON blob, not a manifest or index;"), "\(configError.message)")
        // Nor can either be named.
        let tagError = try #require(stowageError { try fixture.layout.tag(layer.string, as: try RefName(userInput: "x:1")) })
        #expect(tagError.message.contains("is a layer"))
    }

    @Test("a name that differs only in the registry host gets a 'did you mean'")
    func didYouMean() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let error = try #require(stowageError { _ = try fixture.layout.resolve("team/app:docker") })
        #expect(error.code == .notFound)
        #expect(error.message == "no image named 'team/app:docker' in layout \(fixture.layout.root); did you mean 'docker.io/team/app:docker'?")
        let other = try #require(stowageError { _ = try fixture.layout.resolve("team/app:v2") })
        #expect(other.message.hasSuffix("`stowage ls` lists the names"), "\(other.message)")
        let rm = try #require(stowageError { try fixture.layout.removeReference("team/app:docker") })
        #expect(rm.message.hasSuffix("did you mean 'docker.io/team/app:docker'?"), "\(rm.message)")
    }

    @Test("a docker:// reference is refused with the advice to drop the prefix")
    func transportPrefix() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let error = try #require(stowageError { _ = try fixture.layout.resolve("docker://docker.io/team/app:docker") })
        #expect(error.message.contains("drop 'docker://'"), "\(error.message)")
        let tagError = try #require(stowageError { _ = try RefName(userInput: "docker://127.0.0.1:5000/team/app:1") })
        #expect(tagError.message.contains("drop 'docker://'"), "\(tagError.message)")
    }

    @Test("tag gives several names in one edit; rm removes several, or none when one is missing")
    func severalNames() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let layout = fixture.layout
        try layout.tag(String(fixture.unnamed.digest.hex.prefix(12)), as: [try RefName(userInput: "a:1"), try RefName(userInput: "b:2")])
        let names = try layout.readIndex().manifests.filter { $0.digest == fixture.unnamed.digest }.compactMap(\.refName)
        #expect(Set(names) == ["a:1", "b:2"])
        #expect(try layout.readIndex().manifests.allSatisfy { $0.refName != nil }, "the unnamed entry became named")

        let before = try contents(layout.indexPath)
        let error = try #require(stowageError { try layout.removeReferences(["a:1", "missing:1", "b:2"]) })
        #expect(error.message.contains("missing:1"))
        #expect(try contents(layout.indexPath) == before, "all or nothing")

        try layout.tag("a:1", as: [try RefName(userInput: "team/c")])
        let removed = try layout.removeReferences(["a:1", "b:2", "a:1", "team/c", "team/c:latest"])
        #expect(removed.map(\.refName) == ["a:1", "b:2", "team/c:latest"], "one name spelt two ways is removed once")
        #expect(try layout.readIndex().manifests.compactMap(\.refName) == ["docker.io/team/app:docker"])
    }

    @Test("rm of a digest removes its unnamed entry, and refuses a digest that has only names")
    func removeByDigest() throws {
        let fixture = try Fixture()
        defer { removeTemporaryDirectory(fixture.directory) }
        let removed = try fixture.layout.removeReference("sha256:\(fixture.unnamed.digest.hex.prefix(12))")
        #expect(removed.digest == fixture.unnamed.digest && removed.refName == nil)
        #expect(try fixture.layout.readIndex().manifests.count == 1)
        let error = try #require(stowageError { try fixture.layout.removeReference(fixture.named.digest.string) })
        #expect(error.code == .conflict)
        #expect(error.message.contains("it is named 'docker.io/team/app:docker'"), "\(error.message)")
        #expect(try fixture.layout.blobs.contains(fixture.unnamed.digest), "blobs stay until gc")
    }
}
