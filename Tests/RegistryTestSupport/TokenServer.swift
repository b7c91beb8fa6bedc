import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An in-process token server implementing the Docker registry token protocol, whose JWTs the real
/// `docker-registry` (configured with `auth: token` by `RegistryServer`) verifies.
///
/// - `GET /token?service=…&scope=…&scope=…` with HTTP Basic credentials (or none: an anonymous
///   token that grants nothing by default); `offline_token=true` adds a `refresh_token`.
/// - `POST /token` form-encoded (OAuth2): `grant_type=password` with `username`/`password`, or
///   `grant_type=refresh_token` with `refresh_token`; `scope` is space-separated. The password grant
///   always returns a `refresh_token`.
///
/// Answers `{"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}`; wrong
/// credentials or an unknown refresh token get 401. Tokens are ES256 JWTs signed with a P-256 key
/// made by `openssl`; the key's self-signed certificate (`certificate`) is the registry's
/// `rootcertbundle`, and the JWT header carries it in `x5c` (or the libtrust `kid`, see `KeyHeader`).
///
/// Listens on 127.0.0.1 on a port of its own from `init` until `stop()` (or release).
public final class TokenServer: @unchecked Sendable {
    /// How the JWT header names the signing key.
    public enum KeyHeader: Sendable {
        /// `x5c`: the signing certificate itself (base64 DER), verified against the registry's
        /// `rootcertbundle`.
        case x5c
        /// `kid`: the libtrust key ID of the signing key, looked up among the keys of the registry's
        /// `rootcertbundle`.
        case kid
    }

    /// One resource access asked for in a `scope` (`repository:team/app:pull,push`).
    public struct Scope: Sendable, Hashable, CustomStringConvertible {
        /// `repository`, `registry`, …
        public var type: String
        /// The resource name, e.g. `team/app` or `catalog`.
        public var name: String
        /// The actions asked for, e.g. `["pull", "push"]` or `["*"]`.
        public var actions: [String]

        /// A scope from its parts.
        public init(type: String, name: String, actions: [String]) {
            self.type = type
            self.name = name
            self.actions = actions
        }

        /// Parses `type:name:actions` (the name may itself contain `:`); nil if malformed.
        public init?(parsing text: String) {
            guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else {
                return nil
            }
            var type = String(text[..<first])
            // A resource class, as in `repository(plugin):name:pull`, is not part of the type.
            if let paren = type.firstIndex(of: "(") { type = String(type[..<paren]) }
            self.type = type
            name = String(text[text.index(after: first)..<last])
            actions = text[text.index(after: last)...].split(separator: ",").map(String.init)
        }

        /// `type:name:action,action`.
        public var description: String { "\(type):\(name):\(actions.joined(separator: ","))" }
    }

    /// One request the token server answered.
    public struct Request: Sendable {
        /// `GET` or `POST`.
        public var method: String
        /// The authenticated user, nil when anonymous or refused.
        public var user: String?
        /// The OAuth2 grant type for POST (`password`, `refresh_token`), nil for GET.
        public var grantType: String?
        /// The scopes asked for, as sent.
        public var scopes: [String]
        /// The `service` parameter, if sent.
        public var service: String?
        /// The HTTP status of the answer.
        public var status: Int
    }

    /// Decides which actions a user gets on a scope: `(user, scope) -> granted actions`.
    /// `user` is nil for anonymous requests.
    public typealias Authorizer = @Sendable (_ user: String?, _ scope: Scope) -> [String]

    /// The issuer (`iss`) of every token; the registry's `auth.token.issuer`.
    public static let issuer = "stowage-test-issuer"
    /// The default service (`aud`); the registry's `auth.token.service`.
    public static let defaultService = "stowage-test-registry"

    /// The service name tokens are issued for (`aud`); a request naming another service gets 400.
    public let service: String
    /// The issuer written in tokens (`iss`).
    public let issuer: String
    /// The PEM certificate of the signing key: the registry's `auth.token.rootcertbundle`.
    public let certificate: String
    /// How the JWT header names the signing key.
    public let keyHeader: KeyHeader
    /// The libtrust key ID of the signing key (what `kid` carries in `.kid` mode).
    public let keyID: String
    /// The port on 127.0.0.1.
    public let port: Int

    private let directory: String
    private let signingKey: P256.Signing.PrivateKey
    private let certificateDER: [UInt8]
    private let channel: Channel
    private let connections = Locked([ObjectIdentifier: Channel]())
    private let state: Locked<State>

    private struct State {
        var users: [String: String]
        var tokenLifetime: Int = 300
        var authorizer: Authorizer
        var refreshTokens: [String: String] = [:]
        var log: [Request] = []
        var stopped = false
    }

    /// The default authorizer: authenticated users get every action they ask for, anonymous
    /// requests get nothing.
    public static let grantEverythingToUsers: Authorizer = { user, scope in user == nil ? [] : scope.actions }

