import Crypto
import Foundation
import RegistryTestSupport
import StowageTestSupport
import Testing

/// Self-tests of the registry harness: real `docker-registry` in every mode, checked with real
/// `skopeo` and `curl`; the token server's JWTs verified by the real registry; the fault proxy.
@Suite("Registry test harness")
struct HarnessTests {
    let directory = TemporaryDirectory("stowage-harness")
    static let fixture = Fixtures.path("x86_64.tar")
    /// The digest of the fixture's only manifest (its index.json).
    static let fixtureManifestDigest = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"

    // MARK: Helpers

    /// Runs skopeo with an empty auth file, so no credentials of the machine get in.
    func skopeo(_ arguments: [String]) throws -> CommandResult {
        let authFile = directory.child("auth.json")
        if !FileManager.default.fileExists(atPath: authFile) {
            try Data(#"{"auths":{}}"#.utf8).write(to: URL(fileURLWithPath: authFile))
        }
        return try Command.run(
            "skopeo", arguments,
            environment: ["REGISTRY_AUTH_FILE": authFile, "XDG_RUNTIME_DIR": directory.path, "HOME": directory.path])
    }

    /// `skopeo copy` of the fixture to `HOST/team/app:v1`.
    func push(to host: String, _ options: [String]) throws -> CommandResult {
        try skopeo(["copy", "--quiet"] + options + ["oci-archive:\(Self.fixture)", "docker://\(host)/team/app:v1"])
    }

    /// `skopeo inspect --raw` of `HOST/team/app:v1`.
    func inspect(_ host: String, _ options: [String]) throws -> CommandResult {
        try skopeo(["inspect", "--raw"] + options + ["docker://\(host)/team/app:v1"])
    }

    func expectPushAndInspect(
        _ host: String, push pushOptions: [String], inspect inspectOptions: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let copied = try push(to: host, pushOptions)
        #expect(copied.status == 0, "skopeo copy: \(copied.stderr)", sourceLocation: sourceLocation)
        let raw = try inspect(host, inspectOptions)
        #expect(raw.status == 0, "skopeo inspect: \(raw.stderr)", sourceLocation: sourceLocation)
        #expect(sha256(raw.stdoutBytes) == Self.fixtureManifestDigest, "the registry serves the exact manifest",
                sourceLocation: sourceLocation)
    }

    func sha256(_ bytes: [UInt8]) -> String {
        "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    func curl(_ arguments: [String]) throws -> CommandResult {
        try Command.run("curl", ["-sS", "--max-time", "20"] + arguments)
    }

    /// The status code curl saw (`-w %{http_code}` must end the output).
    func statusCode(_ result: CommandResult) -> Int {
        Int(result.stdout.split(separator: "\n").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
    }

    func writeRandomFile(_ name: String, size: Int, seed: UInt64) throws -> (path: String, digest: String) {
        let bytes = pseudoRandomBytes(size, seed: seed)
        let path = directory.child(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, sha256(bytes))
    }

    /// A value of a response header in curl's `-D -` / `-i` output.
    func header(_ name: String, in output: String) -> String? {
        for line in output.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    // MARK: Registry modes

    @Test func plainHTTP() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        #expect(registry.host.hasPrefix("127.0.0.1:"))
        #expect(registry.url == "http://\(registry.host)")
        try expectPushAndInspect(registry.host, push: ["--dest-tls-verify=false"], inspect: ["--tls-verify=false"])
        #expect(FileManager.default.fileExists(atPath: registry.logFile))
        // A restart keeps the port and the storage.
        let port = registry.port
        try registry.restart()
        #expect(registry.port == port)
        let again = try inspect(registry.host, ["--tls-verify=false"])
        #expect(sha256(again.stdoutBytes) == Self.fixtureManifestDigest, "\(again.stderr)")
        // Deleting is enabled.
        let deleted = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                                "\(registry.url)/v2/team/app/manifests/\(Self.fixtureManifestDigest)"])
        #expect(statusCode(deleted) == 202)

