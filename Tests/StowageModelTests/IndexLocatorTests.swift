import Foundation
import StowageModel
import Testing

/// The lookup path (`IndexLocator`): the entries it returns must be the ones a full
/// read finds, and it must give up, not guess, on documents that are not plainly indexes.
@Suite("Index locator")
struct IndexLocatorTests {
    /// Stowage's bytes, Foundation's (which escapes `/` as `\/`) and a pretty-printed form.
    static func shapes(of index: Index) throws -> [[UInt8]] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted]
        return [index.jsonBytes, Array(try JSONEncoder().encode(index)), Array(try encoder.encode(index))]
    }

    @Test("on random indexes, a name or digest finds what a full read finds", arguments: 0..<100)
    func agreesWithFullRead(_ seed: Int) throws {
        var index = IndexJSONTests.randomIndex(UInt64(seed) &* 0x2545_F491_4F6C_DD1D)
        if index.manifests.count > 2 { index.manifests[2].refName = "team/app:\(seed % 100)" }   // a name used twice, at times
        for bytes in try Self.shapes(of: index) {
            for entry in index.manifests {
                let needles = [Array("\"\(entry.refName ?? "")\"".utf8), Array(entry.digest.hex.utf8)]
                guard let found = try IndexLocator.entries(in: bytes, what: "i", containing: needles) else {
                    // Giving up is only for a top-level key written with an escape.
                    #expect(index.unknownFields.keys.contains { $0.unicodeScalars.contains { "\"\\/".unicodeScalars.contains($0) || $0.value < 0x20 } })
                    continue
                }
                if let name = entry.refName {
                    #expect(found.first { $0.refName == name } == index.manifests.first { $0.refName == name })
                }
                #expect(found.first { $0.digest == entry.digest } == index.manifests.first { $0.digest == entry.digest })
            }
        }
    }

    @Test("entries that do not mention the needle are skipped")
    func skipsTheRest() throws {
        var index = Index()
        for i in 0..<50 {
            index.manifests.append(Descriptor(
                mediaType: .ociManifest, digest: try Digest(hex: String(format: "%064x", i)), size: Int64(i),
                annotations: [Descriptor.refNameAnnotation: "team/repo\(i):t"]))
        }
        let found = try #require(try IndexLocator.entries(in: index.jsonBytes, what: "i", containing: [Array("\"team/repo7:".utf8)]))
        #expect(found.map(\.refName) == ["team/repo7:t"])
    }

    static let unplain: [String] = [
        #"{"schemaVersion":2,"manifests":[],"manifests":[]}"#,          // a second manifests
        #"{"schemaVersion":2,"manifests":[]} x"#,                        // trailing bytes
        #"{"manifests":[]}"#,                                            // no schemaVersion
        #"{"schemaVersion":2,"schemaVersion":2,"manifests":[]}"#,       // a second schemaVersion
        #"{"schemaVersion":2,"manif\u0065sts":[{"a":1}]}"#,             // a key with an escape
        #"{"schemaVersion":2,"manifests":{}}"#,                          // not an array
        #"[]"#,
        #"{"schemaVersion":2,"manifests":[{"a":"b"]}"#,                 // brackets that do not match
    ]

    @Test("documents that are not plainly indexes are left to the full read", arguments: unplain)
    func givesUp(_ text: String) throws {
        #expect(try IndexLocator.entries(in: Array(text.utf8), what: "i", containing: [Array("a".utf8)]) == nil)
    }

    @Test("a cut document is never taken, at any length")
    func cutDocuments() throws {
        let bytes = IndexJSONTests.randomIndex(7).jsonBytes
        for length in 0..<bytes.count {
            #expect(try IndexLocator.entries(in: Array(bytes[..<length]), what: "i", containing: [Array("\"".utf8)]) == nil)
        }
    }

    @Test("a matching entry that is invalid gets the general reader's error")
    func invalidMatch() throws {
        let text = #"{"schemaVersion":2,"manifests":[{"digest":"sha256:12","mediaType":"m","size":1,"annotations":{"org.opencontainers.image.ref.name":"x"}}]}"#
        let error = try #require(throws: StowageError.self) {
            try IndexLocator.entries(in: Array(text.utf8), what: "index.json of L", containing: [Array("\"x\"".utf8)])
        }
        #expect(error.message.hasPrefix("index.json of L"))
    }
}