    /// Makes the signing key and certificate with `openssl` and starts listening.
    /// - Parameters:
    ///   - users: user name → password accepted by Basic auth and the password grant.
    ///   - service: the service name (`aud`) tokens are for.
    ///   - keyHeader: how JWT headers name the signing key.
    public init(
        users: [String: String] = ["stowage": "stowage-password"], service: String = TokenServer.defaultService,
        keyHeader: KeyHeader = .x5c
    ) throws {
        self.service = service
        self.issuer = Self.issuer
        self.keyHeader = keyHeader
        state = Locked(State(users: users, authorizer: Self.grantEverythingToUsers))
        directory = try makeTemporaryDirectory("stowage-token")
        let keyPath = "\(directory)/signer.key"
        certificate = "\(directory)/signer.crt"
        do {
            try Tool.run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath])
            try Tool.run(
                "openssl",
                [
                    "req", "-x509", "-key", keyPath, "-out", certificate, "-days", "30", "-sha256",
                    "-subj", "/CN=stowage-test-token-signer",
                ])
            signingKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
            certificateDER = try derFromPEM(String(contentsOfFile: certificate, encoding: .utf8))
            keyID = Self.libtrustKeyID(signingKey.publicKey.derRepresentation)

            let connections = self.connections
            let owner = Weak<TokenServer>()
            channel = try startHTTPServer(connections: connections) { TokenHandler(owner: owner) }
            port = channel.localAddress?.port ?? 0
            owner.set(self)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    deinit {
        shutDown(wait: false)
    }

    /// Stops listening, closes open connections and removes the key files.
    public func stop() {
        shutDown(wait: true)
    }

    private func shutDown(wait: Bool) {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        let closing = channel.close()
        for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        if wait { try? closing.wait() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }
    /// The token endpoint, `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`.
    public var realm: String { "http://\(host)/token" }

    /// User name → password. Changeable while running.
    public var users: [String: String] {
        get { state.current.users }
        set { state.withLock { $0.users = newValue } }
    }

    /// Lifetime of issued tokens in seconds (`expires_in` and `exp`), 300 by default.
    /// Note that the registry accepts tokens up to 60 s past `exp` (its leeway).
    public var tokenLifetime: Int {
        get { state.current.tokenLifetime }
        set { state.withLock { $0.tokenLifetime = newValue } }
    }

    /// Decides the actions granted; `grantEverythingToUsers` by default. Changeable while running.
    public var authorizer: Authorizer {
        get { state.current.authorizer }
        set { state.withLock { $0.authorizer = newValue } }
    }

    /// Every request answered so far, in order.
    public var requests: [Request] { state.current.log }

    /// The number of token requests answered so far, by HTTP method (`"GET"`, `"POST"`).
    public var tokenRequests: [String: Int] {
        state.current.log.reduce(into: [:]) { counts, request in counts[request.method, default: 0] += 1 }
    }

    /// The number of token requests answered so far, all methods together.
    public var totalTokenRequests: Int { state.current.log.count }

    /// The number of tokens issued (requests answered with 200).
    public var issuedTokens: Int { state.current.log.filter { $0.status == 200 }.count }

    /// The scopes of the most recent request (empty before any).
    public var lastScopes: [String] { state.current.log.last?.scopes ?? [] }

    /// Forgets the recorded requests (the counters start again from zero).
    public func resetRequests() {
        state.withLock { $0.log.removeAll() }
    }

    /// Issues a refresh token for `user` without a request, e.g. to write it as the `identitytoken`
    /// of an auth file. The user need not exist in `users`.
    public func makeRefreshToken(for user: String) -> String {
        let token = "rt-" + base64URL((0..<24).map { _ in UInt8.random(in: 0...255) })
        state.withLock { $0.refreshTokens[token] = user }
        return token
    }

    /// A signed JWT for `user` granting `access` (scope → granted actions), as the server would issue it.
    public func makeToken(user: String?, access: [Scope], lifetime: Int? = nil) throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        let lifetime = lifetime ?? tokenLifetime
        var header: [String: Any] = ["typ": "JWT", "alg": "ES256"]
        switch keyHeader {
        case .x5c: header["x5c"] = [Data(certificateDER).base64EncodedString()]
        case .kid: header["kid"] = keyID
        }
        let claims: [String: Any] = [
            "iss": issuer,
            "sub": user ?? "",
            "aud": service,
            "exp": now + lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": UUID().uuidString,
            "access": access.map { ["type": $0.type, "name": $0.name, "actions": $0.actions] },
        ]
        let headerJSON = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        let claimsJSON = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        let signingInput = base64URL(headerJSON) + "." + base64URL(claimsJSON)
        let signature = try signingKey.signature(for: Data(signingInput.utf8))
        return signingInput + "." + base64URL(signature.rawRepresentation)
    }

