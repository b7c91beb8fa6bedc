import Foundation
import StowageModel
import StowageRegistry
import Yams

/// An image set: what `stowage mirror FILE` brings into a layout, read from a YAML file.
///
/// ```yaml
/// name: k8s-addons                 # names the set's record; default: the file's name
/// platforms: [linux/amd64, linux/arm64]
/// referrers: true
/// registries:
///   - host: registry.k8s.io
///     repositories:
///       - name: ingress-nginx/controller
///         tags: [v1.10.1, "v1.9.*"]    # exact names, and globs (* ? [...])
///         semver: ">=1.8 <2"
///         latest: 2
///       - name: pause
///         digests: [sha256:…]
///   - host: quay.io
///     authfile: quay-auth.json         # relative to the set file
///     repositories:
///       - name: jetstack/cert-manager-controller
///         regex: '^v1\.14\.[0-9]+$'
///         referrers: false
/// ```
///
/// Every key is checked: an unknown key, a wrong type, a bad regex, platform or range
/// fails with the file, line and field, before anything is fetched.
public struct MirrorSet: Sendable {
    /// One registry of the set and the options to reach it.
    public struct Registry: Sendable {
        /// `HOST[:PORT]`.
        public var host: String
        /// The options for this host: the command's, with what the file sets for it.
        public var options: RegistryOptions
        /// Its repositories.
        public var repositories: [Repository]
    }

    /// One repository of a registry and which of its images the set wants.
    public struct Repository: Sendable {
        /// The repository path (`ingress-nginx/controller`).
        public var name: String
        /// Which tags.
        public var tags: TagSelection
        /// Images by digest; they are kept in the layout unnamed.
        public var digests: [Digest]
        /// The platforms to keep of an index; empty: all.
        public var platforms: [Platform]
        /// Whether signatures, SBOMs and attestations come along.
        public var referrers: Bool
        /// Where the repository is written, for messages (`FILE:LINE`).
        public var location: String
    }

    /// The set's name: its record in the layout is kept under it.
    public var name: String
    /// The file it was read from.
    public var file: String
    /// The registries, in the file's order.
    public var registries: [Registry]

    /// Every repository, with its registry.
    public var repositories: [(registry: Registry, repository: Repository)] {
        registries.flatMap { registry in registry.repositories.map { (registry, $0) } }
    }

    /// Reads the set file at `path`; `defaults` are the command line's registry options,
    /// which the file's per-registry keys override.
    public init(contentsOf path: String, defaults: RegistryOptions) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StowageError(.io, "cannot read the image set \(path)", cause: "\(error)")
        }
        try self.init(yaml: text, file: path, defaults: defaults)
    }

    /// Reads a set from YAML text; `file` names it in messages and is where relative paths start.
    public init(yaml: String, file: String, defaults: RegistryOptions) throws {
        let reader = SetFileReader(file: file)
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw StowageError(.usage, "\(file): the image set is empty; list at least one registry with a repository")
            }
            root = composed
        } catch let error as StowageError {
            throw error
        } catch let error as YamlError {
            throw StowageError(.usage, "\(file): not valid YAML: \(SetFileReader.describe(error))")
        }
        let top = try reader.mapping(root, at: "the file", keys: ["name", "platforms", "referrers", "registries"])
        self.file = file
        name = try top["name"].map { try reader.setName($0) } ?? Self.defaultName(file)
        let platforms = try top["platforms"].map { try reader.platforms($0, at: "platforms") } ?? []
        let referrers = try top["referrers"].map { try reader.bool($0, at: "referrers") } ?? true
        guard let registryList = top["registries"] else {
            throw StowageError(.usage, "\(reader.location(root)): the image set lists no registries; add registries: with at least one repository")
        }
        var registries: [Registry] = []
        var hosts = Set<String>()
        for (position, node) in try reader.sequence(registryList, at: "registries").enumerated() {
            let field = "registries[\(position)]"
            let entry = try reader.mapping(
                node, at: field,
                keys: ["host", "tls-verify", "ca-file", "cert-dir", "authfile", "creds", "retry-times", "repositories"])
            guard let hostNode = entry["host"] else { throw reader.missing("host", in: node, at: field) }
            let host = try reader.host(hostNode, at: "\(field).host")
            guard hosts.insert(RegistryHost.canonical(host)).inserted else {
                throw reader.invalid(hostNode, at: "\(field).host", "\(host) is listed twice; put all its repositories under one entry")
            }
            var options = defaults
            if let node = entry["tls-verify"] { options.tlsVerify = try reader.bool(node, at: "\(field).tls-verify") }
            if let node = entry["ca-file"] { options.caFile = try reader.path(node, at: "\(field).ca-file") }
            if let node = entry["cert-dir"] { options.certDirectory = try reader.path(node, at: "\(field).cert-dir") }
            if let node = entry["authfile"] { options.authFile = try reader.path(node, at: "\(field).authfile") }
            if let node = entry["creds"] {
                let creds = try reader.string(node, at: "\(field).creds")
                do {
                    options.credentials = try Credential(parsing: creds)
                } catch {
                    throw reader.invalid(node, at: "\(field).creds", "must be USERNAME:PASSWORD")
                }
            }
            if let node = entry["retry-times"] { options.retryTimes = try reader.count(node, at: "\(field).retry-times", minimum: 0) }
            guard let repositoryList = entry["repositories"] else { throw reader.missing("repositories", in: node, at: field) }
            var repositories: [Repository] = []
            for (index, node) in try reader.sequence(repositoryList, at: "\(field).repositories").enumerated() {
                repositories.append(
                    try reader.repository(node, at: "\(field).repositories[\(index)]", host: host, platforms: platforms, referrers: referrers))
            }
            registries.append(Registry(host: host, options: options, repositories: repositories))
        }
        guard registries.contains(where: { !$0.repositories.isEmpty }) else {
            throw StowageError(.usage, "\(reader.location(registryList)): registries: the image set is empty; list at least one repository")
        }
        self.registries = registries
    }

    /// The file's name without its directory and extension.
    static func defaultName(_ file: String) -> String {
        var base = Substring(file.split(separator: "/").last ?? "set")
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = base[..<dot] }
        let cleaned = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return cleaned.isEmpty ? "set" : cleaned
    }
}

