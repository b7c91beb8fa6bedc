import StowageModel

/// Registry host names as docker normalises them: `docker.io`, `index.docker.io`
/// and `registry-1.docker.io` are one registry.
public enum RegistryHost {
    /// The canonical name of Docker Hub.
    public static let dockerHub = "docker.io"

    /// The canonical form of a host: lowercased, with Docker Hub's aliases folded into `docker.io`.
    public static func canonical(_ host: String) -> String {
        let lower = host.lowercased()
        switch lower {
        case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return dockerHub
        default: return lower
        }
    }

    /// The host that serves the registry API for `host`.
    public static func apiHost(_ host: String) -> String {
        canonical(host) == dockerHub ? "registry-1.docker.io" : host
    }

    /// The host named by an auth file key: `https://index.docker.io/v1/`, `http://host:5000`,
    /// `host:5000/namespace` all name a host (and maybe a path below it).
    public static func authKey(_ key: String) -> (host: String, path: String) {
        var rest = Substring(key)
        for scheme in ["https://", "http://"] where rest.lowercased().hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
        }
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = canonical(String(parts[0]))
        var path = parts.count > 1 ? String(parts[1]) : ""
        // Docker Hub's legacy key ends in /v1/: that is an API path, not a namespace.
        if path == "v1/" || path == "v1" || path == "v2/" || path == "v2" { path = "" }
        while path.hasSuffix("/") { path.removeLast() }
        return (host, path)
    }
}

/// An image in a registry: `HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]`, with an optional `docker://`.
public struct RegistryReference: Sendable, Equatable, CustomStringConvertible {
    /// The registry host as given (`127.0.0.1:5000`, `docker.io`).
    public var host: String
    /// The repository (`team/app`; `library/x` on Docker Hub for a one-part name).
    public var repository: String
    /// The tag, if any.
    public var tag: String?
    /// The digest, if any.
    public var digest: Digest?

    /// Parses a destination or source. A name without a host means Docker Hub, as with docker.
    public init(parsing input: String) throws {
        var text = input
        if text.hasPrefix("docker://") { text.removeFirst("docker://".count) }
        let reference = try Reference(parsing: text)
        host = reference.domain ?? RegistryHost.dockerHub
        repository = reference.path
        if RegistryHost.canonical(host) == RegistryHost.dockerHub && !repository.contains("/") {
            repository = "library/\(repository)"
        }
        tag = reference.tag
        digest = reference.digest
    }

    /// Creates a reference from parts.
    public init(host: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// This reference with the tag `latest` when it names neither tag nor digest: where
    /// skopeo and docker put an image pushed to `HOST/REPO`.
    public var withDefaultTag: RegistryReference {
        var copy = self
        if copy.tag == nil && copy.digest == nil { copy.tag = "latest" }
        return copy
    }

    /// The tag or digest to ask for: the digest wins; `latest` when neither is given.
    public var manifestReference: String { digest?.string ?? tag ?? "latest" }

    public var description: String {
        var out = "\(host)/\(repository)"
        if let tag { out += ":\(tag)" }
        if let digest { out += "@\(digest)" }
        return out
    }
}