    /// The libtrust key ID of a DER SubjectPublicKeyInfo: the first 30 bytes of its SHA-256, base32,
    /// in groups of four joined by `:`.
    public static func libtrustKeyID(_ subjectPublicKeyInfo: Data) -> String {
        let digest = Array(SHA256.hash(data: subjectPublicKeyInfo)).prefix(30)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var encoded = ""
        var buffer = 0
        var bits = 0
        for byte in digest {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                encoded.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { encoded.append(alphabet[(buffer << (5 - bits)) & 31]) }
        var groups: [String] = []
        var rest = Substring(encoded)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(4)))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: ":")
    }

    // MARK: - Answering requests

    struct Reply {
        var status: Int
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        var body: String
    }

    func answer(method: String, uri: String, headers: HTTPHeaders, body: String) -> Reply {
        let components = URLComponents(string: uri)
        guard components?.path == "/token" else {
            return Reply(status: 404, body: #"{"error":"not_found"}"#)
        }
        var query: [(String, String)] = (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        if method == "POST" { query += Self.parseForm(body) }
        func values(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }

        let scopeTexts = values("scope").flatMap { $0.split(separator: " ").map(String.init) }
        let requestedService = values("service").first
        var record = Request(
            method: method, user: nil, grantType: method == "POST" ? values("grant_type").first : nil,
            scopes: scopeTexts, service: requestedService, status: 0)
        defer { state.withLock { $0.log.append(record) } }

        func fail(_ status: Int, _ error: String, _ description: String) -> Reply {
            record.status = status
            var reply = Reply(status: status, body: #"{"error":"\#(error)","error_description":"\#(description)","details":"\#(description)"}"#)
            if status == 401 { reply.headers.append(("WWW-Authenticate", #"Basic realm="stowage-test-token""#)) }
            return reply
        }

        if let requestedService, requestedService != service {
            return fail(400, "invalid_request", "unknown service \(requestedService)")
        }
        let snapshot = state.current
        var user: String?
        var wantsRefreshToken = false
        switch method {
        case "GET":
            if let authorization = headers.first(name: "Authorization") {
                guard let (name, password) = Self.basicCredentials(authorization),
                    snapshot.users[name] == password
                else { return fail(401, "unauthorized", "invalid username or password") }
                user = name
            }
            wantsRefreshToken = user != nil && values("offline_token").first == "true"
        case "POST":
            switch values("grant_type").first {
            case "password":
                let name = values("username").first ?? ""
                guard let password = values("password").first, snapshot.users[name] == password else {
                    return fail(401, "unauthorized", "invalid username or password")
                }
                user = name
                wantsRefreshToken = true
            case "refresh_token":
                guard let refresh = values("refresh_token").first, let owner = snapshot.refreshTokens[refresh] else {
                    return fail(401, "unauthorized", "invalid refresh token")
                }
                user = owner
                wantsRefreshToken = values("access_type").first == "offline"
            default:
                return fail(400, "unsupported_grant_type", "unsupported grant_type")
            }
        default:
            return fail(405, "method_not_allowed", "use GET or POST")
        }
        record.user = user

        let access: [Scope] = scopeTexts.compactMap { Scope(parsing: $0) }.compactMap { scope in
            let granted = snapshot.authorizer(user, scope)
            guard !granted.isEmpty else { return nil }
            return Scope(type: scope.type, name: scope.name, actions: granted)
        }
        let token: String
        do {
            token = try makeToken(user: user, access: access, lifetime: snapshot.tokenLifetime)
        } catch {
            return fail(500, "server_error", "cannot sign: \(error)")
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var response: [String: Any] = [
            "token": token, "access_token": token, "expires_in": snapshot.tokenLifetime,
            "issued_at": formatter.string(from: Date()),
        ]
        if wantsRefreshToken, let user {
            response["refresh_token"] = makeRefreshToken(for: user)
        }
        record.status = 200
        let json = (try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys])) ?? Data()
        return Reply(status: 200, body: String(decoding: json, as: UTF8.self))
    }

    static func basicCredentials(_ header: String) -> (String, String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func parseForm(_ body: String) -> [(String, String)] {
        body.split(separator: "&").map { pair in
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(halves[0]), halves.count > 1 ? decode(halves[1]) : "")
        }
    }
}

/// A weak reference settable after creation (the server exists only once it is bound).
final class Weak<T: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private weak var object: T?

    func set(_ object: T) {
        lock.lock()
        self.object = object
        lock.unlock()
    }

    var value: T? {
        lock.lock()
        defer { lock.unlock() }
        return object
    }
}

/// One token server connection: collects a request (small bodies only) and answers it.
final class TokenHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let owner: Weak<TokenServer>
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(owner: Weak<TokenServer>) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            if body.readableBytes < 1 << 20 { body.writeBuffer(&part) }
        case .end:
            guard let head else { return }
            self.head = nil
            let text = body.readString(length: body.readableBytes) ?? ""
            let reply =
                owner.value?.answer(
                    method: head.method.rawValue, uri: head.uri, headers: head.headers, body: text)
                ?? TokenServer.Reply(status: 503, body: "{}")
            var headers = HTTPHeaders(reply.headers)
            headers.replaceOrAdd(name: "Content-Length", value: String(reply.body.utf8.count))
            writeHTTPReply(context, to: head, status: reply.status, headers: headers, body: ByteBuffer(string: reply.body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
