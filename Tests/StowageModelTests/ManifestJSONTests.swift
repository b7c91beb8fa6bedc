import Foundation
@testable import StowageModel
import Testing

/// The fast manifest path (`Manifest(reading:)`, used by `JSONCoding` and
/// `ContentDocument`) against Foundation's `Codable` path, on the shapes other tools
/// write, on random manifests and on hostile input.
@Suite("Manifest JSON fast path")
struct ManifestJSONTests {
    static let d1 = "sha256:" + String(repeating: "a", count: 64)
    static let d2 = "sha256:" + String(repeating: "b", count: 64)
    static let d3 = "sha256:" + String(repeating: "c", count: 64)

    /// Manifests as other tools write them: their spacing, field order, extra fields.
    static let shapes: [(tool: String, json: String)] = [
        ("buildah", #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(d1)","size":1234},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(d2)","size":5678}],"annotations":{"org.opencontainers.image.base.name":"scratch"}}"#),
        ("umoci", """
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "\(d1)",
                "size": 12
              },
              "layers": [
                {
                  "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                  "digest": "\(d2)",
                  "size": 34,
                  "annotations": { "x": "y" }
                }
              ]
            }

            """),
        ("docker", "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      \"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": 7,\n      \"digest\": \"\(d1)\"\n   },\n   \"layers\": [\n      {\n         \"mediaType\": \"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\n         \"size\": 9,\n         \"digest\": \"\(d2)\",\n         \"urls\": [\"https://example.com/layer\"]\n      }\n   ]\n}"),
        ("cosign", #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(d1)","size":2,"data":"e30="},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"\#(d2)","size":3,"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQ\u002b=="}}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d3)","size":4}}"#),
        ("crane", "\t{ \"schemaVersion\" : 2 ,\r\n \"config\" : { \"mediaType\" : \"application/vnd.oci.image.config.v1+json\" , \"digest\" : \"\(d1)\" , \"size\" : 0 , \"x-extra\" : [ 1 , 2.5 , null ] } , \"layers\" : null , \"annotations\" : null , \"x-vendor\" : { \"deep\" : [ \"\\u00e9\\ud83d\\ude00\\n\" ] } }"),
    ]

    @Test("manifests of other tools' shapes read the same as through Codable, unknown fields kept", arguments: 0..<5)
    func otherToolsShapes(_ position: Int) throws {
        let (tool, json) = Self.shapes[position]
        let bytes = Array(json.utf8)
        let fast = try #require(Manifest.readFast(bytes, what: tool), "\(tool) takes the fast path")
        let codable = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        #expect(fast == codable, "\(tool)")
        #expect(try JSONCoding.decode(Manifest.self, from: bytes, what: tool) == codable)
        let document = try ContentDocument(bytes, mediaType: fast.mediaType ?? .ociManifest, what: tool)
        #expect(document == .manifest(codable))
    }

    @Test("unknown fields and null optionals are read as Codable reads them")
    func unknownFields() throws {
        let crane = try #require(Manifest.readFast(Array(Self.shapes[4].json.utf8), what: "crane"))
        #expect(crane.unknownFields["x-vendor"] == .object(["deep": .array([.string("é😀\n")])]))
        #expect(crane.config.unknownFields["x-extra"] == .array([.int(1), .double(2.5), .null]))
        #expect(crane.layers.isEmpty)
        #expect(crane.annotations == nil)
        #expect(crane.mediaType == nil)
        let cosign = try #require(Manifest.readFast(Array(Self.shapes[3].json.utf8), what: "cosign"))
        #expect(cosign.subject?.digest == (try Digest(Self.d3)))
        #expect(cosign.layers[0].annotations?["dev.cosignproject.cosign/signature"] == "MEUCIQ+==")
        #expect(cosign.config.data == "e30=")
    }

    /// A random manifest: media types, layers with and without annotations, urls,
    /// subjects, artifact types, unknown fields at every level.
    static func randomManifest(_ seed: UInt64) -> Manifest {
        var random = RandomJSON(seed: seed)
        func next() -> UInt64 { random.next() }
        func text() -> String { random.text() }
        func value(_ depth: Int) -> JSONValue { random.value(depth) }
        func descriptor() -> Descriptor {
            var descriptor = Descriptor(mediaType: MediaType(text()), digest: random.digest(), size: Int64(next() % 1_000_000_000))
            if next() % 3 == 0 { descriptor.annotations = ["a\(text())": text()] }
            if next() % 5 == 0 { descriptor.urls = [text()] }
            if next() % 5 == 0 { descriptor.artifactType = text() }
            if next() % 6 == 0 { descriptor.data = text() }
            if next() % 4 == 0 { descriptor.unknownFields["x-\(text())"] = value(0) }
            return descriptor
        }
        let mediaTypes: [MediaType?] = [nil, .ociManifest, .dockerManifest]
        var manifest = Manifest(
            mediaType: mediaTypes[Int(next() % 3)], config: descriptor(), layers: (0..<Int(next() % 6)).map { _ in descriptor() })
        if next() % 3 == 0 { manifest.annotations = ["o\(text())": text(), "p": text()] }
        if next() % 4 == 0 { manifest.subject = descriptor() }
        if next() % 4 == 0 { manifest.artifactType = text() }
        if next() % 4 == 0 { manifest.unknownFields["x-\(text())"] = value(0) }
        return manifest
    }

    @Test("on random manifests, the fast path and Codable agree", arguments: 0..<200)
    func agreesWithCodable(_ seed: Int) throws {
        let manifest = Self.randomManifest(UInt64(seed) &* 0x9E37_79B9_7F4A_7C15)
        let encoder = JSONEncoder()
        encoder.outputFormatting = seed % 2 == 0 ? [.sortedKeys] : [.prettyPrinted]
        let bytes = Array(try encoder.encode(manifest))
        #expect(try JSONDecoder().decode(Manifest.self, from: Data(bytes)) == manifest)
        let fast = try #require(Manifest.readFast(bytes, what: "random"), "a well-formed manifest takes the fast path")
        #expect(fast == manifest)
    }

    /// Input the fast reader refuses: each then goes to Foundation, which decides.
    static let refused: [(name: String, json: [UInt8])] = [
        ("deep nesting", Array(("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":1},\"x\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}").utf8)),
        ("invalid UTF-8", Array("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":1},\"x\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)),
        ("duplicate keys", Array("{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":1}}".utf8)),
        ("no config", Array(#"{"schemaVersion":2,"layers":[]}"#.utf8)),
        ("a null config", Array(#"{"schemaVersion":2,"config":null}"#.utf8)),
        ("a bad digest", Array(#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:ABC","size":1}}"#.utf8)),
        ("a negative size", Array("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":-1}}".utf8)),
        ("layers of the wrong type", Array("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":1},\"layers\":{}}".utf8)),
        ("trailing bytes", Array("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(d1)\",\"size\":1}} x".utf8)),
    ]

    @Test("hostile input is refused by the fast reader and judged by Codable, with a one-line error", arguments: 0..<9)
    func hostileInput(_ position: Int) throws {
        let (name, bytes) = Self.refused[position]
        #expect(Manifest.readFast(bytes, what: "m") == nil, "\(name)")
        let foundation = Result { try JSONDecoder().decode(Manifest.self, from: Data(bytes)) }
        let ours = Result { try JSONCoding.decode(Manifest.self, from: bytes, what: "manifest of L") }
        switch (foundation, ours) {
        case (.success(let expected), .success(let got)):
            #expect(got == expected, "\(name): Foundation takes it, and so does JSONCoding")
        case (.failure, .failure(let error)):
            let failure = try #require(error as? StowageError, "\(name)")
            #expect(failure.message.hasPrefix("manifest of L"), "\(name): \(failure.message)")
            #expect(!failure.description.contains("\n"), "\(name)")
        default:
            Issue.record("\(name): JSONCoding and Foundation disagree: \(foundation) against \(ours)")
        }
    }

    @Test("a document that is not what its descriptor says is refused as before")
    func mislabelled() throws {
        let index = Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        let asManifest = try #require(throws: StowageError.self) { try ContentDocument(index, mediaType: .ociManifest, what: "blob X") }
        #expect(asManifest.message.contains("labelled \(MediaType.ociManifest) by its descriptor, but the document is \(MediaType.ociIndex)"))
        // A manifest that states another media type than its descriptor.
        let docker = Array(Self.shapes[2].json.utf8)
        let wrongType = try #require(throws: StowageError.self) { try ContentDocument(docker, mediaType: .ociManifest, what: "blob Y") }
        #expect(wrongType.message.contains("but the document is \(MediaType.dockerManifest)"))
        // A manifest that also carries `manifests` and states no media type is ambiguous: an index.
        let both = Array("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(Self.d1)\",\"size\":1},\"manifests\":[]}".utf8)
        #expect(throws: StowageError.self) { try ContentDocument(both, mediaType: .ociManifest, what: "blob Z") }
    }
}
