import Foundation
import NIOCore
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

@testable import StowageRegistry

@Suite("Registry client helpers")
struct ClientHelpersTests {
    // MARK: Range and Retry-After

    @Test func uploadedBytesFromRange() {
        #expect(RegistryClient.uploadedBytes("0-99", anythingAcknowledged: true) == 100)
        #expect(RegistryClient.uploadedBytes("0-0", anythingAcknowledged: true) == 1)
        #expect(RegistryClient.uploadedBytes("0-67108863", anythingAcknowledged: false) == 64 << 20)
        #expect(RegistryClient.uploadedBytes("bytes=0-1023", anythingAcknowledged: true) == 1024)
    }

    @Test("distribution's 0-0 for an empty session means nothing stored until a chunk was acknowledged")
    func zeroZeroBeforeAnyChunkIsEmpty() {
        #expect(RegistryClient.uploadedBytes("0-0", anythingAcknowledged: false) == 0)
    }

    @Test(arguments: [nil, "", "garbage", "0-", "-", "0-abc", "99"] as [String?])
    func uploadedBytesWithoutAUsableRangeIsZero(range: String?) {
        #expect(RegistryClient.uploadedBytes(range, anythingAcknowledged: true) == 0)
    }

    @Test func retryAfterSeconds() {
        #expect(RegistryClient.parseRetryAfter("3") == 3)
        #expect(RegistryClient.parseRetryAfter(" 7 ") == 7)
        #expect(RegistryClient.parseRetryAfter("0") == 0)
        #expect(RegistryClient.parseRetryAfter("1.5") == 1.5)
        #expect(RegistryClient.parseRetryAfter("-5") == 0, "a negative delay means now")
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    @Test func retryAfterHTTPDateInTheFuture() throws {
        let header = Self.httpDate(Date().addingTimeInterval(30))
        let delay = try #require(RegistryClient.parseRetryAfter(header), "\(header)")
        #expect(delay > 27 && delay <= 31, "\(header) → \(delay)")
    }

    @Test func retryAfterHTTPDateInThePastIsZero() throws {
        let header = Self.httpDate(Date().addingTimeInterval(-3600))
        #expect(RegistryClient.parseRetryAfter(header) == 0, "\(header)")
        #expect(RegistryClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == 0)
    }

    @Test(arguments: ["", "soon", "tomorrow at noon", "21 Oct 2015", "3s"])
    func retryAfterGarbageIsNil(value: String) {
        #expect(RegistryClient.parseRetryAfter(value) == nil)
    }

    // MARK: Error bodies

    @Test func registryErrorMessageOfAnOCIErrorBody() {
        let one = #"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"}]}"#
        #expect(RegistryClient.registryErrorMessage(one) == "BLOB_UNKNOWN blob unknown to registry")
        let two = #"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"UNAUTHORIZED"},{"message":"only a message"}]}"#
        #expect(RegistryClient.registryErrorMessage(two)
            == "DENIED requested access to the resource is denied; UNAUTHORIZED; only a message")
    }

    @Test(arguments: ["", "<html>502 Bad Gateway</html>", "not json", "{}", #"{"errors":null}"#, "[1,2]", #"{"errors":"text"}"#])
    func registryErrorMessageOfOtherBodiesIsEmpty(body: String) {
        #expect(RegistryClient.registryErrorMessage(body) == "")
    }

    // MARK: Token requests

    @Test func formEncodeEscapesReservedCharacters() {
        #expect(RegistryClient.formEncode([("scope", "repository:team/app:pull,push")]) == "scope=repository%3Ateam%2Fapp%3Apull%2Cpush")
        #expect(RegistryClient.formEncode([("scope", "a b")]) == "scope=a%20b")
        #expect(RegistryClient.formEncode([("k", "a&b=c+d?e#f%")]) == "k=a%26b%3Dc%2Bd%3Fe%23f%25")
        #expect(RegistryClient.formEncode([("k", "AZaz09-._~")]) == "k=AZaz09-._~")
        #expect(RegistryClient.formEncode([("a", "1"), ("b", "2"), ("a", "3")]) == "a=1&b=2&a=3")
        #expect(RegistryClient.formEncode([]) == "")
        #expect(RegistryClient.formEncode([("empty", "")]) == "empty=")
    }

    @Test func formEncodeEscapesNonASCII() {
        // UTF-8, byte by byte.
        #expect(RegistryClient.formEncode([("k", "é")]) == "k=%C3%A9")
        #expect(RegistryClient.formEncode([("k", "ü1")]) == "k=%C3%BC1")
    }

    @Test func tokenURLWithServiceAndScopes() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="https://auth.example.com/token",service="registry.example.com""#))
        let url = RegistryClient.tokenURL(
            "https://auth.example.com/token", challenge: challenge,
            scopes: ["repository:team/app:pull,push", "repository:base:pull"])
        #expect(url == "https://auth.example.com/token?service=registry.example.com"
            + "&scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=repository%3Abase%3Apull")
        #expect(URL(string: url) != nil)
    }

