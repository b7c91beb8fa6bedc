import Foundation
import StowageModel
import StowageTestSupport
import Testing

@testable import StowageRegistry

#if canImport(Glibc)
import Glibc
#endif

/// A directory of `docker-credential-*` scripts put first on this process's PATH, once.
/// Every test writes a helper with a name of its own, so tests never see each other's helpers
/// and nothing else on PATH is shadowed.
enum CredentialHelperDirectory {
    static let path: String = {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stowage-credential-helpers-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let current = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        setenv("PATH", "\(directory):\(current)", 1)
        return directory
    }()

    /// Writes `docker-credential-NAME` running `script` (POSIX sh) and returns NAME.
    static func install(_ script: String) throws -> String {
        let name = "stowagetest\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let file = "\(path)/docker-credential-\(name)"
        try Data(("#!/bin/sh\n" + script + "\n").utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file)
        return name
    }

    static func remove(_ name: String) {
        try? FileManager.default.removeItem(atPath: "\(path)/docker-credential-\(name)")
    }
}

@Suite("Credential resolution")
struct CredentialResolverTests {
    let directory = TemporaryDirectory("stowage-creds")

    // MARK: Helpers

    /// Writes `json` to `relative` under the temp directory, creating folders, and returns the path.
    @discardableResult
    func write(_ relative: String, _ json: String) throws -> String {
        let path = directory.child(relative)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func auths(_ entries: [String: String]) -> String {
        let body = entries.map { key, user in #""\#(key)":{"username":"\#(user)","password":"pw-\#(user)"}"# }
        return #"{"auths":{\#(body.joined(separator: ","))}}"#
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// Options with an explicit environment rooted in the temp directory (never this machine's files).
    func options(
        creds: Credential? = nil, authFile: String? = nil, environment extra: [String: String] = [:]
    ) -> RegistryOptions {
        var options = RegistryOptions()
        options.credentials = creds
        options.authFile = authFile
        options.environment = ["HOME": directory.child("home")].merging(extra) { $1 }
        return options
    }

    func resolve(
        _ host: String, _ repository: String? = "team/app", options: RegistryOptions
    ) throws -> Credential? {
        try CredentialResolver(options: options).credentials(host: host, repository: repository)
    }

    /// Every location the resolver reads, written with a distinct user for `registry.example.com`.
    func writeAllLocations() throws -> (options: RegistryOptions, files: [(String, String)]) {
        let locations = [
            ("registry-auth-file", "custom/auth.json"),
            ("xdg", "runtime/containers/auth.json"),
            ("docker-config", "dockercfg/config.json"),
            ("kubernetes", "dockercfg/.dockerconfigjson"),
            ("home", "home/.docker/config.json"),
        ]
        var files: [(String, String)] = []
        for (user, relative) in locations {
            files.append((user, try write(relative, Self.auths(["registry.example.com": user]))))
        }
        let options = options(environment: [
            "REGISTRY_AUTH_FILE": directory.child("custom/auth.json"),
            "XDG_RUNTIME_DIR": directory.child("runtime"),
            "DOCKER_CONFIG": directory.child("dockercfg"),
        ])
        return (options, files)
    }

    // MARK: Precedence

    @Test func credsComeFirst() throws {
        let (base, files) = try writeAllLocations()
        var options = base
        options.credentials = .basic(username: "cli", password: "x")
        options.authFile = files[0].1
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "cli", password: "x"))
        // Even for a host that no file knows.
        #expect(try resolve("unknown.example.com", options: options) == .basic(username: "cli", password: "x"))
    }

    @Test func authFileIsReadAlone() throws {
        let (base, _) = try writeAllLocations()
        var options = base
        options.authFile = try write("given.json", Self.auths(["registry.example.com": "given"]))
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "given", password: "pw-given"))
        #expect(CredentialResolver(options: options).files == [options.authFile!])