/// Reads the nodes of a set file, every failure naming `FILE:LINE:COLUMN` and the field.
struct SetFileReader {
    let file: String

    func location(_ node: Node) -> String {
        node.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
    }

    func invalid(_ node: Node, at field: String, _ message: String) -> StowageError {
        StowageError(.usage, "\(location(node)): \(field): \(message)")
    }

    func missing(_ key: String, in node: Node, at field: String) -> StowageError {
        StowageError(.usage, "\(location(node)): \(field): \(key) is missing")
    }

    static func describe(_ error: YamlError) -> String {
        "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != "^" }.joined(separator: "; ")
    }

    /// A mapping whose keys are all among `keys`; an unknown key fails, naming the keys allowed.
    func mapping(_ node: Node, at field: String, keys: [String]) throws -> [String: Node] {
        guard case .mapping(let mapping) = node else {
            throw invalid(node, at: field, "must be a mapping of \(keys.joined(separator: ", "))")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string, keys.contains(key) else {
                let key = keyNode.scalar?.string ?? "a non-text key"
                let hint = Suggestion.closest(to: key, among: keys).map { " (did you mean \($0)?)" } ?? ""
                throw invalid(keyNode, at: field, "unknown key '\(key)'\(hint); the keys here are \(keys.joined(separator: ", "))")
            }
            guard result[key] == nil else { throw invalid(keyNode, at: field, "\(key) is given twice") }
            result[key] = value
        }
        return result
    }

    func sequence(_ node: Node, at field: String) throws -> [Node] {
        guard case .sequence(let sequence) = node else { throw invalid(node, at: field, "must be a list") }
        return Array(sequence)
    }

