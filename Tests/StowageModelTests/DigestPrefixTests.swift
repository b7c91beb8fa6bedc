import StowageModel
import Testing

@Suite struct DigestPrefixTests {
    static let hex = "340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"

    @Test("12 to 64 hex digits, with or without sha256:, are a prefix")
    func accepted() throws {
        for text in ["sha256:340e505f4c53", "340e505f4c53", "sha256:\(Self.hex)", Self.hex] {
            let prefix = try #require(try DigestPrefix(text), "\(text)")
            #expect(prefix.matches(try Digest(hex: Self.hex)))
        }
        #expect(try DigestPrefix(Self.hex)?.digest == (try Digest(hex: Self.hex)))
        #expect(try DigestPrefix("340e505f4c53")?.digest == nil)
        #expect(try DigestPrefix("340e505f4c53")?.description == "sha256:340e505f4c53…")
    }

    @Test("bare text that is not 12+ lowercase hex is no digest at all")
    func notADigest() throws {
        for text in ["340e505f", "team/app:v1", "340E505F4C53", "latest", ""] {
            #expect(try DigestPrefix(text) == nil, "\(text)")
        }
    }

    @Test("sha256: with too few digits, or with other characters, is an error")
    func refused() throws {
        #expect(throws: StowageError.self) { _ = try DigestPrefix("sha256:340e505f") }
        #expect(throws: StowageError.self) { _ = try DigestPrefix("sha256:340E505F4C53") }
        #expect(throws: StowageError.self) { _ = try DigestPrefix("sha256:" + Self.hex + "0") }
        do {
            _ = try DigestPrefix("sha256:340e505f")
        } catch let error as StowageError {
            #expect(error.message == "digest 'sha256:340e505f' is too short: give at least 12 hex digits, as `stowage ls` shows them")
        }
    }
}
