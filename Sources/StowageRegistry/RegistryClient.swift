import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import StowageModel

/// A client of one registry, following the OCI distribution spec.
///
/// It pings `/v2/` once to learn the scheme and the auth challenge, answers
/// Basic and Bearer challenges (tokens cached per scope until they expire),
/// retries connection errors, 5xx and 429 with exponential backoff and jitter
/// (honouring `Retry-After`), and follows redirects without sending the
/// registry's `Authorization` header to another host. Credentials never appear
/// in errors.
public final class RegistryClient: Sendable {
    /// The registry host as the user wrote it.
    public let host: String
    /// The options in force.
    public let options: RegistryOptions
    let http: HTTPClient
    let tokens = TokenCache()
    let state = ClientState()
    let resolver: CredentialResolver

    /// Creates a client; call `shutdown()` when done, or use `withClient`.
    public init(host: String, options: RegistryOptions) throws {
        self.host = host
        self.options = options
        resolver = CredentialResolver(options: options)
        var tls = TLSConfiguration.makeClientConfiguration()
        if !options.tlsVerify { tls.certificateVerification = .none }
        var extraRoots: [NIOSSLAdditionalTrustRoots] = []
        if let caFile = options.caFile {
            guard FileManager.default.fileExists(atPath: caFile) else {
                throw StowageError(.notFound, "CA file \(caFile) does not exist")
            }
            extraRoots.append(.file(caFile))
        }
        if let directory = options.certDirectory {
            guard FileManager.default.fileExists(atPath: directory) else {
                throw StowageError(.notFound, "certificate directory \(directory) does not exist")
            }
            try Self.load(certDirectory: directory, into: &tls, roots: &extraRoots)
        } else {
            for directory in options.defaultCertDirectories(for: host) {
                try Self.load(certDirectory: directory, into: &tls, roots: &extraRoots)
            }
        }
        tls.additionalTrustRoots = extraRoots
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(30), read: Self.amount(options.timeout), write: Self.amount(options.timeout)),
            decompression: .disabled)
        // Stowage retries with its own backoff; a TLS handshake with a plain-HTTP registry must fail at once.
        configuration.connectionPool.retryConnectionEstablishment = false
        // A connection for each blob in flight and some for HEADs and manifests: an upload
        // that waited for a connection would hold up the uploads of the same blob to other
        // registries, which go in step with it.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Swift.max(8, options.jobs + 4)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Adds a `certs.d`-shaped directory's `*.crt` CAs to `roots`, and its `client.cert`
    /// and `client.key` (both or neither) to `tls`.
    private static func load(certDirectory directory: String, into tls: inout TLSConfiguration, roots: inout [NIOSSLAdditionalTrustRoots]) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".crt") { roots.append(.file("\(directory)/\(name)")) }
        guard names.contains("client.cert") && names.contains("client.key") else { return }
        do {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile("\(directory)/client.cert").map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: "\(directory)/client.key", format: .pem))
        } catch {
            throw StowageError(.io, "cannot load the client certificate in \(directory)", cause: "\(error)")
        }
    }

    /// Runs `body` with a client and shuts it down afterwards, even on error.
    public static func withClient<T: Sendable>(
        host: String, options: RegistryOptions, _ body: (RegistryClient) async throws -> T
    ) async throws -> T {
        let client = try RegistryClient(host: host, options: options)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Closes connections. A connection a stalled registry holds open (a transfer given up
    /// on after `timeout`) is not waited for longer than a second.
    public func shutdown() async throws {
        let http = self.http
        _ = try await Self.first(of: Task { try await http.shutdown() }, within: 1)
    }

    /// Declares that `repository` will be pushed to, so the first token asked for it
    /// covers pushing too and is reused for every request of the push.
    public func preparePush(to repository: String) async {
        await state.addPushTarget(repository)
    }

    /// How many bearer tokens this client fetched (each cached per scope).
    public var tokenFetches: Int {
        get async { await tokens.fetches }
    }

    /// How many HTTP requests this client sent: pings, token fetches and retries included.
    public var requestCount: Int {
        get async { await state.requests }
    }

    // MARK: - Connecting

    /// The scheme and auth challenge, learnt once from `GET /v2/`.
    actor ClientState {
        var baseURL: String?
        var challenge: AuthChallenge?
        var credentials: [String: Credential?] = [:]
        var pushTargets: Set<String> = []
        var requests = 0

        func countRequest() { requests += 1 }
        func addPushTarget(_ repository: String) { pushTargets.insert(repository) }

        /// Asks for `pull,push` wherever a push is coming, so one token serves the whole push.
        func widen(_ scope: [(repository: String, actions: String)]) -> [(repository: String, actions: String)] {
            scope.map { pushTargets.contains($0.repository) ? ($0.repository, "pull,push") : $0 }
        }

        func setBase(_ url: String) { baseURL = url }
        func setChallenge(_ challenge: AuthChallenge) { self.challenge = challenge }
        func cached(_ repository: String) -> Credential?? { credentials[repository] }
        func cache(_ credential: Credential?, for repository: String) { credentials[repository] = .some(credential) }
    }

    /// `https://HOST` or, with `--tls-verify=false` and a registry that only speaks HTTP, `http://HOST`.
    func baseURL() async throws -> String {
        if let base = await state.baseURL { return base }
        let apiHost = RegistryHost.apiHost(host)
        do {
            try await ping("https://\(apiHost)")
            await state.setBase("https://\(apiHost)")
        } catch let error as StowageError where !options.tlsVerify && error.code == .network {
            do {
                try await ping("http://\(apiHost)")
            } catch let plain as StowageError where plain.code == .network {
                throw error
            }
            await state.setBase("http://\(apiHost)")
        }
        return await state.baseURL!
    }

    private func ping(_ base: String) async throws {
        var request = HTTPClientRequest(url: "\(base)/v2/")
        request.method = .GET
        await state.countRequest()
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: Self.amount(options.timeout))
        } catch {
            throw StowageError(.network, "cannot reach registry \(host) at \(base): \(Self.explain(error, place: Self.hostAndPort(of: base), timeout: options.timeout))")
        }
        _ = try? await collect(response, upTo: 1 << 20, what: "the answer to GET /v2/")
        if response.status == .unauthorized, let header = response.headers.first(name: "WWW-Authenticate"),
            let challenge = AuthChallenge(header: header)
        {
            await state.setChallenge(challenge)
        }
    }

    // MARK: - Requests

    /// What a request sends.
    enum Body: Sendable {
        case empty
        case bytes([UInt8])
        case file(path: String, offset: Int64, length: Int64, onBytes: (@Sendable (Int) -> Void)?)
        case reader(any BlobReader, offset: Int64, length: Int64, onBytes: (@Sendable (Int) -> Void)?)

        /// Whether this is a blob's bytes, which may take long to send.
        var isBlob: Bool {
            switch self {
            case .file, .reader: true
            case .empty, .bytes: false
            }
        }
    }

    /// One request to the registry.
    struct Request: Sendable {
        var method: HTTPMethod
        /// A path (`/v2/…`) or an absolute URL (an upload `Location`).
        var url: String
        var headers: [(String, String)] = []
        var body: Body = .empty
        /// The repositories and actions the request needs (`team/app` → `pull,push`).
        var scope: [(repository: String, actions: String)]
        /// Names the request in errors ("blob sha256:… of team/app").
        var what: String
    }

    /// A failure worth retrying: a broken connection, 5xx or 429.
    struct RetryableFailure: Error {
        var error: StowageError
        var retryAfter: Double?
    }

    /// Runs `body`, retrying `RetryableFailure`s with backoff up to `retryTimes`. The waits
    /// of one request add up to at most `timeout` (`Retry-After` included), so retries
    /// end in bounded time however many are allowed.
    func withRetries<T>(_ body: (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 0
        var waited = 0.0
        while true {
            do {
                return try await body(attempt)
            } catch let failure as RetryableFailure {
                let budget = options.timeout - waited
                guard attempt < options.retryTimes, budget > 0 else {
                    var error = failure.error
                    if attempt > 0 { error.message += " (after \(attempt) retries over \(Self.seconds(waited)))" }
                    throw error
                }
                attempt += 1
                let backoff = options.retryDelay * pow(2, Double(attempt - 1))
                let delay = min(failure.retryAfter ?? (backoff * Double.random(in: 0.5...1.5)), budget)
                waited += delay
                try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            }
        }
    }

    /// Collects a small body (a manifest, token or error document) within `timeout`:
    /// a registry that sends headers and then stalls or drips is cut off. The collection
    /// is cancelled, and not waited for, when the deadline passes first.
    func collect(_ response: HTTPClientResponse, upTo limit: Int, what: String) async throws -> ByteBuffer {
        let work = Task { try await response.body.collect(upTo: limit) }
        guard let body = try await Self.first(of: work, within: options.timeout) else {
            work.cancel()
            throw RetryableFailure(error: StowageError(
                .network, "registry \(host): \(what) did not arrive within \(Self.seconds(options.timeout)) (see --timeout)"))
        }
        return body
    }

    /// The result of `work`, or nil when `seconds` pass first (then `work` goes on unawaited).
    static func first<T: Sendable>(of work: Task<T, Error>, within seconds: Double) async throws -> T? {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            Task {
                do { race.finish(.success(try await work.value)) } catch { race.finish(.failure(error)) }
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                race.finish(.success(nil))
            }
        }
    }

    /// Resumes a continuation once, with whichever result comes first.
    private final class Race<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<T?, Error>?

        func start(_ continuation: CheckedContinuation<T?, Error>) {
            lock.withLock { self.continuation = continuation }
        }

        func finish(_ result: Result<T?, Error>) {
            let waiting = lock.withLock { () -> CheckedContinuation<T?, Error>? in
                defer { continuation = nil }
                return continuation
            }
            waiting?.resume(with: result)
        }
    }

    /// `45s`, `1.5s`: a duration for messages.
    static func seconds(_ value: Double) -> String {
        value >= 10 || value == value.rounded() ? "\(Int(value.rounded()))s" : "\((value * 10).rounded() / 10)s"
    }

    static func amount(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(min(seconds, 86_400) * 1_000_000_000))
    }

    /// Sends a request once (answering an auth challenge and following redirects)
    /// and returns the response; statuses are for the caller to judge.
    ///
    /// Credentials go only to the registry's own authority (scheme, host and port):
    /// a request to another place (a redirect, an upload `Location` elsewhere) is sent
    /// without them, and a 401 from there is an error, never a challenge to answer.
    /// Leaving https for plain http is refused unless `--tls-verify=false`.
    func send(_ request: Request) async throws -> HTTPClientResponse {
        let registry = Self.authority(of: try await baseURL())
        var url = try await absoluteURL(request.url)
        try checkDowngrade(to: url, request)
        var authorization = Self.authority(of: url) == registry ? try await authorizationHeader(for: request.scope) : nil
        var answeredChallenge = false
        var redirects = 0
        while true {
            let response = try await sendOnce(request, url: url, authorization: authorization)
            if response.status == .unauthorized, Self.authority(of: url) != registry {
                _ = try? await collect(response, upTo: 1 << 20, what: "the answer to \(request.what)")
                throw StowageError(
                    .authentication,
                    "registry \(host): \(request.what) led to \(Self.hostAndPort(of: url)), which asks for credentials (401); "
                        + "Stowage sends the registry's credentials only to the registry")
            }
            if response.status == .unauthorized, !answeredChallenge {
                answeredChallenge = true
                _ = try? await collect(response, upTo: 1 << 20, what: "the answer to \(request.what)")
                guard let header = response.headers.first(name: "WWW-Authenticate"), let challenge = AuthChallenge(header: header) else {
                    throw StowageError(.authentication, "registry \(host) refused \(request.what) (401) without saying how to authenticate")
                }
                await state.setChallenge(challenge)
                await tokens.invalidate(Self.scopeString(await state.widen(request.scope)))
                authorization = try await authorizationHeader(for: request.scope, challenge: challenge, force: true)
                continue
            }
            if response.status == .unauthorized {
                _ = try? await collect(response, upTo: 1 << 20, what: "the answer to \(request.what)")
                let who = try await credential(for: request.scope.first?.repository).map { " as \($0)" } ?? " anonymously"
                throw StowageError(.authentication, "registry \(host) refused access to \(request.what)\(who) (401 Unauthorized); check --creds or --authfile")
            }
            if [301, 302, 303, 307, 308].contains(Int(response.status.code)),
                request.method == .GET || request.method == .HEAD,
                let location = response.headers.first(name: "Location"), redirects < 5
            {
                _ = try? await collect(response, upTo: 1 << 20, what: "the answer to \(request.what)")
                redirects += 1
                let next = Self.resolve(location, against: url)
                // The registry's credentials are for the registry, not for blob storage elsewhere.
                try checkDowngrade(to: next, request)
                if Self.authority(of: next) != registry { authorization = nil }
                url = next
                continue
            }
            return response
        }
    }

    /// Refuses to leave TLS for plain HTTP (a redirect, an upload location) unless `--tls-verify=false`.
    func checkDowngrade(to url: String, _ request: Request) throws {
        guard options.tlsVerify, url.hasPrefix("http://") else { return }
        throw StowageError(
            .authentication,
            "registry \(host): \(request.what) would go to \(Self.hostAndPort(of: url)) over plain http; "
                + "Stowage refuses to leave TLS (pass --tls-verify=false to allow it)")
    }

    private func sendOnce(_ request: Request, url: String, authorization: String?) async throws -> HTTPClientResponse {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = request.method
        await state.countRequest()
        outgoing.headers.add(name: "User-Agent", value: "stowage/0.1")
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let authorization { outgoing.headers.replaceOrAdd(name: "Authorization", value: authorization) }
        switch request.body {
        case .empty:
            if request.method == .PUT || request.method == .POST || request.method == .PATCH {
                outgoing.headers.replaceOrAdd(name: "Content-Length", value: "0")
            }
        case .bytes(let bytes):
            outgoing.body = .bytes(bytes)
        case .file(let path, let offset, let length, let onBytes):
            outgoing.body = .stream(
                FileChunks(path: path, offset: offset, length: length, chunkSize: 256 << 10, onBytes: onBytes),
                length: .known(length))
        case .reader(let reader, let offset, let length, let onBytes):
            outgoing.body = .stream(
                ReaderChunks(reader: reader, offset: offset, length: length, chunkSize: 256 << 10, onBytes: onBytes),
                length: .known(length))
        }
        do {
            // A blob's bytes may take hours; the idle read and write timeouts watch them.
            // Anything else must be answered within `timeout`.
            let deadline: TimeAmount
            if request.body.isBlob { deadline = .hours(24) } else { deadline = Self.amount(options.timeout) }
            return try await http.execute(outgoing, timeout: deadline)
        } catch let error as StowageError {
            throw error
        } catch {
            throw RetryableFailure(error: networkError(error, doing: "\(request.method.rawValue) for \(request.what)", url: url))
        }
    }

    /// Throws for a status outside `expected`: retryable for 5xx, 408 and 429, final otherwise,
    /// naming the registry, the request and the registry's own error message.
    func check(_ response: HTTPClientResponse, _ request: Request, expected: Set<UInt>) async throws {
        let code = response.status.code
        guard !expected.contains(code) else { return }
        let body = (try? await collect(response, upTo: 64 * 1024, what: "the error for \(request.what)")).map { String(buffer: $0) } ?? ""
        let detail = Self.registryErrorMessage(body)
        let error = StowageError(
            .registry,
            "registry \(host): \(request.method.rawValue) for \(request.what) answered \(code) \(response.status.reasonPhrase)"
                + (detail.isEmpty ? "" : ": \(detail)"))
        if code >= 500 || code == 429 || code == 408 {
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
            throw RetryableFailure(error: error, retryAfter: retryAfter)
        }
        throw error
    }

    // MARK: - Auth

    func credential(for repository: String?) async throws -> Credential? {
        let key = repository ?? ""
        if let cached = await state.cached(key) { return cached }
        let found = try resolver.credentials(host: host, repository: repository)
        await state.cache(found, for: key)
        return found
    }

    static func scopeString(_ scope: [(repository: String, actions: String)]) -> String {
        scope.map { "repository:\($0.repository):\($0.actions)" }.joined(separator: " ")
    }

    /// The `Authorization` header for a request, from the known challenge.
    func authorizationHeader(
        for requested: [(repository: String, actions: String)], challenge known: AuthChallenge? = nil, force: Bool = false
    ) async throws -> String? {
        let scope = await state.widen(requested)
        let learnt = await state.challenge
        guard let challenge = known ?? learnt else { return nil }
        let credential = try await credential(for: scope.first?.repository)
        switch challenge.scheme {
        case "basic":
            guard case .basic(let username, let password)? = credential else {
                guard force else { return nil }
                throw StowageError(.authentication, "registry \(host) asks for a user name and password, and none was found for it; use --creds USER:PASS or --authfile")
            }
            return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        case "bearer":
            let scopeText = Self.scopeString(scope)
            if let token = await tokens.token(for: scopeText) { return "Bearer \(token)" }
            let token = try await fetchToken(challenge: challenge, scope: scope, credential: credential)
            return "Bearer \(token)"
        default:
            throw StowageError(.unsupported, "registry \(host) asks for '\(challenge.scheme)' authentication, which Stowage does not support")
        }
    }

    private func fetchToken(
        challenge: AuthChallenge, scope: [(repository: String, actions: String)], credential: Credential?
    ) async throws -> String {
        guard let realm = challenge.realm, let realmURL = URL(string: realm), realmURL.scheme != nil else {
            throw StowageError(.authentication, "registry \(host) sent a Bearer challenge without a usable realm")
        }
        if realmURL.scheme == "http", options.tlsVerify, credential != nil {
            throw StowageError(
                .authentication,
                "registry \(host) sends credentials to the token service \(Self.hostAndPort(of: realm)) over plain http; "
                    + "Stowage refuses to send them in clear (pass --tls-verify=false to allow it)")
        }
        let scopes = scope.map { "repository:\($0.repository):\($0.actions)" }
        var request: HTTPClientRequest
        switch credential {
        case .identityToken(let refreshToken)?:
            request = HTTPClientRequest(url: realm)
            request.method = .POST
            var form = [("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", "stowage")]
            if let service = challenge.service { form.append(("service", service)) }
            form.append(("scope", scopes.joined(separator: " ")))
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(Array(Self.formEncode(form).utf8))
        case .basic(let username, let password)?:
            request = HTTPClientRequest(url: Self.tokenURL(realm, challenge: challenge, scopes: scopes))
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(username):\(password)".utf8).base64EncodedString())
        case nil:
            request = HTTPClientRequest(url: Self.tokenURL(realm, challenge: challenge, scopes: scopes))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: Self.amount(options.timeout))
        } catch {
            throw RetryableFailure(error: StowageError(.network, "cannot reach the token service \(Self.hostAndPort(of: realm)) of registry \(host): \(Self.explain(error, place: Self.hostAndPort(of: realm), timeout: options.timeout))"))
        }
        let body = try await collect(response, upTo: 1 << 20, what: "the token from \(Self.hostAndPort(of: realm))")
        guard response.status == .ok else {
            let who = credential.map { " as \($0)" } ?? " anonymously"
            let error = StowageError(.authentication, "registry \(host): the token service refused\(who) for \(scopes.joined(separator: " ")) (\(response.status.code) \(response.status.reasonPhrase))")
            if response.status.code >= 500 || response.status.code == 429 { throw RetryableFailure(error: error) }
            throw error
        }
        struct TokenAnswer: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Double?
        }
        let answer = try JSONCoding.decode(TokenAnswer.self, from: Array(buffer: body), what: "the token of registry \(host)")
        guard let token = answer.access_token ?? answer.token, !token.isEmpty else {
            throw StowageError(.authentication, "registry \(host): the token service answered without a token")
        }
        await tokens.store(token, for: Self.scopeString(scope), lifetime: answer.expires_in)
        return token
    }

    static func tokenURL(_ realm: String, challenge: AuthChallenge, scopes: [String]) -> String {
        var query: [(String, String)] = []
        if let service = challenge.service { query.append(("service", service)) }
        for scope in scopes { query.append(("scope", scope)) }
        let separator = realm.contains("?") ? "&" : "?"
        return realm + separator + formEncode(query)
    }

    static func formEncode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    // MARK: - Helpers

    func absoluteURL(_ url: String) async throws -> String {
        if url.hasPrefix("http://") || url.hasPrefix("https://") { return url }
        return try await baseURL() + url
    }

    static func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let baseURL = URL(string: base), let resolved = URL(string: location, relativeTo: baseURL) else { return location }
        return resolved.absoluteString
    }

    static func authority(of url: String) -> String {
        guard let parsed = URL(string: url) else { return url }
        let scheme = parsed.scheme?.lowercased() ?? ""
        let port = parsed.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : -1)
        return "\(scheme):\(parsed.host?.lowercased() ?? ""):\(port)"
    }

    /// `HOST[:PORT]` of a URL, for messages.
    static func hostAndPort(of url: String) -> String {
        guard let parsed = URL(string: url), let host = parsed.host else { return url }
        return parsed.port.map { "\(host):\($0)" } ?? host
    }

    static func parseRetryAfter(_ value: String) -> Double? {
        if let seconds = Double(value.trimmingCharacters(in: .whitespaces)) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }

    /// The `message` of an OCI error body (`{"errors":[{"code":…,"message":…}]}`), if any.
    static func registryErrorMessage(_ body: String) -> String {
        struct Errors: Decodable {
            struct Item: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Item]?
        }
        guard let parsed = try? JSONDecoder().decode(Errors.self, from: Data(body.utf8)), let errors = parsed.errors else {
            return ""
        }
        return UserText.clean(errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: " ") }.joined(separator: "; "))
    }
}
