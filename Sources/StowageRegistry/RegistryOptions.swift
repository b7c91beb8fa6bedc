import Foundation
import StowageModel

/// How to talk to registries: the options users know from skopeo and buildah.
public struct RegistryOptions: Sendable {
    /// Check certificates and require HTTPS (`--tls-verify`, default true). When false,
    /// certificates are not checked and plain HTTP is allowed.
    public var tlsVerify = true
    /// A PEM bundle of extra CAs to trust (`--ca-file`).
    public var caFile: String?
    /// A directory in the containers `certs.d` shape (`--cert-dir`): `*.crt` CAs,
    /// `client.cert` + `client.key` for client authentication. When nil, the host's
    /// directories in the usual places are used (`defaultCertDirectories(for:)`).
    public var certDirectory: String?
    /// Credentials given on the command line (`--creds USER:PASS`), used before any file.
    public var credentials: Credential?
    /// An auth file given on the command line (`--authfile`); when set, no other file is read.
    public var authFile: String?
    /// How many times a failed request is retried (`--retry-times`).
    public var retryTimes = 3
    /// The first retry delay, doubled each time, with jitter; `Retry-After` overrides it.
    public var retryDelay: Double = 0.5
    /// How long, in seconds, a small document (manifest, token, error) may take, and how
    /// long a blob transfer may go without a byte in either direction (`--timeout`). It
    /// also caps the total time one request spends waiting between retries.
    public var timeout: Double = 60
    /// Parallel blob transfers (`--jobs`).
    public var jobs = 4
    /// Blobs larger than this are uploaded in chunks of this size, so a dropped
    /// connection resumes from the registry's offset instead of starting over.
    public var chunkSize: Int64 = 64 << 20
    /// How many tags one page of a tag list asks for (`?n=`); the registry may send fewer.
    public var tagPageSize = 1000
    /// The environment to read credential locations from (`REGISTRY_AUTH_FILE`, `DOCKER_CONFIG`, …).
    public var environment: [String: String] = [:]

    /// Default options.
    public init() {}
}

extension RegistryOptions {
    /// `environment`, or the process's own when none was given.
    var processEnvironment: [String: String] {
        environment.isEmpty ? ProcessInfo.processInfo.environment : environment
    }

    /// Where skopeo, podman and docker look for a registry's CAs and client certificate
    /// when no `--cert-dir` is given, and which of them exist for `host` (`HOST[:PORT]`):
    /// `$HOME/.config/containers/certs.d/HOST`, `/etc/containers/certs.d/HOST`,
    /// `/etc/docker/certs.d/HOST`. Every one that exists is used.
    public func defaultCertDirectories(for host: String) -> [String] {
        var roots = ["/etc/containers/certs.d", "/etc/docker/certs.d"]
        if let home = processEnvironment["HOME"], !home.isEmpty { roots.insert("\(home)/.config/containers/certs.d", at: 0) }
        return roots.map { "\($0)/\(host)" }.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }
}

/// Credentials for one registry.
public enum Credential: Sendable, Equatable, CustomStringConvertible {
    /// A user name and password (or a personal access token used as a password).
    case basic(username: String, password: String)
    /// An identity (refresh) token, exchanged for access tokens by OAuth2 POST.
    case identityToken(String)

    /// Parses `USER:PASS` (`--creds`).
    public init(parsing creds: String) throws {
        guard let colon = creds.firstIndex(of: ":"), colon != creds.startIndex else {
            throw StowageError(.usage, "--creds must be USERNAME:PASSWORD")
        }
        self = .basic(username: String(creds[..<colon]), password: String(creds[creds.index(after: colon)...]))
    }

    /// Never shows the secret.
    public var description: String {
        switch self {
        case .basic(let username, _): "user \(username)"
        case .identityToken: "an identity token"
        }
    }
}
