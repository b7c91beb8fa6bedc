import Foundation
import Testing

@testable import StowageModel

/// The fast path for index entries: what it takes must read exactly as the general
/// reader (and Codable) read it; what it does not take must go to the general reader.
@Suite("Descriptor scanner")
struct DescriptorScannerTests {
    static let digest = "sha256:" + String(repeating: "0123456789abcdef", count: 4)

    /// Entries the scanner takes: Stowage's sorted keys, Go's struct order (skopeo,
    /// buildah, umoci), pretty-printed, with a variant, with several or no annotations.
    static let fast: [String] = [
        #"{"annotations":{"org.opencontainers.image.ref.name":"team/app:v1"},"digest":"\#(digest)","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"linux"},"size":694}"#,
        #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":0,"platform":{"architecture":"arm64","os":"linux","variant":"v8"},"annotations":{"a":"b","org.opencontainers.image.ref.name":"x"}}"#,
        "{\n  \"mediaType\" : \"application/vnd.oci.image.index.v1+json\",\n\t\"digest\": \"\(digest)\",\r\n  \"size\": 123456789012345678\n}",
        #"{"digest":"\#(digest)","mediaType":"m","size":7,"annotations":{}}"#,
        #"{"size":1,"digest":"\#(digest)","mediaType":"é😀 non-ASCII is fine","annotations":{"k":"välue"}}"#,
    ]

    /// Entries the scanner leaves to the general reader: valid ones of other shapes and
    /// invalid ones, whose error the general reader must give.
    static let slow: [String] = [
        #"{"digest":"\#(digest)","mediaType":"m\/x","size":1}"#,                       // an escape
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"urls":["u"]}"#,             // another known field
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"x-vendor":true}"#,          // an unknown field
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"annotations":null}"#,       // null
        #"{"digest":"\#(digest)","mediaType":"m","size":1.0}"#,                        // a fraction
        #"{"digest":"\#(digest)","mediaType":"m","size":1e3}"#,                        // an exponent
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"platform":{"os":"linux","architecture":"amd64","os.version":"1"}}"#,
        #"{"digest":"\#(digest)","mediaType":"m","size":-1}"#,                         // negative: an error
        #"{"digest":"\#(digest)","mediaType":"m","size":01}"#,                         // a leading zero: an error
        #"{"digest":"\#(digest.uppercased())","mediaType":"m","size":1}"#,             // an invalid digest: an error
        #"{"digest":"sha512:abc","mediaType":"m","size":1}"#,                          // another algorithm: an error
        #"{"digest":"\#(digest)","mediaType":"m","mediaType":"n","size":1}"#,          // a duplicate key: an error
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"annotations":{"a":"1","a":"2"}}"#,   // likewise, nested
        #"{"digest":"\#(digest)","mediaType":"m"}"#,                                   // no size: an error
        #"{"digest":"\#(digest)","mediaType":"m","size":1,"platform":{"os":"linux"}}"#,        // no architecture: an error
        #"{"digest":"\#(digest)","mediaType":"m","size":1,}"#,                         // a trailing comma: an error
        #"{"digest":"\#(digest)","mediaType":"m","size":1 "x":1}"#,                   // a missing comma: an error
        #"{}"#,
        #"[]"#,
    ]

    func scan(_ text: String) -> (value: Descriptor, used: Int)? {
        let scanner = DescriptorScanner()
        return Array(text.utf8).withUnsafeBytes { scanner.scan($0) }
    }

    @Test("entries of the common shapes are taken whole, and read as Codable reads them", arguments: fast)
    func takesCommonShapes(_ entry: String) throws {
        let result = try #require(scan(entry))
        #expect(result.used == entry.utf8.count)
        #expect(result.value == (try JSONDecoder().decode(Descriptor.self, from: Data(entry.utf8))))
        // In an index the fast and general paths give the same entry.
        let index = try Index.parse(Array(#"{"schemaVersion":2,"manifests":[\#(entry),\#(entry)]}"#.utf8), what: "i")
        #expect(index.manifests == [result.value, result.value])
    }

    @Test("a cut entry is never taken, at any length")
    func cutEntriesAreLeft() {
        for entry in Self.fast {
            let bytes = Array(entry.utf8)
            for length in 0..<bytes.count {
                let scanner = DescriptorScanner()
                #expect(bytes[..<length].withUnsafeBytes { scanner.scan($0) } == nil, "\(length) bytes of \(entry)")
            }
        }
    }

    @Test("invalid UTF-8 is left to the general reader, which names it")
    func invalidUTF8() throws {
        for bad in [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80]] as [[UInt8]] {
            let entry = Array(#"{"digest":"\#(Self.digest)","mediaType":"m"#.utf8) + bad + Array(#"","size":1}"#.utf8)
            let scanner = DescriptorScanner()
            #expect(entry.withUnsafeBytes { scanner.scan($0) } == nil)
            let error = try #require(throws: StowageError.self) {
                try Index.parse(Array(#"{"schemaVersion":2,"manifests":["#.utf8) + entry + Array("]}".utf8), what: "i")
            }
            #expect(error.message.contains("invalid UTF-8"))
        }
    }

    @Test("other shapes and invalid entries go to the general reader, which agrees with Codable", arguments: slow)
    func leavesTheRest(_ entry: String) throws {
        #expect(scan(entry) == nil)
        let document = Array(#"{"schemaVersion":2,"manifests":[\#(entry)]}"#.utf8)
        let general = Result { try Index.parse(document, what: "i") }
        let codable = Result { try JSONDecoder().decode(Index.self, from: Data(document)) }
        switch (general, codable) {
        case (.success(let fast), .success(let slow)): #expect(fast == slow)
        case (.failure(let error), _):
            let code = (error as? StowageError)?.code
            #expect(code == .invalidJSON || code == .invalidDigest, "\(error)")
        case (.success, .failure(let error)): Issue.record("read an entry Codable refuses: \(error)")
        }
    }
}
