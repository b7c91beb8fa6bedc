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
        let guarded = try RegistryServer.started(.basicAuth(user: "builder", password: "s3cret", tls: nil))
        let storage = try RegistryServer.started(.http)
        for (registry, creds) in [(guarded, ["--dest-creds", "builder:s3cret"]), (storage, [])] {
            let push = try Command.run("skopeo", ["copy", "--dest-tls-verify=false"] + creds + [
                "oci-archive:\(Fixtures.path("x86_64.tar"))", "docker://\(registry.host)/team/app:v1",
            ])
            #expect(push.status == 0, "\(push.stderr)")
        }
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
}
