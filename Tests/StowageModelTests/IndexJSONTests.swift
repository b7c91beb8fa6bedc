import Foundation
import StowageModel
import Testing

/// The fast index path (`JSONReader`, `JSONWriter`, `Index(reading:)`) against the
/// `Codable` path it replaces, on the shapes other tools write and on hostile input.
@Suite("Index JSON fast path")
struct IndexJSONTests {
    static let d1 = "sha256:" + String(repeating: "a", count: 64)
    static let d2 = "sha256:" + String(repeating: "b", count: 64)

    /// `index.json` as other tools write it, with their own spacing, extra fields and annotations.
    static let shapes: [(tool: String, json: String)] = [
        ("skopeo", #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d1)","size":753,"annotations":{"org.opencontainers.image.ref.name":"team/app:v1"}}]}"#),
        ("umoci", """
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [
                {
                  "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "\(d1)",
                  "size": 753,
                  "annotations": { "org.opencontainers.image.ref.name": "latest" },
                  "platform": { "architecture": "amd64", "os": "linux" }
                }
              ],
              "annotations": {}
            }

            """),
        ("buildah", "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"\(d1)\",\"size\":1,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"os.features\":[\"f\"],\"x-future\":[1,2.5,null,true]}},{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"\(d2)\",\"size\":2,\"urls\":[\"https://example.com/x\"],\"data\":\"e30=\",\"artifactType\":\"application/vnd.example\"}]}"),
        ("crane", "\t{ \"schemaVersion\" : 2 , \"mediaType\" : \"application/vnd.oci.image.index.v1+json\" ,\r\n \"manifests\" : [ ] , \"x-vendor\" : { \"nested\" : { \"deep\" : [ \"\\u00e9\\ud83d\\ude00\\n\" ] } } }"),
    ]

    @Test("index.json of other tools' shapes reads the same as through Codable, unknown fields kept", arguments: 0..<4)
    func otherToolsShapes(_ position: Int) throws {
        let (tool, json) = Self.shapes[position]
        let bytes = Array(json.utf8)
        let fast = try Index.parse(bytes, what: tool)
        let codable = try JSONDecoder().decode(Index.self, from: Data(bytes))
        #expect(fast == codable, "\(tool)")
        // Written back and read again, nothing is lost, and the bytes are stable.
        let written = fast.jsonBytes
        #expect(try Index.parse(written, what: tool) == fast)
        #expect(try JSONDecoder().decode(Index.self, from: Data(written)) == codable)
        #expect(try Index.parse(written, what: tool).jsonBytes == written)
    }

    @Test("unknown fields at every level survive a round trip")
    func unknownFieldsSurvive() throws {
        let index = try Index.parse(Array(Self.shapes[2].json.utf8), what: "buildah")
        #expect(index.manifests[0].platform?.unknownFields["x-future"] == .array([.int(1), .double(2.5), .null, .bool(true)]))
        #expect(index.manifests[1].urls == ["https://example.com/x"])
        let crane = try Index.parse(Array(Self.shapes[3].json.utf8), what: "crane")
        #expect(crane.unknownFields["x-vendor"] == .object(["nested": .object(["deep": .array([.string("é😀\n")])])]))
        let text = String(decoding: crane.jsonBytes, as: UTF8.self)
        #expect(text == #"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2,"x-vendor":{"nested":{"deep":["é😀\n"]}}}"#)
    }

    /// A random index: entries with and without names, platforms, annotations and unknown fields.
    static func randomIndex(_ seed: UInt64) -> Index {
        var random = RandomJSON(seed: seed)
        func next() -> UInt64 { random.next() }
        func text() -> String { random.text() }
        func value(_ depth: Int) -> JSONValue { random.value(depth) }
        // Unknown keys that sort before, between and after the known ones.
        func unknownKey() -> String {
            let stems = ["A", "b", "annotationz", "dz", "digest0", "mediaTypf", "os.z", "platforms", "sizes", "u", "x-"]
            return stems[Int(next() % UInt64(stems.count))] + text()
        }
        var index = Index()
        index.mediaType = next() % 3 == 0 ? nil : .ociIndex
        if next() % 4 == 0 { index.annotations = ["a": text(), "b\(text())": text()] }
        if next() % 4 == 0 { index.unknownFields["x-\(text())"] = value(0) }
        for _ in 0..<Int(next() % 20) {
            var descriptor = Descriptor(mediaType: MediaType(text()), digest: random.digest(), size: Int64(next() % 1_000_000))
            if next() % 2 == 0 { descriptor.refName = "team/app:\(next() % 100)" }
            if next() % 3 == 0 {
                var platform = Platform(os: "linux", architecture: text(), variant: next() % 2 == 0 ? "v\(next() % 9)" : nil)
                if next() % 3 == 0 { platform.osVersion = text() }
                if next() % 3 == 0 { platform.osFeatures = [text()] }
                if next() % 3 == 0 { platform.unknownFields[unknownKey()] = value(1) }
                descriptor.platform = platform
            }
            if next() % 4 == 0 { descriptor.artifactType = text() }
            if next() % 6 == 0 { descriptor.data = text() }
            for _ in 0..<Int(next() % 3) { descriptor.unknownFields[unknownKey()] = value(0) }
            if next() % 5 == 0 { descriptor.urls = [text()] }
            index.manifests.append(descriptor)
        }
        return index
    }

    @Test("on random indexes, the fast path and Codable agree both ways", arguments: 0..<200)
    func agreesWithCodable(_ seed: Int) throws {
        let index = Self.randomIndex(UInt64(seed) &* 0x9E37_79B9_7F4A_7C15)
        let fastBytes = index.jsonBytes
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let codableBytes = Array(try encoder.encode(index))
        #expect(try Index.parse(fastBytes, what: "fast") == index)
        #expect(try JSONWriter.bytes(of: JSONReader.parse(fastBytes, what: "fast")) == fastBytes,
                "keys at every level come out in the order the generic writer sorts them")
        #expect(try Index.parse(codableBytes, what: "codable") == index)
        #expect(try JSONDecoder().decode(Index.self, from: Data(fastBytes)) == index)
        #expect(try Index.parse(Index.parse(codableBytes, what: "codable").jsonBytes, what: "again").jsonBytes == fastBytes,
                "the same content always gives the same bytes")
    }

    static let hostile: [(name: String, bytes: [UInt8], mentions: String)] = [
        ("deep nesting", Array((#"{"schemaVersion":2,"x":"# + String(repeating: "[", count: 100_000)).utf8), "more than 64 levels deep"),
        ("invalid UTF-8", Array(#"{"schemaVersion":2,"x":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), "invalid UTF-8"),
        ("duplicate keys", Array(#"{"schemaVersion":2,"schemaVersion":3}"#.utf8), "the key 'schemaVersion' twice"),
        ("a duplicate key in a large object",
         Array(("{\"schemaVersion\":2," + (0..<20).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k3\":0}").utf8), "the key 'k3' twice"),
        ("a control character in a string", Array(#"{"schemaVersion":2,"x":"a"#.utf8) + [0x01] + Array(#""}"#.utf8), "control character"),
        ("a lone surrogate", Array(#"{"schemaVersion":2,"x":"\ud800"}"#.utf8), "lone surrogate"),
        ("trailing bytes", Array(#"{"schemaVersion":2} {}"#.utf8), "after the document"),
        ("a leading zero", Array(#"{"schemaVersion":02}"#.utf8), "leading zero"),
        ("an unterminated string", Array(#"{"schemaVersion":2,"x":"abc"#.utf8), "unterminated string"),
    ]

    @Test("hostile input gets a one-line error naming the document", arguments: 0..<9)
    func hostileInput(_ position: Int) throws {
        let (name, bytes, mention) = Self.hostile[position]
        let error = try #require(throws: StowageError.self) { try Index.parse(bytes, what: "index.json of L") }
        #expect(error.code == .invalidJSON, "\(name)")
        #expect(error.message.hasPrefix("index.json of L "), "\(name): \(error.message)")
        #expect(error.message.contains(mention), "\(name): \(error.message)")
        #expect(!error.description.contains("\n"))
    }

    @Test("a huge string is read whole, in chunks")
    func hugeString() throws {
        let long = String(repeating: "x", count: 5_000_000)
        let bytes = Array(#"{"schemaVersion":2,"annotations":{"a":""#.utf8) + Array(long.utf8) + Array(#""}}"#.utf8)
        var offset = 0
        let reader = JSONReader(what: "big", chunkSize: 4096) { buffer in
            let n = min(buffer.count, bytes.count - offset)
            bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            offset += n
            return n
        }
        let index = try Index(reading: reader, what: "big")
        #expect(index.annotations?["a"] == long)
    }
}
