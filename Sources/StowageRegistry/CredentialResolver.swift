import Foundation
import StowageModel

/// Finds credentials for a registry in the places users expect, in this order:
/// `--creds`; `--authfile` (alone, when given); `$REGISTRY_AUTH_FILE`;
/// `$XDG_RUNTIME_DIR/containers/auth.json`; `$DOCKER_CONFIG/config.json` (or a
/// mounted Kubernetes `.dockerconfigjson`); `~/.docker/config.json`.
///
/// In each file: `credHelpers` for the host, then `auths` (`auth`, `username` +
/// `password`, `identitytoken`; the most specific `host/namespace` key wins),
/// then `credsStore`. Helpers run as `docker-credential-NAME get`.
public struct CredentialResolver: Sendable {
    /// The options holding `--creds`, `--authfile` and the environment.
    public let options: RegistryOptions

    /// Creates a resolver.
    public init(options: RegistryOptions) {
        self.options = options
    }

    /// The auth files to read, in order, that exist.
    public var files: [String] {
        if let authFile = options.authFile { return [authFile] }
        let env = options.processEnvironment
        var candidates: [String] = []
        if let file = env["REGISTRY_AUTH_FILE"], !file.isEmpty { candidates.append(file) }
        if let runtime = env["XDG_RUNTIME_DIR"], !runtime.isEmpty { candidates.append("\(runtime)/containers/auth.json") }
        if let docker = env["DOCKER_CONFIG"], !docker.isEmpty {
            candidates.append("\(docker)/config.json")
            candidates.append("\(docker)/.dockerconfigjson")
        }
        if let home = env["HOME"], !home.isEmpty { candidates.append("\(home)/.docker/config.json") }
        return candidates.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The credentials for `repository` on `host`, or nil to go anonymous.
    public func credentials(host: String, repository: String?) throws -> Credential? {
        if let credentials = options.credentials { return credentials }
        if let authFile = options.authFile, !FileManager.default.fileExists(atPath: authFile) {
            throw StowageError(.notFound, "auth file \(authFile) does not exist")
        }
        for file in files {
            if let found = try credentials(in: file, host: host, repository: repository) { return found }
        }
        return nil
    }

    struct AuthFile: Decodable {
        var auths: [String: Entry]?
        var credHelpers: [String: String]?
        var credsStore: String?

        struct Entry: Decodable {
            var auth: String?
            var username: String?
            var password: String?
            var identitytoken: String?
        }
    }

    func credentials(in file: String, host: String, repository: String?) throws -> Credential? {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StowageError(.io, "cannot read auth file \(file)")
        }
        let parsed = try JSONCoding.decode(AuthFile.self, from: Array(data), what: "auth file \(file)")
        let canonical = RegistryHost.canonical(host)
        if let helper = parsed.credHelpers?.first(where: { RegistryHost.authKey($0.key).host == canonical })?.value {
            return try CredentialHelper(name: helper).get(host: host)
        }
        let matches = (parsed.auths ?? [:]).compactMap { key, entry -> (Int, AuthFile.Entry)? in
            let (entryHost, path) = RegistryHost.authKey(key)
            guard entryHost == canonical else { return nil }
            if path.isEmpty { return (0, entry) }
            guard let repository, repository == path || repository.hasPrefix(path + "/") else { return nil }
            return (path.count, entry)
        }
        if let entry = matches.max(by: { $0.0 < $1.0 })?.1 {
            if let token = entry.identitytoken, !token.isEmpty { return .identityToken(token) }
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
                    let colon = decoded.firstIndex(of: ":")
                else {
                    throw StowageError(.authentication, "auth file \(file) has an 'auth' entry for \(host) that is not base64 USER:PASS")
                }
                return .basic(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
            if let username = entry.username, let password = entry.password {
                return .basic(username: username, password: password)
            }
        }
        if let store = parsed.credsStore, !store.isEmpty {
            return try CredentialHelper(name: store).get(host: host)
        }
        return nil
    }
}

/// A docker credential helper program, `docker-credential-NAME`.
public struct CredentialHelper: Sendable {
    /// The helper's name (`pass`, `ecr-login`, …).
    public var name: String

    /// A helper that exits without reading its input must not kill us with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// The helper's path on `PATH`, or nil when it is not installed.
    static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/docker-credential-\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Asks the helper for `host`'s credentials; nil when it has none.
    public func get(host: String) throws -> Credential? {
        _ = Self.ignoreBrokenPipes
        guard let executable = Self.locate(name) else {
            throw StowageError(.authentication, "credential helper docker-credential-\(name) is not installed (not found on PATH)")
        }
        let server = RegistryHost.canonical(host) == RegistryHost.dockerHub ? "https://index.docker.io/v1/" : host
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["get"]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw StowageError(.authentication, "cannot run credential helper docker-credential-\(name)", cause: "\(error)")
        }
        try? input.fileHandleForWriting.write(contentsOf: Data(server.utf8))
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: out, as: UTF8.self)
            if text.lowercased().contains("not found") || text.isEmpty { return nil }
            throw StowageError(.authentication, "credential helper docker-credential-\(name) failed for \(host) with status \(process.terminationStatus)")
        }
        struct Answer: Decodable {
            var Username: String
            var Secret: String
        }
        let answer = try JSONCoding.decode(Answer.self, from: Array(out), what: "the answer of docker-credential-\(name)")
        if answer.Username == "<token>" { return .identityToken(answer.Secret) }
        return .basic(username: answer.Username, password: answer.Secret)
    }
}
