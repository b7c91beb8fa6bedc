import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// Blob downloads redirected to storage elsewhere follow the redirect without
/// taking the registry's credentials along.
@Suite struct RegistryRedirectTests {
    let directory = TemporaryDirectory()

    @Test func redirectedBlobsAreFetchedWithoutTheRegistryCredentials() throws {
        // The registry users talk to asks for a password; its blobs are served by "storage",
        // another host (here: an open registry holding the same content, behind its own proxy).
        let guarded = try guardedRegistry()
        let storage = try RegistryServer.started(.http)
        try push(to: storage, creds: [])
        let seenAtStorage = Locked<[String?]>([])
        let storageProxy = try FaultProxy(upstream: storage.host) { request in
            seenAtStorage.withLock { $0.append(request.header("Authorization")) }
            return .forward
        }
        let storageHost = storageProxy.host
        let front = try FaultProxy(upstream: guarded.host) { request in
            guard request.method == "GET", request.path.contains("/blobs/sha256:") else { return .forward }
            return .respond(status: 307, headers: [("Location", "http://\(storageHost)\(request.uri)")])
        }
        let pull = try StowageBinary.run([
            "pull", "--layout", directory.child("layout"), "--tls-verify=false", "--creds", "builder:s3cret",
            "\(front.host)/team/app:v1",
        ])
        #expect(pull.status == 0, "\(pull.stderr)")
        let atStorage = seenAtStorage.withLock { $0 }
        #expect(atStorage.count == 3, "config and two layers came from storage: \(atStorage.count)")
        #expect(atStorage.allSatisfy { $0 == nil }, "no Authorization header left the registry")
        #expect(front.records.contains { $0.status == 307 })
        let verify = try StowageBinary.run(["verify", "--layout", directory.child("layout")])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// A registry that asks for a password, holding team/app:v1.
    func guardedRegistry() throws -> RegistryServer {
        let guarded = try RegistryServer.started(.basicAuth(user: "builder", password: "s3cret", tls: nil))
        try push(to: guarded, creds: ["--dest-creds", "builder:s3cret"])
        return guarded
    }

    /// Pushes the amd64 fixture to `registry` as team/app:v1 with skopeo.
    func push(to registry: RegistryServer, creds: [String]) throws {
        let push = try Command.run("skopeo", ["copy", "--dest-tls-verify=false"] + creds + [
            "oci-archive:\(Fixtures.path("x86_64.tar"))", "docker://\(registry.host)/team/app:v1",
        ])
        #expect(push.status == 0, "\(push.stderr)")
    }

    @Test func aRedirectTargetAskingForCredentialsGetsNone() throws {
        let guarded = try guardedRegistry()
        // "Storage" elsewhere answers 401 with a Basic challenge of its own.
        let seenAtStorage = Locked<[String?]>([])
        let storage = try FaultProxy(upstream: guarded.host) { request in
            seenAtStorage.withLock { $0.append(request.header("Authorization")) }
            return .respond(status: 401, headers: [("WWW-Authenticate", #"Basic realm="storage""#)])
        }
        let storageHost = storage.host
        let front = try FaultProxy(upstream: guarded.host) { request in
            guard request.method == "GET", request.path.contains("/blobs/sha256:") else { return .forward }
            return .respond(status: 307, headers: [("Location", "http://\(storageHost)\(request.uri)")])
        }
        let pull = try StowageBinary.run([
            "pull", "--layout", directory.child("layout"), "--tls-verify=false", "--retry-times", "0",
            "--creds", "builder:s3cret", "\(front.host)/team/app:v1",
        ])
        #expect(pull.status != 0)
        #expect(pull.stderr.contains(storageHost), "the error names the host that asked: \(pull.stderr)")
        #expect(pull.stderr.contains("only to the registry"), "\(pull.stderr)")
        let atStorage = seenAtStorage.withLock { $0 }
        #expect(!atStorage.isEmpty)
        #expect(atStorage.allSatisfy { $0 == nil }, "no credentials went to the other host: \(atStorage)")
    }

    @Test func anUploadLocationOnAnotherHostGetsNoCredentials() throws {
        let guarded = try guardedRegistry()
        let open = try RegistryServer.started(.http)
        let seenElsewhere = Locked<[String?]>([])
        let elsewhere = try FaultProxy(upstream: open.host) { request in
            seenElsewhere.withLock { $0.append(request.header("Authorization")) }
            return .forward
        }
        let elsewhereHost = elsewhere.host
        // The registry starts each upload and sends the client to another host to carry it out.
        let front = try FaultProxy(upstream: guarded.host) { request in
            guard request.method == "POST", request.path.hasSuffix("/blobs/uploads/") else { return .forward }
            return .respond(status: 202, headers: [
                ("Location", "http://\(elsewhereHost)/v2/team/app/blobs/uploads/0123456789abcdef"), ("Range", "0-0"),
            ])
        }
        let layout = directory.child("layout")
        let imported = try StowageBinary.run(["import", "--layout", layout, "--tag", "team/app:v2", Fixtures.path("v2-x86_64.tar")])
        #expect(imported.status == 0, "\(imported.stderr)")
        _ = try StowageBinary.run([
            "push", "--layout", layout, "--tls-verify=false", "--retry-times", "0", "--creds", "builder:s3cret",
            "team/app:v2", "\(front.host)/team/app:v2",
        ])
        let elsewhereSeen = seenElsewhere.withLock { $0 }
        #expect(!elsewhereSeen.isEmpty, "the upload went to the other host")
        #expect(elsewhereSeen.allSatisfy { $0 == nil }, "no credentials went with it: \(elsewhereSeen)")
    }

    @Test func aTokenRealmOnPlainHTTPGetsNoPasswordFromATLSRegistry() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let tokens = try TokenServer(users: ["builder": "s3cret"])
        let registry = try RegistryServer.started(.tokenAuth(tokens, tls: ca))
        let pull = try StowageBinary.run([
            "pull", "--layout", directory.child("layout"), "--ca-file", ca.caCertificate, "--retry-times", "0",
            "--creds", "builder:s3cret", "\(registry.host)/team/app:v1",
        ])
        #expect(pull.status != 0)
        #expect(pull.stderr.contains("plain http"), "\(pull.stderr)")
        #expect(pull.stderr.contains("--tls-verify=false"), "\(pull.stderr)")
        #expect(tokens.totalTokenRequests == 0, "the password never went to the token service in clear")
    }
}
