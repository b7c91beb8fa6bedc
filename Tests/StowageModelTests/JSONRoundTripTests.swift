import Foundation
import StowageModel
import Testing

private let d1 = "sha256:" + emptySHA256
private let d2 = "sha256:" + abcSHA256
private let d3 = "sha256:" + String(repeating: "1", count: 64)

/// Decodes `json` as `T`, encodes it with `JSONCoding.encode`, decodes that again,
/// and checks the two values are equal; returns the value and the encoded text.
private func roundTrip<T: Codable & Equatable>(
    _ type: T.Type, _ json: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> (value: T, encoded: String) {
    let value = try JSONCoding.decode(type, from: Array(json.utf8), what: "input")
    let encoded = try JSONCoding.encode(value)
    let again = try JSONCoding.decode(type, from: encoded, what: "re-encoded")
    #expect(again == value, sourceLocation: sourceLocation)
    #expect(try JSONCoding.encode(again) == encoded, "encoding is stable", sourceLocation: sourceLocation)
    return (value, String(decoding: encoded, as: UTF8.self))
}

/// The parsed JSON of `text` as Foundation objects, to compare documents regardless of key order.
private func jsonObject(_ text: String) throws -> NSDictionary {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
}

@Suite("JSON round trips")
struct JSONRoundTripTests {
    static let indexJSON = #"""
    {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "x-vendor": {"nested": {"list": [1, -2, 2.5, true, false, null, "s", {"deep": []}], "empty": {}}},
      "x-count": 42,
      "x-flag": true,
      "x-null": null,
      "x-float": 0.125,
      "x-big": 9007199254740993,
      "x-text": "a/b \"quoted\" \u00e9",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": "\#(d1)",
          "size": 527,
          "annotations": {"org.opencontainers.image.ref.name": "team/app:v1"},
          "platform": {"os": "linux", "architecture": "arm64", "variant": "v8", "features": ["sse4"], "x-p": {"k": 1}},
          "x-descriptor-extra": [1, {"a": null}]
        },
        {
          "mediaType": "application/vnd.example.unknown+json",
          "digest": "\#(d2)",
          "size": 0,
          "artifactType": "application/vnd.example.sbom",
          "urls": ["https://example.com/blob"],
          "data": "e30="
        }
      ],
      "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\#(d3)", "size": 7},
      "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    }
    """#

    @Test("an index keeps every field it does not model")
    func index() throws {
        let (index, encoded) = try roundTrip(Index.self, Self.indexJSON)
        #expect(index.schemaVersion == 2)
        #expect(index.mediaType == .ociIndex)
        #expect(index.manifests.count == 2)
        #expect(index.subject?.digest.string == d3)
        #expect(index.annotations == ["org.opencontainers.image.created": "2024-01-01T00:00:00Z"])

        #expect(index.unknownFields["x-count"] == .int(42))
        #expect(index.unknownFields["x-flag"] == .bool(true))
        #expect(index.unknownFields["x-null"] == .null)
        #expect(index.unknownFields["x-float"] == .double(0.125))
        #expect(index.unknownFields["x-big"] == .int(9_007_199_254_740_993))
        #expect(index.unknownFields["x-text"] == .string("a/b \"quoted\" é"))
        #expect(
            index.unknownFields["x-vendor"]
                == .object([
                    "nested": .object([
                        "list": .array([.int(1), .int(-2), .double(2.5), .bool(true), .bool(false), .null, .string("s"), .object(["deep": .array([])])]),
                        "empty": .object([:]),
                    ])
                ]))
        #expect(Set(index.unknownFields.keys) == ["x-vendor", "x-count", "x-flag", "x-null", "x-float", "x-big", "x-text"])

        let first = index.manifests[0]
        #expect(first.refName == "team/app:v1")
        #expect(first.unknownFields == ["x-descriptor-extra": .array([.int(1), .object(["a": .null])])])
        #expect(first.platform?.unknownFields == ["features": .array([.string("sse4")]), "x-p": .object(["k": .int(1)])])
        #expect(first.platform?.variant == "v8")

        let second = index.manifests[1]
        #expect(second.mediaType == "application/vnd.example.unknown+json")
        #expect(second.artifactType == "application/vnd.example.sbom")
        #expect(second.urls == ["https://example.com/blob"])
        #expect(second.data == "e30=")
        #expect(second.size == 0)
        #expect(second.unknownFields.isEmpty)

        // The output holds the same document, unknown fields included.
        #expect(encoded.contains(#""x-null":null"#))
        #expect(encoded.contains(#""x-count":42"#))
        #expect(encoded.contains(#""x-big":9007199254740993"#))
        #expect(encoded.contains(#""features":["sse4"]"#))
        #expect(encoded.contains(#""x-descriptor-extra":[1,{"a":null}]"#))
        #expect(encoded.contains(#""urls":["https://example.com/blob"]"#), "slashes are not escaped")
        #expect(try jsonObject(encoded) == (try jsonObject(Self.indexJSON)))
    }

    @Test("a manifest keeps every field it does not model")
    func manifest() throws {
        let json = #"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "artifactType":"application/vnd.example",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(d1)","size":2,"x-c":[true]},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(d2)","size":100,"x-l":{"n":null}},
                   {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(d3)","size":3}],
         "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d3)","size":9},
         "annotations":{"a":"b"},
         "x-m":{"arr":[[],[{}]],"num":-7,"neg":-0.5},"x-false":false}
        """#
        let (manifest, encoded) = try roundTrip(Manifest.self, json)
        #expect(manifest.schemaVersion == 2)
        #expect(manifest.mediaType == .ociManifest)
        #expect(manifest.artifactType == "application/vnd.example")
        #expect(manifest.config.digest.string == d1)
        #expect(manifest.config.unknownFields == ["x-c": .array([.bool(true)])])
        #expect(manifest.layers.map(\.digest.string) == [d2, d3])
        #expect(manifest.layers[0].unknownFields == ["x-l": .object(["n": .null])])
        #expect(ContentDocument.manifest(manifest).references.map(\.descriptor.digest.string) == [d1, d2, d3, d3], "config, layers, then subject")
        #expect(manifest.unknownFields["x-m"] == .object(["arr": .array([.array([]), .array([.object([:])])]), "num": .int(-7), "neg": .double(-0.5)]))
        #expect(manifest.unknownFields["x-false"] == .bool(false))
        #expect(encoded.contains(#""x-false":false"#))
        #expect(encoded.contains(#""x-m":{"arr":[[],[{}]],"neg":-0.5,"num":-7}"#))
        #expect(try jsonObject(encoded) == (try jsonObject(json)))
    }

    @Test("a manifest without layers decodes with none; config is required")
    func manifestFields() throws {
        let noLayers = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(d1)","size":2}}"#
        let manifest = try JSONCoding.decode(Manifest.self, from: Array(noLayers.utf8), what: "m")
        #expect(manifest.layers.isEmpty)
        #expect(manifest.mediaType == nil)
        #expect(ContentDocument.manifest(manifest).references.count == 1)

        let error = try #require(stowageError { _ = try JSONCoding.decode(Manifest.self, from: Array(#"{"schemaVersion":2,"layers":[]}"#.utf8), what: "manifest sha256:abc") })
        #expect(error.code == .invalidJSON)
        #expect(error.message.contains("manifest sha256:abc"))
        #expect(error.message.contains("'config'"))
    }

    @Test("a descriptor keeps every field it does not model")
    func descriptor() throws {
        let json = #"""
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d1)","size":9223372036854775807,
         "annotations":{"k":"v"},"platform":{"os":"linux","architecture":"amd64","os.version":"1","os.features":["f"]},
         "x-obj":{"a":{"b":{"c":[null,1.5,"x"]}}},"x-arr":[],"x-zero":0,"x-t":true,"x-n":null}
        """#
        let (descriptor, encoded) = try roundTrip(Descriptor.self, json)
        #expect(descriptor.size == Int64.max)
        #expect(descriptor.annotations == ["k": "v"])
        #expect(descriptor.platform?.osVersion == "1")
        #expect(descriptor.platform?.osFeatures == ["f"])
        #expect(descriptor.platform?.unknownFields.isEmpty == true)
        #expect(descriptor.unknownFields.count == 5)
        #expect(descriptor.unknownFields["x-obj"] == .object(["a": .object(["b": .object(["c": .array([.null, .double(1.5), .string("x")])])])]))
        #expect(descriptor.unknownFields["x-n"] == .null)
        #expect(encoded.contains(#""os.version":"1""#))
        #expect(encoded.contains(#""os.features":["f"]"#))
        #expect(encoded.contains(#""x-n":null"#))
        #expect(try jsonObject(encoded) == (try jsonObject(json)))
    }

    @Test("a platform keeps every field it does not model")
    func platform() throws {
        let json = #"{"os":"linux","architecture":"amd64","variant":"v2","features":["sse4","avx"],"x":{"y":[1,null,false]},"z":null}"#
        let (platform, encoded) = try roundTrip(Platform.self, json)
        #expect(platform.description == "linux/amd64/v2")
        #expect(platform.unknownFields == [
            "features": .array([.string("sse4"), .string("avx")]),
            "x": .object(["y": .array([.int(1), .null, .bool(false)])]),
            "z": .null,
        ])
        #expect(encoded == #"{"architecture":"amd64","features":["sse4","avx"],"os":"linux","variant":"v2","x":{"y":[1,null,false]},"z":null}"#)
    }

    @Test("unknown fields take part in equality")
    func unknownFieldsInEquality() throws {
        let a = try JSONCoding.decode(Platform.self, from: Array(#"{"os":"linux","architecture":"amd64","x":1}"#.utf8), what: "a")
        let b = try JSONCoding.decode(Platform.self, from: Array(#"{"os":"linux","architecture":"amd64","x":2}"#.utf8), what: "b")
        #expect(a != b)
        #expect(a != Platform(os: "linux", architecture: "amd64"))
    }

    @Test("an index without manifests decodes as empty and encodes an empty list")
    func emptyIndex() throws {
        let index = try JSONCoding.decode(Index.self, from: Array(#"{"schemaVersion":2}"#.utf8), what: "index.json")
        #expect(index.manifests.isEmpty)
        #expect(index.mediaType == nil)
        #expect(String(decoding: try JSONCoding.encode(index), as: UTF8.self) == #"{"manifests":[],"schemaVersion":2}"#)
        #expect(String(decoding: try JSONCoding.encode(Index()), as: UTF8.self) == #"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#)
    }

    // MARK: - errors

    @Test("a negative descriptor size is refused", arguments: [-1, -9_223_372_036_854_775_807])
    func negativeSize(_ size: Int64) throws {
        let json = #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(d1)","size":\#(size)}"#
        let error = try #require(stowageError { _ = try JSONCoding.decode(Descriptor.self, from: Array(json.utf8), what: "layer of x") })
        #expect(error.code == .invalidJSON)
        #expect(error.message.hasPrefix("layer of x: "))
        #expect(error.message.contains("negative size \(size)"))
        #expect(error.message.contains(d1))

        let inIndex = #"{"schemaVersion":2,"manifests":[\#(json)]}"#
        let nested = try #require(stowageError { _ = try JSONCoding.decode(Index.self, from: Array(inIndex.utf8), what: "index.json") })
        #expect(nested.code == .invalidJSON)
        #expect(nested.message.hasPrefix("index.json: "))
    }

    @Test("a size of zero is allowed")
    func zeroSize() throws {
        let json = #"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(d1)","size":0}"#
        #expect(try JSONCoding.decode(Descriptor.self, from: Array(json.utf8), what: "d").size == 0)
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var json: String
        var mentions: [String]
        var testDescription: String { json }
    }

    static let badIndexes: [BadInput] = [
        BadInput(json: "", mentions: ["not valid JSON"]),
        BadInput(json: "not json", mentions: ["not valid JSON"]),
        BadInput(json: #"{"schemaVersion":2,"#, mentions: ["not valid JSON"]),
        BadInput(json: "[]", mentions: []),
        BadInput(json: "{}", mentions: ["'schemaVersion'"]),
        BadInput(json: #"{"schemaVersion":"2"}"#, mentions: ["schemaVersion", "wrong type"]),
        BadInput(json: #"{"schemaVersion":2,"manifests":{}}"#, mentions: ["manifests", "wrong type"]),
        BadInput(json: #"{"schemaVersion":2,"manifests":[{"digest":"\#(d1)","size":1}]}"#, mentions: ["'mediaType'"]),
        BadInput(json: #"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"\#(d1)","size":"1"}]}"#, mentions: ["manifests", "size"]),
        BadInput(json: #"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"\#(d1)","size":1.5}]}"#, mentions: []),
        BadInput(json: #"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"\#(d1)","size":null}]}"#, mentions: []),
        BadInput(json: #"{"schemaVersion":2,"annotations":{"a":1}}"#, mentions: ["annotations"]),
        BadInput(json: #"{"schemaVersion":null}"#, mentions: []),
    ]

    @Test("JSONCoding.decode errors are .invalidJSON and name the document", arguments: badIndexes)
    func decodeErrors(_ input: BadInput) throws {
        let what = "index.json of /tmp/archive.tar"
        let error = try #require(stowageError { _ = try JSONCoding.decode(Index.self, from: Array(input.json.utf8), what: what) })
        #expect(error.code == .invalidJSON)
        #expect(error.message.hasPrefix(what + " "))
        for mention in input.mentions {
            #expect(error.message.contains(mention), "message: \(error.message)")
        }
        #expect(!error.description.contains("\n"))
    }

    @Test("JSONCoding.decode keeps the code of a StowageError and prefixes the document")
    func decodeKeepsStowageErrors() throws {
        let json = #"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:zz","size":1}]}"#
        let error = try #require(stowageError { _ = try JSONCoding.decode(Index.self, from: Array(json.utf8), what: "index.json") })
        #expect(error.code == .invalidDigest)
        #expect(error.message.hasPrefix("index.json: invalid sha256 digest"))
    }

    // MARK: - encoding

    @Test("JSONCoding.encode is deterministic, sorts keys and does not escape slashes")
    func deterministicEncoding() throws {
        var a = Index(manifests: [
            Descriptor(mediaType: .ociManifest, digest: try Digest(d1), size: 3, annotations: ["z": "1", "a": "2", "m": "3"]),
        ])
        var b = a
        let fields: [(String, JSONValue)] = [("zeta", .int(1)), ("alpha", .string("x/y")), ("mid", .object(["q": .null, "b": .bool(true)]))]
        for (key, value) in fields { a.unknownFields[key] = value }
        for (key, value) in fields.reversed() { b.unknownFields[key] = value }
        #expect(a == b)
        let encodedA = try JSONCoding.encode(a)
        #expect(encodedA == (try JSONCoding.encode(a)))
        #expect(encodedA == (try JSONCoding.encode(b)))
        let text = String(decoding: encodedA, as: UTF8.self)
        #expect(
            text == #"{"alpha":"x/y","manifests":[{"annotations":{"a":"2","m":"3","z":"1"},"digest":"\#(d1)","mediaType":"application/vnd.oci.image.manifest.v1+json","size":3}],"mediaType":"application/vnd.oci.image.index.v1+json","mid":{"b":true,"q":null},"schemaVersion":2,"zeta":1}"#)
        #expect(!text.contains(#"\/"#))
        #expect(!text.contains("\n"))
    }

    @Test("a descriptor encodes to exactly the expected bytes")
    func descriptorBytes() throws {
        let descriptor = Descriptor(mediaType: .ociLayerGzip, digest: try Digest(d2), size: 1234, platform: Platform(os: "linux", architecture: "amd64"))
        #expect(
            String(decoding: try JSONCoding.encode(descriptor), as: UTF8.self)
                == #"{"digest":"\#(d2)","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","platform":{"architecture":"amd64","os":"linux"},"size":1234}"#)
    }

    @Test("encodePretty and prettyPrinted indent, sort and keep every field")
    func pretty() throws {
        let pretty = try JSONCoding.prettyPrinted(Array(#"{"b":{"y":null,"x":[1,2]},"a":"c/d"}"#.utf8), what: "doc")
        #expect(pretty.contains("\n"))
        #expect(pretty.contains("\"c/d\""))
        let a = try #require(pretty.range(of: "\"a\""))
        let b = try #require(pretty.range(of: "\"b\""))
        #expect(a.lowerBound < b.lowerBound)
        #expect(try jsonObject(pretty) == (try jsonObject(#"{"b":{"y":null,"x":[1,2]},"a":"c/d"}"#)))
        let encoded = try JSONCoding.encodePretty(Platform(os: "linux", architecture: "amd64"))
        #expect(encoded.contains("\n"))
        #expect(try JSONCoding.decode(Platform.self, from: Array(encoded.utf8), what: "p") == Platform(os: "linux", architecture: "amd64"))

        let error = try #require(stowageError { _ = try JSONCoding.prettyPrinted(Array("{nope".utf8), what: "blob sha256:1") })
        #expect(error.code == .invalidJSON)
        #expect(error.message.contains("blob sha256:1"))
    }
}
