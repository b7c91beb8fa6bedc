import StowageModel
import Testing

@testable import StowageRegistry

@Suite("Registry hosts")
struct RegistryHostTests {
    @Test(arguments: ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "Docker.IO", "INDEX.DOCKER.IO"])
    func dockerHubAliasesAreCanonical(alias: String) {
        #expect(RegistryHost.canonical(alias) == "docker.io")
        #expect(RegistryHost.canonical(alias) == RegistryHost.dockerHub)
    }

    @Test func otherHostsAreOnlyLowercased() {
        #expect(RegistryHost.canonical("Registry.Example.COM:5000") == "registry.example.com:5000")
        #expect(RegistryHost.canonical("localhost:5000") == "localhost:5000")
        #expect(RegistryHost.canonical("ghcr.io") == "ghcr.io")
        #expect(RegistryHost.canonical("hub.docker.com") == "hub.docker.com")
        #expect(RegistryHost.canonical("docker.io:443") == "docker.io:443")
    }

    @Test func apiHost() {
        #expect(RegistryHost.apiHost("docker.io") == "registry-1.docker.io")
        #expect(RegistryHost.apiHost("index.docker.io") == "registry-1.docker.io")
        #expect(RegistryHost.apiHost("Docker.io") == "registry-1.docker.io")
        #expect(RegistryHost.apiHost("registry-1.docker.io") == "registry-1.docker.io")
        #expect(RegistryHost.apiHost("127.0.0.1:5000") == "127.0.0.1:5000")
        #expect(RegistryHost.apiHost("ghcr.io") == "ghcr.io")
    }

    /// `authKey` as `host|path`, to compare in one expectation.
    func key(_ text: String) -> String {
        let (host, path) = RegistryHost.authKey(text)
        return "\(host)|\(path)"
    }

    @Test func authKeyForms() {
        #expect(key("https://index.docker.io/v1/") == "docker.io|")
        #expect(key("https://index.docker.io/v1") == "docker.io|")
        #expect(key("https://registry-1.docker.io/v2/") == "docker.io|")
        #expect(key("docker.io") == "docker.io|")
        #expect(key("http://host:5000") == "host:5000|")
        #expect(key("http://host:5000/") == "host:5000|")
        #expect(key("host:5000/namespace") == "host:5000|namespace")
        #expect(key("host:5000/team/sub/") == "host:5000|team/sub")
        #expect(key("https://ghcr.io/owner") == "ghcr.io|owner")
        #expect(key("docker.io/library") == "docker.io|library")
        #expect(key("HTTPS://Quay.IO") == "quay.io|")
    }

    // MARK: RegistryReference

    @Test func oneNameOnDockerHubGetsLibrary() throws {
        let reference = try RegistryReference(parsing: "alpine")
        #expect(reference.host == "docker.io")
        #expect(reference.repository == "library/alpine")
        #expect(reference.tag == nil)
        #expect(reference.digest == nil)
        #expect(reference.manifestReference == "latest")
        #expect(reference.description == "docker.io/library/alpine")
    }

    @Test func dockerPrefixIsStripped() throws {
        let reference = try RegistryReference(parsing: "docker://alpine:3.20")
        #expect(reference == RegistryReference(host: "docker.io", repository: "library/alpine", tag: "3.20"))
        let hosted = try RegistryReference(parsing: "docker://127.0.0.1:5000/team/app:v1")
        #expect(hosted == RegistryReference(host: "127.0.0.1:5000", repository: "team/app", tag: "v1"))
    }

    @Test func explicitDockerHubHostsKeepTheHostAsGiven() throws {
        let explicit = try RegistryReference(parsing: "docker.io/nginx:1")
        #expect(explicit.host == "docker.io")
        #expect(explicit.repository == "library/nginx")
        #expect(explicit.tag == "1")
        let alias = try RegistryReference(parsing: "index.docker.io/nginx")
        #expect(alias.host == "index.docker.io")
        #expect(alias.repository == "library/nginx")
    }

    @Test func twoPartDockerHubNamesAreKept() throws {
        let reference = try RegistryReference(parsing: "team/app:v2")
        #expect(reference.host == "docker.io")
        #expect(reference.repository == "team/app")
        #expect(reference.tag == "v2")
        #expect(reference.manifestReference == "v2")
    }

    @Test func otherRegistriesDoNotGetLibrary() throws {
        let reference = try RegistryReference(parsing: "localhost:5000/app")
        #expect(reference.host == "localhost:5000")
        #expect(reference.repository == "app")
        let ghcr = try RegistryReference(parsing: "ghcr.io/owner/team/app:1.0")
        #expect(ghcr.host == "ghcr.io")
        #expect(ghcr.repository == "owner/team/app")
        #expect(ghcr.tag == "1.0")
        #expect(ghcr.description == "ghcr.io/owner/team/app:1.0")
        let local = try RegistryReference(parsing: "localhost/app")
        #expect(local.host == "localhost")
        #expect(local.repository == "app")
        let ipv6 = try RegistryReference(parsing: "[::1]:5000/app:v1")
        #expect(ipv6.host == "[::1]:5000")
        #expect(ipv6.repository == "app")
        #expect(ipv6.tag == "v1")
    }

    @Test func hostWithPortAndNoTag() throws {
        let reference = try RegistryReference(parsing: "registry.example.com:8443/team/app")
        #expect(reference.host == "registry.example.com:8443")
        #expect(reference.repository == "team/app")
        #expect(reference.tag == nil)
        #expect(reference.manifestReference == "latest")
    }

    @Test func digestWinsOverTag() throws {
        let hex = String(repeating: "ab", count: 32)
        let reference = try RegistryReference(parsing: "127.0.0.1:5000/team/app:v1@sha256:\(hex)")
        #expect(reference.tag == "v1")
        #expect(reference.digest == (try Digest("sha256:\(hex)")))
        #expect(reference.manifestReference == "sha256:\(hex)")
        #expect(reference.description == "127.0.0.1:5000/team/app:v1@sha256:\(hex)")

        let digestOnly = try RegistryReference(parsing: "busybox@sha256:\(hex)")
        #expect(digestOnly.repository == "library/busybox")
        #expect(digestOnly.tag == nil)
        #expect(digestOnly.manifestReference == "sha256:\(hex)")
    }

    @Test func manifestReferenceOfBuiltReferences() throws {
        #expect(RegistryReference(host: "h", repository: "r").manifestReference == "latest")
        #expect(RegistryReference(host: "h", repository: "r", tag: "t").manifestReference == "t")
        let digest = try Digest("sha256:" + String(repeating: "0", count: 64))
        #expect(RegistryReference(host: "h", repository: "r", tag: "t", digest: digest).manifestReference == digest.string)
    }

    @Test(arguments: [
        "", "docker://", "UPPER/app", "app:", "host:5000/app:bad tag", "app@sha256:short",
        "host:notaport/app", "/app", "team//app", "Docker://alpine",
    ])
    func invalidReferencesAreRejected(input: String) {
        #expect(throws: StowageError.self) { try RegistryReference(parsing: input) }
    }

    @Test func invalidReferenceErrorCode() {
        let error = #expect(throws: StowageError.self) { try RegistryReference(parsing: "Team/App") }
        #expect(error?.code == .invalidReference)
    }
}