    func string(_ node: Node, at field: String) throws -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else { throw invalid(node, at: field, "must be a text value") }
        return scalar.string
    }

    func strings(_ node: Node, at field: String) throws -> [(String, Node)] {
        if case .scalar = node { return [(try string(node, at: field), node)] }
        return try sequence(node, at: field).enumerated().map { (try string($1, at: "\(field)[\($0)]"), $1) }
    }

    func bool(_ node: Node, at field: String) throws -> Bool {
        switch node.scalar?.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw invalid(node, at: field, "must be true or false")
        }
    }

    func count(_ node: Node, at field: String, minimum: Int) throws -> Int {
        guard let text = node.scalar?.string, let value = Int(text), value >= minimum else {
            throw invalid(node, at: field, "must be a whole number of at least \(minimum)")
        }
        return value
    }

    func path(_ node: Node, at field: String) throws -> String {
        let value = try string(node, at: field)
        if value.hasPrefix("/") { return value }
        let directory = (file as NSString).deletingLastPathComponent
        return directory.isEmpty ? value : "\(directory)/\(value)"
    }

    func setName(_ node: Node) throws -> String {
        let value = try string(node, at: "name")
        guard value.count <= 128, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), value.first != "." else {
            throw invalid(node, at: "name", "'\(value)' must be letters, digits, '-', '_' and '.', not starting with '.'")
        }
        return value
    }

    func host(_ node: Node, at field: String) throws -> String {
        let value = try string(node, at: field)
        guard !value.contains("/"), !value.contains("://"), let probe = try? RegistryReference(parsing: "\(value)/probe:probe"), probe.host == value else {
            throw invalid(node, at: field, "'\(value)' is not a registry host, HOST[:PORT] (no scheme, no path)")
        }
        return value
    }

    func platforms(_ node: Node, at field: String) throws -> [Platform] {
        try strings(node, at: field).map { text, node in
            do {
                return try Platform(parsing: text)
            } catch let error as StowageError {
                throw invalid(node, at: field, error.message)
            }
        }
    }

    func repository(_ node: Node, at field: String, host: String, platforms: [Platform], referrers: Bool) throws -> MirrorSet.Repository {
        let entry = try mapping(node, at: field, keys: ["name", "tags", "regex", "semver", "latest", "digests", "platforms", "referrers"])
        guard let nameNode = entry["name"] else { throw missing("name", in: node, at: field) }
        let name = try string(nameNode, at: "\(field).name")
        guard let reference = try? RegistryReference(parsing: "\(host)/\(name):probe"), reference.repository == name else {
            throw invalid(nameNode, at: "\(field).name", "'\(name)' is not a repository path such as team/app (lowercase, no tag, no host)")
        }
        var selection = TagSelection()
        if let node = entry["tags"] {
            for (tag, tagNode) in try strings(node, at: "\(field).tags") {
                if TagSelection.isGlob(tag) {
                    guard TagSelection.isValidGlob(tag) else { throw invalid(tagNode, at: "\(field).tags", "'\(tag)' is not a valid glob") }
                    selection.globs.append(.init(pattern: tag, location: location(tagNode)))
                } else {
                    guard (try? RegistryReference(parsing: "\(host)/\(name):\(tag)"))?.tag == tag else {
                        throw invalid(tagNode, at: "\(field).tags", "'\(tag)' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)")
                    }
                    selection.exact.append(tag)
                }
            }
        }
        if let node = entry["regex"] {
            let pattern = try string(node, at: "\(field).regex")
            do {
                _ = try Regex(pattern)
            } catch {
                throw invalid(node, at: "\(field).regex", "'\(pattern)' is not a valid regular expression: \(error)")
            }
            selection.regex = .init(pattern: pattern, location: location(node))
        }
        if let node = entry["semver"] {
            let text = try string(node, at: "\(field).semver")
            do {
                selection.semver = (try SemanticVersionRange(parsing: text), location(node))
            } catch let error as StowageError {
                throw invalid(node, at: "\(field).semver", error.message)
            }
        }
        if let node = entry["latest"] {
            selection.latest = (try count(node, at: "\(field).latest", minimum: 1), location(node))
        }
        var digests: [Digest] = []
        if let node = entry["digests"] {
            for (text, digestNode) in try strings(node, at: "\(field).digests") {
                guard let digest = try? Digest(text) else {
                    throw invalid(digestNode, at: "\(field).digests", "'\(Digest.printable(text))' is not a digest, sha256: and 64 lowercase hex digits")
                }
                digests.append(digest)
            }
        }
        let ownPlatforms = try entry["platforms"].map { try self.platforms($0, at: "\(field).platforms") }
        guard !selection.isEmpty || !digests.isEmpty else {
            throw invalid(node, at: field, "\(name) selects nothing: give tags, regex, semver, latest or digests")
        }
        return MirrorSet.Repository(
            name: name, tags: selection, digests: digests,
            platforms: ownPlatforms ?? platforms,
            referrers: try entry["referrers"].map { try bool($0, at: "\(field).referrers") } ?? referrers,
            location: location(node))
    }
}
