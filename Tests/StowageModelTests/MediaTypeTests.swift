import Foundation
import StowageModel
import Testing

@Suite("MediaType")
struct MediaTypeTests {
    @Test("the known media types have their registered names")
    func rawValues() {
        #expect(MediaType.ociManifest.rawValue == "application/vnd.oci.image.manifest.v1+json")
        #expect(MediaType.ociIndex.rawValue == "application/vnd.oci.image.index.v1+json")
        #expect(MediaType.ociConfig.rawValue == "application/vnd.oci.image.config.v1+json")
        #expect(MediaType.ociLayer.rawValue == "application/vnd.oci.image.layer.v1.tar")
        #expect(MediaType.ociLayerGzip.rawValue == "application/vnd.oci.image.layer.v1.tar+gzip")
        #expect(MediaType.ociLayerZstd.rawValue == "application/vnd.oci.image.layer.v1.tar+zstd")
        #expect(MediaType.ociEmpty.rawValue == "application/vnd.oci.empty.v1+json")
        #expect(MediaType.dockerManifest.rawValue == "application/vnd.docker.distribution.manifest.v2+json")
        #expect(MediaType.dockerManifestList.rawValue == "application/vnd.docker.distribution.manifest.list.v2+json")
        #expect(MediaType.dockerConfig.rawValue == "application/vnd.docker.container.image.v1+json")
        #expect(MediaType.dockerLayerGzip.rawValue == "application/vnd.docker.image.rootfs.diff.tar.gzip")
        #expect(MediaType.dockerForeignLayer.rawValue == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
    }

    struct Kind: Sendable, CustomTestStringConvertible {
        var type: MediaType
        var index = false, manifest = false, config = false, docker = false, nonDistributable = false
        var testDescription: String { type.rawValue }
    }

    static let kinds: [Kind] = [
        Kind(type: .ociIndex, index: true),
        Kind(type: .dockerManifestList, index: true, docker: true),
        Kind(type: .ociManifest, manifest: true),
        Kind(type: .dockerManifest, manifest: true, docker: true),
        Kind(type: .ociConfig, config: true),
        Kind(type: .dockerConfig, config: true, docker: true),
        Kind(type: .ociLayer),
        Kind(type: .ociLayerGzip),
        Kind(type: .ociLayerZstd),
        Kind(type: .ociEmpty),
        Kind(type: .dockerLayerGzip, docker: true),
        Kind(type: .dockerForeignLayer, docker: true, nonDistributable: true),
        Kind(type: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", nonDistributable: true),
        Kind(type: "application/vnd.oci.image.layer.nondistributable.v1.tar", nonDistributable: true),
        Kind(type: "application/vnd.example.artifact+json"),
        Kind(type: "application/vnd.oci.image.manifest.v1+JSON"),  // media types compare exactly
        Kind(type: ""),
    ]

    @Test("classification", arguments: kinds)
    func classification(_ kind: Kind) {
        #expect(kind.type.isIndex == kind.index)
        #expect(kind.type.isManifest == kind.manifest)
        #expect(kind.type.isImageConfig == kind.config)
        #expect(kind.type.isDocker == kind.docker)
        #expect(kind.type.isNonDistributable == kind.nonDistributable)
    }

    @Test("the three initialisers agree and description is the raw value")
    func initialisers() {
        let literal: MediaType = "application/x-test"
        #expect(literal == MediaType("application/x-test"))
        #expect(literal == MediaType(rawValue: "application/x-test"))
        #expect(literal.description == "application/x-test")
        #expect(literal != MediaType("application/x-test2"))
    }

    @Test("encodes as a plain string, unknown types included, without escaping slashes")
    func codable() throws {
        let types: [MediaType] = [.ociManifest, "application/vnd.example+json", ""]
        let bytes = try JSONCoding.encode(types)
        #expect(String(decoding: bytes, as: UTF8.self) == #"["application/vnd.oci.image.manifest.v1+json","application/vnd.example+json",""]"#)
        #expect(try JSONCoding.decode([MediaType].self, from: bytes, what: "types") == types)
        #expect(try JSONDecoder().decode(MediaType.self, from: Data(#""application/vnd.oci.image.index.v1+json""#.utf8)) == .ociIndex)
    }

    @Test("a media type that is not a string is refused")
    func decodeNonString() throws {
        let error = try #require(stowageError { _ = try JSONCoding.decode([MediaType].self, from: Array("[1]".utf8), what: "types") })
        #expect(error.code == .invalidJSON)
    }
}
