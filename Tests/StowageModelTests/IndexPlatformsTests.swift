import Foundation
import StowageModel
import Testing

/// `Index.filtered(to:)` and `Index.selecting(_:)`: a platform filter makes a new
/// document deterministically, keeps what describes the kept images, and says what
/// it cannot do.
@Suite("Index platform filters")
struct IndexPlatformsTests {
    static func digest(_ n: Int) -> Digest {
        try! Digest("sha256:" + String(repeating: String(n % 10), count: 64))
    }

    /// amd64, arm64/v8, ppc64le, and a BuildKit attestation of each of the first two.
    static func sample() -> (Index, Descriptor) {
        var entries: [Descriptor] = []
        for (n, platform) in [(1, "linux/amd64"), (2, "linux/arm64/v8"), (3, "linux/ppc64le")] {
            var entry = Descriptor(mediaType: .ociManifest, digest: digest(n), size: 100, platform: try! Platform(parsing: platform))
            entry.unknownFields["x-kept"] = .string("as written \(n)")
            entries.append(entry)
        }
        for n in [1, 2] {
            entries.append(Descriptor(
                mediaType: .ociManifest, digest: digest(n + 4), size: 50,
                annotations: [Descriptor.attestationReferenceAnnotation: digest(n).string, "vnd.docker.reference.type": "attestation-manifest"],
                platform: Platform(os: "unknown", architecture: "unknown")))
        }
        var index = Index(mediaType: .ociIndex, manifests: entries, annotations: ["org.opencontainers.image.created": "2026-01-01"])
        index.artifactType = "application/x-example"
        let bytes = index.jsonBytes
        return (index, Descriptor(mediaType: .ociIndex, digest: ContentHasher.digest(of: bytes), size: Int64(bytes.count)))
    }

    @Test("several platforms make a new index of those, with their attestations, the same every time")
    func filteredIndex() throws {
        let (index, source) = Self.sample()
        let wanted = [try Platform(parsing: "linux/arm64"), try Platform(parsing: "linux/amd64")]
        guard case .filtered(let filtered) = try index.selecting(wanted, source: source, what: "team/app:v1") else {
            Issue.record("expected a filtered index")
            return
        }
        #expect(filtered.index.manifests.map(\.digest) == [Self.digest(1), Self.digest(2), Self.digest(5), Self.digest(6)], "source order")
        #expect(filtered.index.manifests[0] == index.manifests[0], "kept entries as they were written")
        #expect(filtered.index.annotations == index.annotations)
        #expect(filtered.index.artifactType == "application/x-example")
        #expect(filtered.index.mediaType == .ociIndex)
        #expect(filtered.descriptor.digest == ContentHasher.digest(of: filtered.bytes))
        #expect(filtered.descriptor.digest != source.digest)
        #expect(try Index.parse(filtered.bytes, what: "x") == filtered.index)
        #expect(filtered.summary == "filtered index \(filtered.descriptor.digest) (2 of 3 platforms) replaces \(source.digest)")
        guard case .filtered(let again) = try index.selecting(wanted.reversed(), source: source, what: "team/app:v1") else { return }
        #expect(again.bytes == filtered.bytes, "deterministic bytes")
    }

    @Test("one platform is its image; all of them the index as it is; absent ones and --preserve-digests are refused")
    func otherSelections() throws {
        let (index, source) = Self.sample()
        let one = try index.selecting([try Platform(parsing: "linux/arm64")], source: source, what: "x")
        #expect(one == .image(Descriptor(mediaType: .ociManifest, digest: Self.digest(2), size: 100, platform: try Platform(parsing: "linux/arm64/v8"))))
        let all = try ["linux/amd64", "linux/arm64", "linux/ppc64le"].map(Platform.init(parsing:))
        #expect(try index.selecting(all, source: source, what: "x", preserveDigests: true) == .whole)
        #expect(try index.selecting([], source: source, what: "x") == .whole)
        #expect(throws: StowageError.self) { try index.selecting(Array(all.prefix(2)), source: source, what: "x", preserveDigests: true) }
        do {
            _ = try index.selecting(Array(all.prefix(2)), source: source, what: "team/app:v1", preserveDigests: true)
        } catch let error as StowageError {
            #expect(error.message.hasPrefix("cannot preserve digests: --platform selects 2 of 3 platforms of team/app:v1, which makes a new index"))
        }
        do {
            _ = try index.selecting([all[0], try Platform(parsing: "linux/s390x")], source: source, what: "team/app:v1")
            Issue.record("expected an error")
        } catch let error as StowageError {
            #expect(error.code == .notFound)
            #expect(error.message == "team/app:v1 has no linux/s390x image (it has: linux/amd64, linux/arm64/v8, linux/ppc64le)")
        }
    }
}
