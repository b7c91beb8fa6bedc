import StowageModel
import Testing

@Suite("Descriptor")
struct DescriptorTests {
    @Test("refName reads and writes the ref.name annotation, keeping others")
    func refName() throws {
        var descriptor = Descriptor(mediaType: .ociManifest, digest: try Digest(hex: emptySHA256), size: 1)
        #expect(descriptor.refName == nil)
        #expect(descriptor.annotations == nil)
        descriptor.refName = "team/app:v1"
        #expect(descriptor.annotations == [Descriptor.refNameAnnotation: "team/app:v1"])
        descriptor.annotations?["other"] = "x"
        descriptor.refName = "team/app:v2"
        #expect(descriptor.refName == "team/app:v2")
        descriptor.refName = nil
        #expect(descriptor.annotations == ["other": "x"])
        descriptor.annotations = [Descriptor.refNameAnnotation: "a"]
        descriptor.refName = nil
        #expect(descriptor.annotations == nil, "an emptied annotation map is dropped")
        #expect(Descriptor.refNameAnnotation == "org.opencontainers.image.ref.name")
        #expect(Descriptor.containerdNameAnnotation == "io.containerd.image.name")
    }

    @Test("mediaType, digest and size are required", arguments: ["mediaType", "digest", "size"])
    func requiredFields(_ field: String) throws {
        var object = ["mediaType": #""application/vnd.oci.image.layer.v1.tar""#, "digest": #""sha256:\#(emptySHA256)""#, "size": "0"]
        object[field] = nil
        let json = "{" + object.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        let error = try #require(stowageError { _ = try JSONCoding.decode(Descriptor.self, from: Array(json.utf8), what: "layer 3 of manifest m") })
        #expect(error.code == .invalidJSON)
        #expect(error.message == "layer 3 of manifest m lacks the required field '\(field)'")
    }

    @Test("the initializer leaves optional fields empty")
    func initializer() throws {
        let platform = Platform(os: "linux", architecture: "amd64")
        let descriptor = Descriptor(mediaType: .ociIndex, digest: try Digest(hex: abcSHA256), size: 12, annotations: ["a": "b"], platform: platform)
        #expect(descriptor.mediaType == .ociIndex)
        #expect(descriptor.size == 12)
        #expect(descriptor.annotations == ["a": "b"])
        #expect(descriptor.platform == platform)
        #expect(descriptor.urls == nil)
        #expect(descriptor.artifactType == nil)
        #expect(descriptor.data == nil)
        #expect(descriptor.unknownFields.isEmpty)
        #expect(descriptor.refName == nil)
    }

    @Test("a manifest references its config, layers and subject, in order, each with its role")
    func manifestChildren() throws {
        let config = Descriptor(mediaType: .ociConfig, digest: try Digest(hex: emptySHA256), size: 2)
        let layer = Descriptor(mediaType: .ociLayerGzip, digest: try Digest(hex: abcSHA256), size: 3)
        var manifest = Manifest(config: config, layers: [layer, layer])
        #expect(manifest.schemaVersion == 2)
        #expect(manifest.mediaType == .ociManifest)
        #expect(ContentDocument.manifest(manifest).references.map(\.descriptor) == [config, layer, layer])
        #expect(ContentDocument.manifest(manifest).references.map(\.role) == [.config, .layer, .layer])
        let subject = Descriptor(mediaType: .ociManifest, digest: try Digest(hex: String(repeating: "9", count: 64)), size: 4)
        manifest.subject = subject
        #expect(ContentDocument.manifest(manifest).references.map(\.descriptor) == [config, layer, layer, subject])
        #expect(ContentDocument.manifest(manifest).requiredReferences.map(\.descriptor) == [config, layer, layer], "a subject may be elsewhere")
    }
}