    @Test func tokenURLWhenTheRealmHasAQuery() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="https://auth.example.com/token?tenant=7",service="svc""#))
        let url = RegistryClient.tokenURL("https://auth.example.com/token?tenant=7", challenge: challenge, scopes: ["repository:a:pull"])
        #expect(url == "https://auth.example.com/token?tenant=7&service=svc&scope=repository%3Aa%3Apull")
        #expect(url.filter { $0 == "?" }.count == 1)
    }

    @Test func tokenURLWithoutService() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="https://a/t""#))
        #expect(RegistryClient.tokenURL("https://a/t", challenge: challenge, scopes: ["repository:x:pull"])
            == "https://a/t?scope=repository%3Ax%3Apull")
    }

    @Test func scopeString() {
        #expect(RegistryClient.scopeString([("team/app", "pull")]) == "repository:team/app:pull")
        #expect(RegistryClient.scopeString([("team/app", "pull,push"), ("base", "pull")])
            == "repository:team/app:pull,push repository:base:pull")
        #expect(RegistryClient.scopeString([]) == "")
    }

    // MARK: Redirects

    @Test func resolveAbsoluteLocations() {
        let base = "https://registry.example.com:5000/v2/team/app/blobs/uploads/"
        #expect(RegistryClient.resolve("https://storage.example.net/blob?sig=x", against: base) == "https://storage.example.net/blob?sig=x")
        #expect(RegistryClient.resolve("http://other:8080/x", against: base) == "http://other:8080/x")
    }

    @Test func resolveRelativeLocations() {
        let base = "https://registry.example.com:5000/v2/team/app/blobs/uploads/"
        #expect(RegistryClient.resolve("/v2/team/app/blobs/uploads/abc-123?_state=xyz", against: base)
            == "https://registry.example.com:5000/v2/team/app/blobs/uploads/abc-123?_state=xyz")
        #expect(RegistryClient.resolve("abc-123", against: base)
            == "https://registry.example.com:5000/v2/team/app/blobs/uploads/abc-123")
        #expect(RegistryClient.resolve("../manifests/v1", against: base)
            == "https://registry.example.com:5000/v2/team/app/blobs/manifests/v1")
        #expect(RegistryClient.resolve("//cdn.example.net/blob", against: base) == "https://cdn.example.net/blob")
        #expect(RegistryClient.resolve("/x", against: "http://127.0.0.1:5000/v2/") == "http://127.0.0.1:5000/x")
    }

    @Test func authorityDistinguishesSchemeHostAndPort() {
        let a = RegistryClient.authority(of: "https://registry.example.com:5000/v2/a")
        #expect(a == RegistryClient.authority(of: "https://registry.example.com:5000/v2/b?x=1"))
        #expect(a != RegistryClient.authority(of: "https://registry.example.com:5001/v2/a"))
        #expect(a != RegistryClient.authority(of: "http://registry.example.com:5000/v2/a"))
        #expect(a != RegistryClient.authority(of: "https://storage.example.com:5000/v2/a"))
        #expect(RegistryClient.authority(of: "https://h/x") != RegistryClient.authority(of: "http://h/x"))
        #expect(RegistryClient.authority(of: "https://h/x") == RegistryClient.authority(of: "https://h/y"))
        #expect(RegistryClient.authority(of: "https://h/x") != RegistryClient.authority(of: "https://h2/x"))
    }

    // MARK: Transport errors

    @Test func describeSpellsOutTLSProblems() {
        struct Fake: Error, CustomStringConvertible { var description: String }
        #expect(RegistryClient.describe(Fake(description: "SSL routines::WRONG_VERSION_NUMBER")).contains("--tls-verify=false"))
        #expect(RegistryClient.describe(Fake(description: "handshakeFailed(CERTIFICATE_VERIFY_FAILED)")).contains("--ca-file"))
        #expect(RegistryClient.describe(Fake(description: "connection refused")) == "connection refused")
    }
}