        let storage = registry.directory
        registry.stop()
        #expect(!registry.isRunning)
        #expect(!FileManager.default.fileExists(atPath: storage), "stop removes the temp files")
        #expect(!FreePort.isAcceptingConnections(registry.port), "nothing listens after stop")
    }

    @Test func tlsWithTheTestCA() throws {
        let ca = try TestCertificateAuthority(clientCertificate: false)
        let registry = try RegistryServer.started(.tls(ca))
        defer { registry.stop() }
        #expect(registry.url == "https://\(registry.host)")
        let certs = try ca.makeCertificateDirectory(at: directory.child("certs"))
        #expect(FileManager.default.fileExists(atPath: "\(certs)/ca.crt"))
        try expectPushAndInspect(registry.host, push: ["--dest-cert-dir", certs], inspect: ["--cert-dir", certs])

        // Without the CA the certificate is refused.
        let refused = try inspect(registry.host, [])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("x509") || refused.stderr.contains("certificate"), "\(refused.stderr)")
        let curlRefused = try curl(["-o", "/dev/null", "\(registry.url)/v2/"])
        #expect(curlRefused.status == 60, "curl: certificate problem (\(curlRefused.stderr))")
        // The certificate is good for localhost too.
        let port = registry.port
        let byName = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca.caCertificate,
                               "https://localhost:\(port)/v2/"])
        #expect(statusCode(byName) == 200, "\(byName.stderr)")
    }

    @Test func mutualTLS() throws {
        let ca = try TestCertificateAuthority(clientCertificate: true)
        let registry = try RegistryServer.started(.mutualTLS(ca))
        defer { registry.stop() }
        let withClient = try ca.makeCertificateDirectory(at: directory.child("with-client"))
        #expect(FileManager.default.fileExists(atPath: "\(withClient)/client.cert"))
        #expect(FileManager.default.fileExists(atPath: "\(withClient)/client.key"))
        try expectPushAndInspect(registry.host, push: ["--dest-cert-dir", withClient], inspect: ["--cert-dir", withClient])

        let caOnly = try ca.makeCertificateDirectory(at: directory.child("ca-only"), includeClientCertificate: false)
        let refused = try inspect(registry.host, ["--cert-dir", caOnly])
        #expect(refused.status != 0, "a client without certificate is refused")
    }

    @Test func basicAuthOverTLS() throws {
        let ca = try TestCertificateAuthority(clientCertificate: false)
        let registry = try RegistryServer.started(.basicAuth(user: "alice", password: "s3cret pw", tls: ca))
        defer { registry.stop() }
        let certs = try ca.makeCertificateDirectory(at: directory.child("certs"))
        try expectPushAndInspect(
            registry.host, push: ["--dest-cert-dir", certs, "--dest-creds", "alice:s3cret pw"],
            inspect: ["--cert-dir", certs, "--creds", "alice:s3cret pw"])

        let wrong = try inspect(registry.host, ["--cert-dir", certs, "--creds", "alice:wrong"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.lowercased().contains("unauthorized") || wrong.stderr.contains("401"), "\(wrong.stderr)")
        let anonymous = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca.caCertificate, "\(registry.url)/v2/"])
        #expect(statusCode(anonymous) == 401)
        let challenge = try curl(["-o", "/dev/null", "-D", "-", "--cacert", ca.caCertificate, "\(registry.url)/v2/"])
        #expect(header("Www-Authenticate", in: challenge.stdout)?.hasPrefix("Basic realm=") == true)
    }

    @Test func basicAuthOverPlainHTTP() throws {
        let registry = try RegistryServer.started(.basicAuth(user: "bob", password: "pw", tls: nil))
        defer { registry.stop() }
        try expectPushAndInspect(
            registry.host, push: ["--dest-tls-verify=false", "--dest-creds", "bob:pw"],
            inspect: ["--tls-verify=false", "--creds", "bob:pw"])
        let wrong = try push(to: registry.host, ["--dest-tls-verify=false", "--dest-creds", "bob:nope"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.lowercased().contains("unauthorized") || wrong.stderr.contains("401"), "\(wrong.stderr)")
    }

    @Test func tokenAuthWithX5C() throws {
        let tokens = try TokenServer(users: ["carol": "token-pw"])
        defer { tokens.stop() }
        let registry = try RegistryServer.started(.tokenAuth(tokens, tls: nil))
        defer { registry.stop() }

        let challenge = try curl(["-o", "/dev/null", "-D", "-", "\(registry.url)/v2/"])
        let bearer = header("Www-Authenticate", in: challenge.stdout) ?? ""
        #expect(bearer.contains("Bearer realm=\"\(tokens.realm)\""), "\(bearer)")
        #expect(bearer.contains("service=\"stowage-test-registry\""), "\(bearer)")

        try expectPushAndInspect(
            registry.host, push: ["--dest-tls-verify=false", "--dest-creds", "carol:token-pw"],
            inspect: ["--tls-verify=false", "--creds", "carol:token-pw"])
        #expect((tokens.tokenRequests["GET"] ?? 0) >= 2, "\(tokens.tokenRequests)")
        #expect(tokens.issuedTokens >= 2)
        #expect(tokens.requests.contains { $0.scopes.contains("repository:team/app:pull,push") && $0.user == "carol" })
        #expect(tokens.lastScopes.contains("repository:team/app:pull"), "\(tokens.lastScopes)")

        let before = tokens.totalTokenRequests
        let wrong = try push(to: registry.host, ["--dest-tls-verify=false", "--dest-creds", "carol:wrong"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.lowercased().contains("unauthorized") || wrong.stderr.contains("401"), "\(wrong.stderr)")
        #expect(tokens.totalTokenRequests > before)
        #expect(tokens.requests.last?.status == 401)
    }

    @Test func tokenAuthWithKeyIDOverTLS() throws {
        let ca = try TestCertificateAuthority(clientCertificate: false)
        let tokens = try TokenServer(users: ["dave": "pw"], keyHeader: .kid)
        defer { tokens.stop() }
        let registry = try RegistryServer.started(.tokenAuth(tokens, tls: ca))
        defer { registry.stop() }
        let certs = try ca.makeCertificateDirectory(at: directory.child("certs"))
        try expectPushAndInspect(
            registry.host, push: ["--dest-cert-dir", certs, "--dest-creds", "dave:pw"],
            inspect: ["--cert-dir", certs, "--creds", "dave:pw"])
        #expect(tokens.issuedTokens >= 2)
    }

    /// The token protocol as the Stowage client will use it, and the real registry's verdict.
    @Test func tokenProtocolAgainstTheRealRegistry() throws {
        let tokens = try TokenServer(users: ["erin": "pw"])
        defer { tokens.stop() }
        let registry = try RegistryServer.started(.tokenAuth(tokens, tls: nil))
        defer { registry.stop() }
        #expect(try push(to: registry.host, ["--dest-tls-verify=false", "--dest-creds", "erin:pw"]).status == 0)
        tokens.resetRequests()

        func json(_ result: CommandResult) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(result.stdoutBytes))) as? [String: Any] ?? [:]
        }
        func registryStatus(_ token: String, _ path: String) throws -> Int {
            statusCode(try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)",
                                 "\(registry.url)\(path)"]))
        }

        // GET with Basic credentials and two scopes.
        let got = try curl(["-u", "erin:pw", "\(tokens.realm)?service=stowage-test-registry"
                            + "&scope=repository:team/app:pull&scope=registry:catalog:*"])
        let body = json(got)
        let token = try #require(body["token"] as? String, "\(got.stdout)")
        #expect(body["access_token"] as? String == token)
        #expect(body["expires_in"] as? Int == 300)
        #expect((body["issued_at"] as? String)?.hasSuffix("Z") == true)
        #expect(body["refresh_token"] == nil)
        #expect(tokens.lastScopes == ["repository:team/app:pull", "registry:catalog:*"])
        #expect(try registryStatus(token, "/v2/team/app/tags/list") == 200)
        #expect(try registryStatus(token, "/v2/_catalog") == 200)
        #expect(try registryStatus(token, "/v2/other/app/tags/list") == 401, "the token is scoped")

        // offline_token gives a refresh token; the refresh grant (POST) trades it for a token.
        let offline = json(try curl(["-u", "erin:pw", "\(tokens.realm)?service=stowage-test-registry&offline_token=true"]))
        let refresh = try #require(offline["refresh_token"] as? String)
        let refreshed = json(try curl([
            "--data-urlencode", "grant_type=refresh_token", "--data-urlencode", "refresh_token=\(refresh)",
            "--data-urlencode", "service=stowage-test-registry", "--data-urlencode", "scope=repository:team/app:pull",
            "--data-urlencode", "client_id=stowage", tokens.realm,
        ]))
        let refreshedToken = try #require(refreshed["access_token"] as? String)
        #expect(try registryStatus(refreshedToken, "/v2/team/app/tags/list") == 200)

        // The password grant (POST) returns a refresh token too.
        let password = json(try curl([
            "--data-urlencode", "grant_type=password", "--data-urlencode", "username=erin",
            "--data-urlencode", "password=pw", "--data-urlencode", "service=stowage-test-registry",
            "--data-urlencode", "scope=repository:team/app:pull,push", "--data-urlencode", "client_id=stowage",
            tokens.realm,
        ]))
        #expect(password["refresh_token"] is String)
        #expect(password["access_token"] is String)
        #expect(tokens.tokenRequests == ["GET": 2, "POST": 2], "\(tokens.tokenRequests)")

        // Wrong credentials, unknown refresh tokens: 401.
        let wrong = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-u", "erin:nope", "\(tokens.realm)?service=stowage-test-registry"])
        #expect(statusCode(wrong) == 401)
        let badRefresh = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--data-urlencode", "grant_type=refresh_token",
                                   "--data-urlencode", "refresh_token=nope", tokens.realm])
        #expect(statusCode(badRefresh) == 401)
        let identity = tokens.makeRefreshToken(for: "erin")
        let byIdentity = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--data-urlencode", "grant_type=refresh_token",
                                   "--data-urlencode", "refresh_token=\(identity)", tokens.realm])
        #expect(statusCode(byIdentity) == 200)

        // Anonymous tokens grant nothing; a token signed by another key is refused by the registry.
        let anonymous = json(try curl(["\(tokens.realm)?service=stowage-test-registry&scope=repository:team/app:pull"]))
        #expect(try registryStatus(try #require(anonymous["token"] as? String), "/v2/team/app/tags/list") == 401)
        let stranger = try TokenServer(users: ["erin": "pw"])
        defer { stranger.stop() }
        let forged = try stranger.makeToken(user: "erin", access: [.init(type: "repository", name: "team/app", actions: ["pull"])])
        #expect(try registryStatus(forged, "/v2/team/app/tags/list") == 401)
        let genuine = try tokens.makeToken(user: "erin", access: [.init(type: "repository", name: "team/app", actions: ["pull"])])
        #expect(try registryStatus(genuine, "/v2/team/app/tags/list") == 200)
    }

    // MARK: Fault proxy

    @Test func proxyForwardsASkopeoCopy() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let proxy = try FaultProxy(upstream: registry.host)
        defer { proxy.stop() }
        try expectPushAndInspect(proxy.host, push: ["--dest-tls-verify=false"], inspect: ["--tls-verify=false"])
        let records = proxy.records
        #expect(records.contains { $0.method == "PUT" && $0.path == "/v2/team/app/manifests/v1" && $0.status == 201 },
                "\(records)")
        #expect(records.allSatisfy { $0.outcome == .completed }, "\(records)")
        #expect(records.map(\.index) == Array(records.indices))

        // Location headers point at the proxy (the Host header went through unchanged).
        let started = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let location = try #require(header("Location", in: started.stdout), "\(started.stdout)")
        #expect(location.hasPrefix("\(proxy.url)/v2/team/app/blobs/uploads/"), "\(location)")
    }

    @Test func proxyAnswering503MakesSkopeoFail() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let proxy = try FaultProxy(upstream: registry.host, rule: { _ in .respond(status: 503, body: "down") })
        defer { proxy.stop() }
        let failed = try push(to: proxy.host, ["--dest-tls-verify=false"])
        #expect(failed.status != 0)
        #expect(!proxy.records.isEmpty)
        #expect(proxy.records.allSatisfy { $0.status == 503 && $0.outcome == .answeredByProxy }, "\(proxy.records)")

        // 429 with Retry-After, then back to forwarding: the rule changes while running.
        proxy.rule = { _ in .respond(status: 429, headers: [("Retry-After", "1")]) }
        let limited = try curl(["-D", "-", "-o", "/dev/null", "\(proxy.url)/v2/"])
        #expect(limited.stdout.hasPrefix("HTTP/1.1 429"), "\(limited.stdout)")
        #expect(header("Retry-After", in: limited.stdout) == "1")
        proxy.rule = { _ in .forward }
        let ok = try curl(["-o", "/dev/null", "-w", "%{http_code}", "\(proxy.url)/v2/"])
        #expect(statusCode(ok) == 200)
    }

    @Test func proxyDropsAnUploadMidway() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let patches = AtomicCounter()
        let proxy = try FaultProxy(upstream: registry.host) { request in
            request.method == "PATCH" && patches.increment() == 1 ? .dropAfterRequestBytes(100_000) : .forward
        }
        defer { proxy.stop() }
        let blob = try writeRandomFile("blob", size: 1_000_000, seed: 7)

        let started = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let location = try #require(header("Location", in: started.stdout), "\(started.stdout)")
        let dropped = try curl(["-X", "PATCH", "-T", blob.path, "-H", "Content-Type: application/octet-stream", location])
        #expect(dropped.status != 0, "curl reports the dropped connection")
        #expect(dropped.stderr.contains("curl: ("), "\(dropped.stderr)")

        let patch = try #require(proxy.records.first { $0.method == "PATCH" })
        #expect(patch.outcome == .dropped)
        #expect(patch.forwardedBodyBytes == 100_000)
        #expect(patch.status == nil)

        // The registry got exactly the forwarded bytes and kept them (distribution 2.8 logs "client
        // disconnected during blob PATCH ... copied=100000"). Its upload URL still carries the old
        // offset in `_state`, so the registry refuses to resume it ("upload resumed at wrong
        // offset: 100000 != 0") and cancels the upload: a client must start a new upload.
        #expect(registry.log.contains("copied=100000"), "\(registry.log)")
        let status = try curl(["-o", "/dev/null", "-w", "%{http_code}", location])
        #expect(statusCode(status) == 404, "BLOB_UPLOAD_INVALID")

        // A new upload through the proxy (the rule now forwards PATCH) completes.
        let restarted = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let again = try #require(header("Location", in: restarted.stdout))
        let patched = try curl(["-D", "-", "-o", "/dev/null", "-X", "PATCH", "-T", blob.path,
                                "-H", "Content-Type: application/octet-stream", again])
        #expect(patched.stdout.contains(" 202 "), "\(patched.stdout) \(patched.stderr)")
        #expect(header("Range", in: patched.stdout) == "0-999999")
        let finalLocation = try #require(header("Location", in: patched.stdout))
        let put = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "\(finalLocation)&digest=\(blob.digest)"])
        #expect(statusCode(put) == 201, "\(put.stdout) \(put.stderr)")
        let head = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-I", "\(proxy.url)/v2/team/app/blobs/\(blob.digest)"])
        #expect(statusCode(head) == 200)
        #expect(proxy.records.filter { $0.method == "PATCH" }.map(\.outcome) == [.dropped, .completed])
    }

    @Test func proxyLosesAResponse() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let proxy = try FaultProxy(upstream: registry.host) { request in
            request.method == "PUT" ? .dropAfterRequestBytes(1 << 20) : .forward
        }
        defer { proxy.stop() }
        let blob = try writeRandomFile("small", size: 1000, seed: 3)
        let started = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let location = try #require(header("Location", in: started.stdout))
        let lost = try curl(["-X", "PUT", "-T", blob.path, "\(location)&digest=\(blob.digest)"])
        #expect(lost.status != 0, "the client gets no response")
        let put = try #require(proxy.records.first { $0.method == "PUT" })
        #expect(put.upstreamStatus == 201, "\(put)")
        #expect(put.status == nil)
        #expect(put.outcome == .dropped)
        // …but the registry has the blob.
        let head = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-I", "\(registry.url)/v2/team/app/blobs/\(blob.digest)"])
        #expect(statusCode(head) == 200)
    }

    @Test func proxyStreamsLargeBodiesDelaysAndThrottles() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let proxy = try FaultProxy(upstream: registry.host)
        defer { proxy.stop() }

        // A 24 MB monolithic upload (curl sends Expect: 100-continue) and its download.
        let blob = try writeRandomFile("large", size: 24 << 20, seed: 11)
        let started = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let location = try #require(header("Location", in: started.stdout))
        let put = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", blob.path,
                            "-H", "Content-Type: application/octet-stream", "\(location)&digest=\(blob.digest)"])
        #expect(statusCode(put) == 201, "\(put.stdout) \(put.stderr)")
        let downloaded = directory.child("downloaded")
        let get = try curl(["-o", downloaded, "-w", "%{http_code}", "\(proxy.url)/v2/team/app/blobs/\(blob.digest)"])
        #expect(statusCode(get) == 200)
        #expect(sha256(Array(try Data(contentsOf: URL(fileURLWithPath: downloaded)))) == blob.digest)
        #expect(proxy.records.last?.responseBodyBytes == 24 << 20)

        // Delay.
        proxy.rule = { _ in .delay(0.5) }
        var clock = Date()
        let delayed = try curl(["-o", "/dev/null", "-w", "%{http_code}", "\(proxy.url)/v2/"])
        #expect(statusCode(delayed) == 200)
        #expect(Date().timeIntervalSince(clock) >= 0.45)

        // Slow link: 300 kB at 600 kB/s takes about half a second.
        let small = try writeRandomFile("medium", size: 300_000, seed: 12)
        proxy.rule = { _ in .forward }
        let upload = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let smallLocation = try #require(header("Location", in: upload.stdout))
        #expect(statusCode(try curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", small.path,
                                     "\(smallLocation)&digest=\(small.digest)"])) == 201)
        proxy.rule = { _ in .slow(bytesPerSecond: 600_000) }
        clock = Date()
        let slow = try curl(["-o", downloaded, "-w", "%{http_code}", "\(proxy.url)/v2/team/app/blobs/\(small.digest)"])
        let elapsed = Date().timeIntervalSince(clock)
        #expect(statusCode(slow) == 200)
        #expect(sha256(Array(try Data(contentsOf: URL(fileURLWithPath: downloaded)))) == small.digest)
        #expect(elapsed >= 0.4 && elapsed < 5, "\(elapsed) s")
        // …and uploads too.
        let slowUpload = try curl(["-o", "/dev/null", "-D", "-", "-X", "POST", "\(proxy.url)/v2/team/app/blobs/uploads/"])
        let slowLocation = try #require(header("Location", in: slowUpload.stdout))
        let other = try writeRandomFile("other", size: 300_000, seed: 13)
        clock = Date()
        #expect(statusCode(try curl(["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", other.path,
                                     "\(slowLocation)&digest=\(other.digest)"])) == 201)
        #expect(Date().timeIntervalSince(clock) >= 0.4)

        // Disconnect.
        proxy.rule = { _ in .disconnect }
        let cut = try curl(["-o", "/dev/null", "\(proxy.url)/v2/"])
        #expect(cut.status != 0)
        #expect(proxy.records.last?.outcome == .dropped)
    }

    @Test func certificateAuthorityFiles() throws {
        let ca = try TestCertificateAuthority(clientCertificate: true, keyAlgorithm: .rsa2048)
        for path in [ca.caCertificate, ca.serverCertificate, ca.serverKey, ca.clientCertificate!, ca.clientKey!] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        let verified = try Command.run("openssl", ["verify", "-CAfile", ca.caCertificate, ca.serverCertificate, ca.clientCertificate!])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let names = try Command.run("openssl", ["x509", "-in", ca.serverCertificate, "-noout", "-ext", "subjectAltName"])
        #expect(names.stdout.contains("IP Address:127.0.0.1") && names.stdout.contains("DNS:localhost"), "\(names.stdout)")
        let directory = ca.directory
        ca.remove()
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}