        // A given file without the host does not fall back to the others.
        options.authFile = try write("other.json", Self.auths(["elsewhere.example.com": "x"]))
        #expect(try resolve("registry.example.com", options: options) == nil)
    }

    @Test func locationsInOrder() throws {
        let (options, files) = try writeAllLocations()
        let resolver = CredentialResolver(options: options)
        #expect(resolver.files == files.map(\.1))
        // Remove the winner each time: the next location takes over.
        for (user, path) in files {
            #expect(try resolve("registry.example.com", options: options) == .basic(username: user, password: "pw-\(user)"), "\(path)")
            try FileManager.default.removeItem(atPath: path)
        }
        #expect(try resolve("registry.example.com", options: options) == nil)
        #expect(resolver.files.isEmpty)
    }

    @Test func aFileWithoutTheHostFallsThroughToTheNext() throws {
        let (options, files) = try writeAllLocations()
        // The first three files name other registries only.
        for (_, path) in files.prefix(3) {
            try Data(Self.auths(["other.example.com": "other"]).utf8).write(to: URL(fileURLWithPath: path))
        }
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "kubernetes", password: "pw-kubernetes"))
        #expect(try resolve("other.example.com", options: options) == .basic(username: "other", password: "pw-other"))
    }

    @Test func emptyVariablesAreIgnored() throws {
        try write("home/.docker/config.json", Self.auths(["registry.example.com": "home"]))
        let options = options(environment: ["REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": "", "DOCKER_CONFIG": ""])
        #expect(CredentialResolver(options: options).files == [directory.child("home/.docker/config.json")])
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "home", password: "pw-home"))
    }

    @Test func noFilesMeansAnonymous() throws {
        #expect(try resolve("registry.example.com", options: options()) == nil)
        #expect(CredentialResolver(options: options()).files.isEmpty)
    }

    // MARK: Entries

    @Test func authIsBase64UserColonPassword() throws {
        let file = try write("a.json", #"{"auths":{"registry.example.com":{"auth":"\#(Self.base64("bob:pa:ss:word"))"}}}"#)
        #expect(try resolve("registry.example.com", options: options(authFile: file)) == .basic(username: "bob", password: "pa:ss:word"))
    }

    @Test func authWinsOverUsernameAndPassword() throws {
        let file = try write("a.json", #"{"auths":{"r.example.com":{"auth":"\#(Self.base64("fromauth:1"))","username":"fields","password":"2"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: file)) == .basic(username: "fromauth", password: "1"))
    }

    @Test func usernameAndPassword() throws {
        let file = try write("a.json", #"{"auths":{"r.example.com":{"username":"carol","password":"p@ss w:rd"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: file)) == .basic(username: "carol", password: "p@ss w:rd"))
    }

    @Test func identityTokenWinsInItsEntry() throws {
        let file = try write("a.json", #"{"auths":{"r.example.com":{"auth":"\#(Self.base64("u:p"))","identitytoken":"refresh-123"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: file)) == .identityToken("refresh-123"))
    }

    @Test func emptyIdentityTokenAndAuthAreSkipped() throws {
        let file = try write("a.json", #"{"auths":{"r.example.com":{"auth":"","identitytoken":"","username":"dave","password":"p"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: file)) == .basic(username: "dave", password: "p"))
    }

    @Test func anEntryWithoutCredentialsIsAnonymous() throws {
        let file = try write("a.json", #"{"auths":{"r.example.com":{"email":"x@example.com"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: file)) == nil)
        let usernameOnly = try write("b.json", #"{"auths":{"r.example.com":{"username":"u"}}}"#)
        #expect(try resolve("r.example.com", options: options(authFile: usernameOnly)) == nil)
    }

    @Test(arguments: ["not base64!", "bm9jb2xvbg=="])  // the second is base64 of "nocolon"
    func badAuthIsAnErrorNamingTheFile(auth: String) throws {
        let file = try write("bad.json", #"{"auths":{"r.example.com":{"auth":"\#(auth)"}}}"#)
        let error = #expect(throws: StowageError.self) { try resolve("r.example.com", options: options(authFile: file)) }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains(file) == true, "\(String(describing: error))")
        #expect(error?.message.contains(auth) == false, "the secret stays out of the message")
    }

    @Test func emptyOrEntrylessFilesAreAnonymous() throws {
        #expect(try resolve("r.example.com", options: options(authFile: try write("empty.json", "{}"))) == nil)
        #expect(try resolve("r.example.com", options: options(authFile: try write("auths.json", #"{"auths":{}}"#))) == nil)
    }

    // MARK: Keys

    @Test func mostSpecificNamespaceWins() throws {
        let file = try write("a.json", Self.auths([
            "registry.example.com": "host",
            "registry.example.com/team": "team",
            "registry.example.com/team/app": "app",
        ]))
        let options = options(authFile: file)
        func user(_ repository: String?) throws -> String? {
            guard case .basic(let name, _)? = try resolve("registry.example.com", repository, options: options) else { return nil }
            return name
        }
        #expect(try user("team/app") == "app")
        #expect(try user("team/app/sub") == "app")
        #expect(try user("team/other") == "team")
        #expect(try user("team") == "team")
        #expect(try user("teammate/x") == "host", "a namespace is a whole path component")
        #expect(try user("team/application") == "team")
        #expect(try user("other") == "host")
        #expect(try user(nil) == "host")
    }

    @Test func aNamespaceKeyIsNotUsedForOtherRepositories() throws {
        let file = try write("a.json", Self.auths(["registry.example.com:5000/team": "team"]))
        let options = options(authFile: file)
        #expect(try resolve("registry.example.com:5000", "team/app", options: options) == .basic(username: "team", password: "pw-team"))
        #expect(try resolve("registry.example.com:5000", "other/app", options: options) == nil)
        #expect(try resolve("registry.example.com:5000", nil, options: options) == nil)
        #expect(try resolve("registry.example.com", "team/app", options: options) == nil, "another port is another registry")
    }

    @Test(arguments: ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"])
    func dockerHubLegacyKeyMatches(host: String) throws {
        let file = try write("a.json", #"{"auths":{"https://index.docker.io/v1/":{"auth":"\#(Self.base64("hubuser:hubpass"))"}}}"#)
        #expect(try resolve(host, "library/alpine", options: options(authFile: file)) == .basic(username: "hubuser", password: "hubpass"))
        #expect(try resolve("quay.io", "library/alpine", options: options(authFile: file)) == nil)
    }

    @Test func keysWithSchemesAndPorts() throws {
        let file = try write("a.json", Self.auths(["http://localhost:5000": "local", "https://Registry.Example.com": "upper"]))
        let options = options(authFile: file)
        #expect(try resolve("localhost:5000", options: options) == .basic(username: "local", password: "pw-local"))
        #expect(try resolve("LOCALHOST:5000", options: options) == .basic(username: "local", password: "pw-local"))
        #expect(try resolve("localhost:5001", options: options) == nil)
        #expect(try resolve("localhost", options: options) == nil)
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "upper", password: "pw-upper"))
    }

    // MARK: File errors

    @Test func invalidJSONNamesTheFile() throws {
        let file = try write("broken/auth.json", #"{"auths": {"#)
        let error = #expect(throws: StowageError.self) { try resolve("r.example.com", options: options(authFile: file)) }
        #expect(error?.code == .invalidJSON)
        #expect(error?.message.contains(file) == true, "\(String(describing: error))")
    }

    @Test func invalidJSONInAnEnvironmentFileNamesTheFile() throws {
        let file = try write("dockercfg/config.json", "not json at all")
        let error = #expect(throws: StowageError.self) {
            try resolve("r.example.com", options: options(environment: ["DOCKER_CONFIG": directory.child("dockercfg")]))
        }
        #expect(error?.message.contains(file) == true, "\(String(describing: error))")
    }

    @Test func wrongTypesNameTheFile() throws {
        let file = try write("typed.json", #"{"auths":{"r.example.com":{"auth":42}}}"#)
        let error = #expect(throws: StowageError.self) { try resolve("r.example.com", options: options(authFile: file)) }
        #expect(error?.code == .invalidJSON)
        #expect(error?.message.contains(file) == true)
    }

    @Test func missingAuthFileIsNotFound() throws {
        let missing = directory.child("nope/auth.json")
        let error = #expect(throws: StowageError.self) { try resolve("r.example.com", options: options(authFile: missing)) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains(missing) == true)
    }

    @Test func anAuthFileThatIsADirectoryIsAnIOError() throws {
        let folder = directory.child("folder.json")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let error = #expect(throws: StowageError.self) { try resolve("r.example.com", options: options(authFile: folder)) }
        #expect(error?.code == .io)
        #expect(error?.message.contains(folder) == true)
    }

    // MARK: Helpers

    /// A helper answering `user`/`secret` for `server` (as read on stdin) and "not found" otherwise;
    /// it records its arguments and input in `log`.
    func installHelper(server: String, user: String, secret: String, log: String) throws -> String {
        try CredentialHelperDirectory.install("""
            input=$(cat)
            printf '%s|%s\\n' "$*" "$input" >> '\(log)'
            if [ "$1" = get ] && [ "$input" = '\(server)' ]; then
              printf '{"ServerURL":"%s","Username":"\(user)","Secret":"\(secret)"}' "$input"
              exit 0
            fi
            echo "credentials not found in native keychain"
            exit 1
            """)
    }

    @Test func credHelperForTheHost() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "registry.example.com", user: "helped", secret: "s3cret", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        let file = try write("a.json", #"""
            {"auths":{"registry.example.com":{"username":"fromauths","password":"x"}},
             "credHelpers":{"registry.example.com":"\#(helper)"}}
            """#)
        #expect(try resolve("registry.example.com", options: options(authFile: file)) == .basic(username: "helped", password: "s3cret"))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "get|registry.example.com\n")
    }

    @Test func credHelperOfAnotherHostIsNotRun() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "other.example.com", user: "u", secret: "s", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        let file = try write("a.json", #"""
            {"auths":{"registry.example.com":{"username":"fromauths","password":"x"}},
             "credHelpers":{"other.example.com":"\#(helper)"}}
            """#)
        #expect(try resolve("registry.example.com", options: options(authFile: file)) == .basic(username: "fromauths", password: "x"))
        #expect(!FileManager.default.fileExists(atPath: log))
    }

    @Test func credHelperGetsDockerHubsServerURL() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "https://index.docker.io/v1/", user: "hub", secret: "s", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        let file = try write("a.json", #"{"credHelpers":{"docker.io":"\#(helper)"}}"#)
        #expect(try resolve("registry-1.docker.io", "library/alpine", options: options(authFile: file)) == .basic(username: "hub", password: "s"))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "get|https://index.docker.io/v1/\n")
    }

    @Test func credsStoreWhenNoEntryMatches() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "registry.example.com", user: "stored", secret: "s", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        let file = try write("a.json", #"{"auths":{"other.example.com":{"username":"o","password":"p"}},"credsStore":"\#(helper)"}"#)
        let options = options(authFile: file)
        #expect(try resolve("registry.example.com", options: options) == .basic(username: "stored", password: "s"))
        #expect(try resolve("other.example.com", options: options) == .basic(username: "o", password: "p"), "auths come before the store")
        // The store has nothing for a third host.
        #expect(try resolve("third.example.com", options: options) == nil)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "get|registry.example.com\nget|third.example.com\n")
    }

    @Test func helperTokenUserMeansIdentityToken() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "registry.example.com", user: "<token>", secret: "refresh-xyz", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        #expect(try CredentialHelper(name: helper).get(host: "registry.example.com") == .identityToken("refresh-xyz"))
    }

    @Test func helperNotFoundMeansNoCredentials() throws {
        let log = directory.child("helper.log")
        let helper = try installHelper(server: "nothing-matches", user: "u", secret: "s", log: log)
        defer { CredentialHelperDirectory.remove(helper) }
        #expect(try CredentialHelper(name: helper).get(host: "registry.example.com") == nil)
        // …and resolution goes on to the next file.
        let (base, _) = try writeAllLocations()
        try write("custom/auth.json", #"{"credHelpers":{"registry.example.com":"\#(helper)"}}"#)
        #expect(try resolve("registry.example.com", options: base) == .basic(username: "xdg", password: "pw-xdg"))
    }

    @Test func helperFailureIsAnAuthenticationError() throws {
        let helper = try CredentialHelperDirectory.install("""
            cat > /dev/null
            echo "keychain locked"
            exit 3
            """)
        defer { CredentialHelperDirectory.remove(helper) }
        let error = #expect(throws: StowageError.self) { try CredentialHelper(name: helper).get(host: "registry.example.com") }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("docker-credential-\(helper)") == true)
        #expect(error?.message.contains("registry.example.com") == true)
    }

    @Test func helperAnsweringGarbageIsAnError() throws {
        let helper = try CredentialHelperDirectory.install("""
            cat > /dev/null
            echo 'this is not json'
            """)
        defer { CredentialHelperDirectory.remove(helper) }
        let error = #expect(throws: StowageError.self) { try CredentialHelper(name: helper).get(host: "registry.example.com") }
        #expect(error?.code == .invalidJSON)
        #expect(error?.message.contains("docker-credential-\(helper)") == true)
    }

    @Test
    func missingHelperIsAnError() throws {
        let error = #expect(throws: StowageError.self) {
            try CredentialHelper(name: "stowagetest-not-installed-\(UUID().uuidString.prefix(8).lowercased())").get(host: "registry.example.com")
        }
        #expect(error?.code == .authentication)
    }

    // MARK: Credential

    @Test func parsingCreds() throws {
        #expect(try Credential(parsing: "user:pa:ss") == .basic(username: "user", password: "pa:ss"))
        #expect(try Credential(parsing: "user:") == .basic(username: "user", password: ""))
        #expect(try Credential(parsing: "a:b") == .basic(username: "a", password: "b"))
    }

    @Test(arguments: [":x", "nocolon", "", ":"])
    func parsingBadCreds(input: String) {
        let error = #expect(throws: StowageError.self) { try Credential(parsing: input) }
        #expect(error?.code == .usage)
        #expect(error?.message.contains("USERNAME:PASSWORD") == true)
    }

    @Test func descriptionsNeverShowSecrets() throws {
        let basic = try Credential(parsing: "alice:hunter2-secret")
        #expect(basic.description == "user alice")
        #expect(!"\(basic)".contains("hunter2"))
        let token = Credential.identityToken("eyJ-refresh-token")
        #expect(!token.description.contains("eyJ"))
        #expect(!"\(token)".contains("refresh-token"))
    }
}
