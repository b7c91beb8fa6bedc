import Foundation
import StowageModel
import Testing

/// The SHA-256 of the empty string.
let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// The SHA-256 of "abc".
let abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/// Raw bytes of a hex string (test helper; the input is trusted).
func bytes(fromHex hex: String) -> [UInt8] {
    let chars = Array(hex.utf8)
    return stride(from: 0, to: chars.count, by: 2).map { i in
        UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16)!
    }
}

/// Runs `body`, which must throw a `StowageError`, and returns it.
func stowageError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StowageError? {
    do {
        try body()
        Issue.record("expected a StowageError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as StowageError {
        return error
    } catch {
        Issue.record("expected a StowageError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("Digest")
struct DigestTests {
    static let validInputs: [String] = [
        "sha256:" + emptySHA256,
        "sha256:" + abcSHA256,
        "sha256:" + String(repeating: "0", count: 64),
        "sha256:" + String(repeating: "f", count: 64),
        "sha256:" + String(repeating: "0123456789abcdef", count: 4),
    ]

    @Test("valid digests parse and print back unchanged", arguments: validInputs)
    func valid(_ input: String) throws {
        let digest = try Digest(input)
        #expect(digest.string == input)
        #expect(digest.description == input)
        #expect(digest.hex == String(input.dropFirst("sha256:".count)))
        #expect(Digest.algorithm == "sha256")
    }

    static let invalidInputs: [String] = [
        "",
        "sha256:",
        "sha256",
        emptySHA256,  // missing "sha256:"
        ":" + emptySHA256,
        "sha256:" + emptySHA256.uppercased(),
        "sha256:E" + emptySHA256.dropFirst(),  // a single uppercase digit
        "sha256:" + String(emptySHA256.dropLast()),  // 63 digits
        "sha256:" + emptySHA256 + "0",  // 65 digits
        "sha256:" + String(emptySHA256.dropLast()) + "g",  // not hex
        "sha256::" + emptySHA256,
        "sha256:" + emptySHA256 + ":",
        "sha256: " + String(emptySHA256.dropLast()),
        " sha256:" + emptySHA256,
        "sha256:" + emptySHA256 + " ",
        "sha256:" + emptySHA256 + "\n",
        "sha256:\t" + emptySHA256,
        "sha256:" + emptySHA256 + "\0",
        "sha256:../../../../etc/passwd",
        "sha256:../" + String(emptySHA256.dropFirst(3)),
        "sha256:" + String(emptySHA256.dropLast(2)) + "/a",
        "sha256:" + String(emptySHA256.dropLast(2)) + "..",
        "sha256:/" + String(emptySHA256.dropFirst()),
        "sha256:" + String(emptySHA256.dropLast()) + "é",  // non-ASCII, 64 characters
        "sha256:" + String(emptySHA256.dropLast()) + "\u{FF10}",  // fullwidth zero
        "sha256:" + String(repeating: "٣", count: 64),  // Arabic-Indic digits
        "SHA256:" + emptySHA256,
        "sha512:" + emptySHA256 + emptySHA256,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha384:" + String(repeating: "a", count: 96),
        "blake3:" + emptySHA256,
    ]

    @Test("invalid digests are refused with .invalidDigest", arguments: invalidInputs)
    func invalid(_ input: String) throws {
        let error = try #require(stowageError { _ = try Digest(input) })
        #expect(error.code == .invalidDigest)
        #expect(!error.message.isEmpty)
        #expect(!error.message.contains("\n"), "control characters must not reach the message")
    }

    @Test(
        "unsupported algorithms are named in the message",
        arguments: [
            ("sha512:" + emptySHA256 + emptySHA256, "sha512"),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", "md5"),
            ("SHA256:" + emptySHA256, "SHA256"),
            ("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1"),
        ])
    func unsupportedAlgorithm(_ input: String, _ algorithm: String) throws {
        let error = try #require(stowageError { _ = try Digest(input) })
        #expect(error.code == .invalidDigest)
        #expect(error.message.contains("'\(algorithm)'"))
        #expect(error.message.contains("only sha256"))
    }

    @Test("a missing colon gives a message that says what is expected")
    func missingColonMessage() throws {
        let error = try #require(stowageError { _ = try Digest(emptySHA256) })
        #expect(error.code == .invalidDigest)
        #expect(error.message.contains("expected sha256:"))
        #expect(error.message.contains(emptySHA256))
    }

    @Test("hostile input is kept short and free of control characters in messages")
    func printableMessages() throws {
        let long = "sha256:" + String(repeating: "x", count: 10_000)
        let error = try #require(stowageError { _ = try Digest(long) })
        #expect(error.message.count < 400)
        #expect(error.message.contains("…"))

        let control = "sha256:\u{1b}[31m\r\nevil"
        let error2 = try #require(stowageError { _ = try Digest(control) })
        #expect(!error2.message.contains("\u{1b}"))
        #expect(!error2.message.contains("\r"))
        #expect(!error2.message.contains("\n"))
        #expect(error2.message.contains("?[31m"))
    }

    @Test("Digest(hex:) takes the 64 hex digits alone")
    func fromHex() throws {
        let digest = try Digest(hex: abcSHA256)
        #expect(digest.string == "sha256:" + abcSHA256)
        #expect(digest == (try Digest("sha256:" + abcSHA256)))
        let error = try #require(stowageError { _ = try Digest(hex: "sha256:" + abcSHA256) })
        #expect(error.code == .invalidDigest)
        #expect(throws: StowageError.self) { try Digest(hex: abcSHA256.uppercased()) }
        #expect(throws: StowageError.self) { try Digest(hex: "") }
    }

    @Test(
        "isValidHex",
        arguments: [
            (emptySHA256, true),
            (abcSHA256, true),
            (emptySHA256.uppercased(), false),
            (String(emptySHA256.dropLast()), false),
            (emptySHA256 + "a", false),
            ("", false),
            (String(emptySHA256.dropLast()) + "é", false),
        ])
    func isValidHex(_ hex: String, _ valid: Bool) {
        #expect(Digest.isValidHex(hex) == valid)
    }

    @Test("Digest(sha256Bytes:) renders known SHA-256 sums")
    func fromBytes() throws {
        #expect(Digest(sha256Bytes: bytes(fromHex: emptySHA256)).hex == emptySHA256)
        #expect(Digest(sha256Bytes: bytes(fromHex: abcSHA256)).string == "sha256:" + abcSHA256)
        #expect(Digest(sha256Bytes: [UInt8](repeating: 0, count: 32)).hex == String(repeating: "0", count: 64))
        #expect(Digest(sha256Bytes: [UInt8](repeating: 0xff, count: 32)).hex == String(repeating: "f", count: 64))
        #expect(Digest(sha256Bytes: (0..<32).map { UInt8($0) }).hex.hasPrefix("000102030405060708090a0b0c0d0e0f10"))
    }

    @Test("Digest(sha256Bytes:) stops the process when not given 32 bytes")
    func fromWrongNumberOfBytes() async {
        await #expect(processExitsWith: .failure) {
            _ = Digest(sha256Bytes: [UInt8](repeating: 1, count: 31))
        }
    }

    @Test("short is the first 12 hex digits")
    func short() throws {
        #expect(try Digest("sha256:" + emptySHA256).short == "e3b0c44298fc")
    }

    @Test("digests compare by hex and hash by value")
    func comparison() throws {
        let a = try Digest("sha256:" + String(repeating: "0", count: 64))
        let b = try Digest("sha256:" + abcSHA256)
        let c = try Digest("sha256:" + emptySHA256)
        #expect(a < b)
        #expect(b < c)
        #expect(!(c < a))
        #expect([c, a, b].sorted() == [a, b, c])
        #expect(Set([a, b, c, try Digest(hex: abcSHA256)]).count == 3)
    }

    @Test("on random digests, order, equality and text agree with the hex strings", arguments: 0..<20)
    func randomDigestsAgreeWithHex(_ seed: Int) throws {
        var state = UInt64(seed + 1) &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        // Digests that share long prefixes, so every word of the comparison is exercised.
        let base = (0..<4).map { _ in String(format: "%016llx", next()) }.joined()
        let hexes = (0..<40).map { _ -> String in
            var characters = Array(base)
            let keep = Int(next() % 64)
            for position in keep..<64 { characters[position] = Array("0123456789abcdef")[Int(next() % 16)] }
            return String(characters)
        }
        let digests = try hexes.map { try Digest(hex: $0) }
        #expect(digests.map(\.hex) == hexes)
        #expect(digests.sorted().map(\.hex) == hexes.sorted())
        #expect(Set(digests).count == Set(hexes).count)
        for (digest, hex) in zip(digests, hexes) {
            #expect(digest.string == "sha256:" + hex)
            let raw = bytes(fromHex: hex)
            #expect(Digest(sha256Bytes: raw) == digest)
            #expect(hex.utf8.withContiguousStorageIfAvailable { Digest(hexUTF8: UnsafeRawBufferPointer($0)) } == digest)
        }
    }

    @Test("Digest(hexUTF8:) refuses anything but 64 lowercase hex digits")
    func hexUTF8Refuses() {
        for text in [String(repeating: "a", count: 63), String(repeating: "a", count: 65), "A" + String(repeating: "a", count: 63),
                     String(repeating: "a", count: 63) + "g", String(repeating: "a", count: 63) + "/", ""] {
            #expect(Array(text.utf8).withUnsafeBytes { Digest(hexUTF8: $0) } == nil, "\(text)")
        }
    }

    struct Holder: Codable, Equatable {
        var digest: Digest
    }

    @Test("Codable: a digest is a plain JSON string and round-trips")
    func codableRoundTrip() throws {
        let holder = Holder(digest: try Digest("sha256:" + abcSHA256))
        let bytes = try JSONCoding.encode(holder)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"digest":"sha256:\#(abcSHA256)"}"#)
        let decoded = try JSONDecoder().decode(Holder.self, from: Data(bytes))
        #expect(decoded == holder)
        #expect(try JSONCoding.decode(Holder.self, from: bytes, what: "holder") == holder)
        #expect(try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:\#(emptySHA256)"]"#.utf8)) == [try Digest(hex: emptySHA256)])
    }

    @Test(
        "Codable: decoding an invalid digest fails",
        arguments: [
            #"{"digest":"sha256:\#(emptySHA256.uppercased())"}"#,
            #"{"digest":"sha512:\#(emptySHA256)\#(emptySHA256)"}"#,
            #"{"digest":"sha256:../../etc/passwd"}"#,
            #"{"digest":""}"#,
            #"{"digest":"\#(emptySHA256)"}"#,
        ])
    func decodeInvalid(_ json: String) throws {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Holder.self, from: Data(json.utf8)) }
        let error = try #require(stowageError { _ = try JSONCoding.decode(Holder.self, from: Array(json.utf8), what: "doc.json") })
        #expect(error.code == .invalidDigest)
        #expect(error.message.hasPrefix("doc.json: "))
    }

    @Test("Codable: a digest that is not a string fails", arguments: [#"{"digest":42}"#, #"{"digest":null}"#, #"{"digest":["sha256:x"]}"#])
    func decodeWrongType(_ json: String) throws {
        let error = try #require(stowageError { _ = try JSONCoding.decode(Holder.self, from: Array(json.utf8), what: "doc.json") })
        #expect(error.code == .invalidJSON)
        #expect(error.message.contains("doc.json"))
    }
}