@Suite("Registry client without a registry")
struct ClientWithoutNetworkTests {
    let directory = TemporaryDirectory("stowage-client")

    /// Options that see no credentials of this machine.
    func isolatedOptions() -> RegistryOptions {
        var options = RegistryOptions()
        options.environment = ["HOME": directory.path]
        options.retryDelay = 0.001
        return options
    }

    @Test func missingCAFileIsNotFound() {
        var options = isolatedOptions()
        options.caFile = directory.child("missing-ca.pem")
        let error = #expect(throws: StowageError.self) { try RegistryClient(host: "h", options: options) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("missing-ca.pem") == true)
    }

    @Test func missingCertDirectoryIsNotFound() {
        var options = isolatedOptions()
        options.certDirectory = directory.child("missing-certs.d")
        let error = #expect(throws: StowageError.self) { try RegistryClient(host: "h", options: options) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("missing-certs.d") == true)
    }

    @Test func retriesRetryableFailuresThenGivesUpNamingTheCount() async throws {
        var options = isolatedOptions()
        options.retryTimes = 2
        let attempts = Locked<[Int]>([])
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            let error = await #expect(throws: StowageError.self) {
                try await client.withRetries { attempt -> Int in
                    attempts.withLock { $0.append(attempt) }
                    throw RegistryClient.RetryableFailure(error: StowageError(.network, "boom"), retryAfter: 0)
                }
            }
            #expect(error?.code == .network)
            #expect(error?.message == "boom (after 2 retries over 0s)")
        }
        #expect(attempts.current == [0, 1, 2])
    }

    @Test("leaving TLS for plain http (a redirect, an upload location) is refused unless --tls-verify=false")
    func noDowngradeToPlainHTTP() async throws {
        let request = RegistryClient.Request(method: .GET, url: "/v2/team/app/blobs/x", scope: [], what: "blob x of team/app")
        try await RegistryClient.withClient(host: "registry.example.com", options: isolatedOptions()) { client async throws in
            let error = try #require(throws: StowageError.self) {
                try client.checkDowngrade(to: "http://storage.example.com/blob", request)
            }
            #expect(error.code == .authentication)
            #expect(error.message.contains("storage.example.com") && error.message.contains("--tls-verify=false"), "\(error.message)")
            try client.checkDowngrade(to: "https://storage.example.com/blob", request)
        }
        var insecure = isolatedOptions()
        insecure.tlsVerify = false
        try await RegistryClient.withClient(host: "registry.example.com", options: insecure) { client async throws in
            try client.checkDowngrade(to: "http://storage.example.com/blob", request)
        }
    }

    @Test("the waits between retries of one request add up to at most --timeout, however many retries are allowed")
    func retriesEndWithinTheTimeoutBudget() async throws {
        var options = isolatedOptions()
        options.retryTimes = 8
        options.timeout = 0.3
        let attempts = Locked<[Int]>([])
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            let error = await #expect(throws: StowageError.self) {
                try await client.withRetries { attempt -> Int in
                    attempts.withLock { $0.append(attempt) }
                    throw RegistryClient.RetryableFailure(error: StowageError(.network, "boom"), retryAfter: 0.2)
                }
            }
            #expect(error?.message == "boom (after 2 retries over 0.3s)")
        }
        #expect(attempts.current == [0, 1, 2], "0.2 s, then the 0.1 s left, then no budget")
    }

    @Test func noRetriesMeansOneAttemptAndAnUnchangedMessage() async throws {
        var options = isolatedOptions()
        options.retryTimes = 0
        let attempts = Locked(0)
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            let error = await #expect(throws: StowageError.self) {
                try await client.withRetries { _ -> Int in
                    attempts.withLock { $0 += 1 }
                    throw RegistryClient.RetryableFailure(error: StowageError(.registry, "503"), retryAfter: nil)
                }
            }
            #expect(error?.message == "503")
        }
        #expect(attempts.current == 1)
    }

    @Test func finalErrorsAreNotRetried() async throws {
        var options = isolatedOptions()
        options.retryTimes = 5
        let attempts = Locked(0)
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            let error = await #expect(throws: StowageError.self) {
                try await client.withRetries { _ -> Int in
                    attempts.withLock { $0 += 1 }
                    throw StowageError(.authentication, "refused")
                }
            }
            #expect(error?.message == "refused")
        }
        #expect(attempts.current == 1)
    }

    @Test func aRetryThatSucceedsReturnsItsValue() async throws {
        var options = isolatedOptions()
        options.retryTimes = 3
        let value = try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            try await client.withRetries { attempt -> String in
                if attempt < 2 { throw RegistryClient.RetryableFailure(error: StowageError(.network, "x"), retryAfter: nil) }
                return "done after \(attempt)"
            }
        }
        #expect(value == "done after 2")
    }

    @Test func withClientShutsDownAndRethrows() async throws {
        let error = await #expect(throws: StowageError.self) {
            try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { _ -> Int in
                throw StowageError(.conflict, "inner")
            }
        }
        #expect(error?.message == "inner")
    }

    @Test func pushTargetsWidenTheScope() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            await client.preparePush(to: "team/app")
            let widened = await client.state.widen([("team/app", "pull"), ("base", "pull")])
            #expect(RegistryClient.scopeString(widened) == "repository:team/app:pull,push repository:base:pull")
        }
    }

    @Test func noChallengeMeansNoAuthorization() async throws {
        var options = isolatedOptions()
        options.credentials = .basic(username: "u", password: "p")
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            #expect(try await client.authorizationHeader(for: [("a", "pull")]) == nil)
        }
    }

    @Test func basicChallengeWithCredentials() async throws {
        var options = isolatedOptions()
        options.credentials = .basic(username: "alice", password: "s3cr:et")
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            let challenge = try #require(AuthChallenge(header: #"Basic realm="r""#))
            let header = try await client.authorizationHeader(for: [("a", "pull")], challenge: challenge)
            #expect(header == "Basic " + Data("alice:s3cr:et".utf8).base64EncodedString())
            #expect(header == "Basic YWxpY2U6czNjcjpldA==")
        }
    }

    @Test func basicChallengeWithoutCredentials() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            let challenge = try #require(AuthChallenge(header: #"Basic realm="r""#))
            #expect(try await client.authorizationHeader(for: [("a", "pull")], challenge: challenge) == nil)
            let error = await #expect(throws: StowageError.self) {
                try await client.authorizationHeader(for: [("a", "pull")], challenge: challenge, force: true)
            }
            #expect(error?.code == .authentication)
            #expect(error?.message.contains("--creds") == true)
        }
    }

    @Test func bearerChallengeUsesACachedTokenForTheWidenedScope() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            await client.preparePush(to: "team/app")
            await client.tokens.store("cached-token", for: "repository:team/app:pull,push", lifetime: 300)
            let challenge = try #require(AuthChallenge(header: #"Bearer realm="https://127.0.0.1:9/token",service="s""#))
            let header = try await client.authorizationHeader(for: [("team/app", "pull")], challenge: challenge)
            #expect(header == "Bearer cached-token")
            #expect(await client.tokenFetches == 1)
        }
    }

    @Test func bearerChallengeWithoutARealmFails() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            let challenge = try #require(AuthChallenge(header: #"Bearer service="s""#))
            let error = await #expect(throws: StowageError.self) {
                try await client.authorizationHeader(for: [("a", "pull")], challenge: challenge)
            }
            #expect(error?.code == .authentication)
            #expect(error?.message.contains("realm") == true)
            let relative = try #require(AuthChallenge(header: #"Bearer realm="/token""#))
            await #expect(throws: StowageError.self) {
                try await client.authorizationHeader(for: [("a", "pull")], challenge: relative)
            }
        }
    }

    @Test func unknownSchemeIsUnsupported() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            let challenge = try #require(AuthChallenge(header: #"Negotiate realm="x""#))
            let error = await #expect(throws: StowageError.self) {
                try await client.authorizationHeader(for: [("a", "pull")], challenge: challenge)
            }
            #expect(error?.code == .unsupported)
            #expect(error?.message.contains("negotiate") == true)
        }
    }

    @Test func credentialsAreLookedUpOncePerRepository() async throws {
        let authFile = directory.child("auth.json")
        try Data(#"{"auths":{"h":{"username":"first","password":"p"}}}"#.utf8).write(to: URL(fileURLWithPath: authFile))
        var options = isolatedOptions()
        options.authFile = authFile
        try await RegistryClient.withClient(host: "h", options: options) { client async throws in
            #expect(try await client.credential(for: "a") == .basic(username: "first", password: "p"))
            try Data(#"{"auths":{"h":{"username":"second","password":"p"}}}"#.utf8).write(to: URL(fileURLWithPath: authFile))
            #expect(try await client.credential(for: "a") == .basic(username: "first", password: "p"), "cached")
            #expect(try await client.credential(for: "b") == .basic(username: "second", password: "p"), "another repository reads again")
        }
    }

    @Test func absoluteURLsAreKept() async throws {
        try await RegistryClient.withClient(host: "h", options: isolatedOptions()) { client async throws in
            #expect(try await client.absoluteURL("https://elsewhere/v2/x") == "https://elsewhere/v2/x")
            #expect(try await client.absoluteURL("http://elsewhere:1/y") == "http://elsewhere:1/y")
        }
    }
}

@Suite("File chunks")
struct FileChunksTests {
    let directory = TemporaryDirectory("stowage-chunks")

    func file(_ bytes: [UInt8]) throws -> String {
        let path = directory.child("file-\(UUID().uuidString)")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func collect(_ chunks: FileChunks) async throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for try await chunk in chunks { out.append(Array(buffer: chunk)) }
        return out
    }

    static let content = (0..<100).map { UInt8($0) }

    @Test func wholeFileInChunks() async throws {
        let path = try file(Self.content)
        let chunks = try await collect(FileChunks(path: path, offset: 0, length: 100, chunkSize: 30, onBytes: nil))
        #expect(chunks.map(\.count) == [30, 30, 30, 10])
        #expect(Array(chunks.joined()) == Self.content)
    }

    @Test func aRangeThatEndsBeforeTheFile() async throws {
        let path = try file(Self.content)
        let counted = Locked<[Int]>([])
        let chunks = try await collect(FileChunks(
            path: path, offset: 10, length: 25, chunkSize: 10, onBytes: { n in counted.withLock { $0.append(n) } }))
        #expect(chunks.map(\.count) == [10, 10, 5])
        #expect(Array(chunks.joined()) == Array(Self.content[10..<35]))
        #expect(counted.current == [10, 10, 5])
    }

    @Test func aChunkLargerThanTheRange() async throws {
        let path = try file(Self.content)
        let chunks = try await collect(FileChunks(path: path, offset: 95, length: 5, chunkSize: 1 << 20, onBytes: nil))
        #expect(chunks == [Array(Self.content[95..<100])])
    }

    @Test func anEmptyRangeGivesNothing() async throws {
        let path = try file(Self.content)
        #expect(try await collect(FileChunks(path: path, offset: 50, length: 0, chunkSize: 10, onBytes: nil)).isEmpty)
    }

    @Test func eachIterationReadsTheRangeAgain() async throws {
        let path = try file(Self.content)
        let chunks = FileChunks(path: path, offset: 40, length: 20, chunkSize: 7, onBytes: nil)
        let first = try await collect(chunks)
        let second = try await collect(chunks)
        #expect(first == second)
        #expect(Array(first.joined()) == Array(Self.content[40..<60]))
    }

    @Test func aFileShorterThanTheRangeIsAnError() async throws {
        let path = try file(Self.content)
        var received = 0
        let error = await #expect(throws: StowageError.self) {
            for try await chunk in FileChunks(path: path, offset: 90, length: 20, chunkSize: 8, onBytes: nil) {
                received += chunk.readableBytes
            }
        }
        #expect(received == 10)
        #expect(error?.code == .io)
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("10 bytes early") == true, "\(String(describing: error))")
    }

    @Test func aMissingFileIsAnError() async throws {
        let path = directory.child("missing")
        let error = await #expect(throws: StowageError.self) {
            _ = try await collect(FileChunks(path: path, offset: 0, length: 1, chunkSize: 8, onBytes: nil))
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains(path) == true)
    }
}
