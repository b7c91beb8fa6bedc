/// An image reference in the docker grammar: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`.
///
/// Stowage names images in a layout as `repository:tag` (`team/app:v1.0.0`).
/// The repository keeps the host exactly as written; no `docker.io/library/`
/// is added, so names round-trip as users typed them.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The registry host and optional port, when the first component names one.
    public var domain: String?
    /// The repository path below the host (`team/app`).
    public var path: String
    /// The tag, if any.
    public var tag: String?
    /// The digest, if any.
    public var digest: Digest?

    /// The longest repository name the grammar allows.
    public static let maxNameLength = 255

    /// `HOST[:PORT]/PATH` or `PATH`.
    public var repository: String { domain.map { "\($0)/\(path)" } ?? path }

    /// The full reference as written: repository, then `:tag`, then `@digest`.
    public var description: String {
        var out = repository
        if let tag { out += ":\(tag)" }
        if let digest { out += "@\(digest)" }
        return out
    }

    /// Creates a reference from parts that are already valid.
    public init(domain: String? = nil, path: String, tag: String? = nil, digest: Digest? = nil) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// Parses a reference; throws a `.invalidReference` error naming the faulty part.
    public init(parsing input: String) throws {
        func fail(_ why: String) -> StowageError {
            StowageError(.invalidReference, "invalid reference '\(Digest.printable(input))': \(why)")
        }
        guard !input.isEmpty else { throw fail("it is empty") }
        var rest = Substring(input)

        if let at = rest.firstIndex(of: "@") {
            do {
                digest = try Digest(String(rest[rest.index(after: at)...]))
            } catch let error as StowageError {
                throw fail(error.message)
            }
            rest = rest[..<at]
        }

        // A tag follows the last ':' that comes after the last '/'.
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let candidate = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(candidate) else {
                throw fail("tag '\(Digest.printable(candidate))' must be 1-128 characters of letters, digits, '_', '.' or '-', not starting with '.' or '-'")
            }
            tag = candidate
            rest = rest[..<colon]
        }

        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if components.count > 1, let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost" || first.first == "["
        {
            guard Self.isValidDomain(first) else { throw fail("registry host '\(Digest.printable(first))' is not a valid HOST[:PORT]") }
            domain = first
            components.removeFirst()
        }
        guard !components.isEmpty, components.allSatisfy(Self.isValidPathComponent) else {
            throw fail("repository must be lowercase letters, digits and separators ('.', '_', '__', '-') between '/'")
        }
        path = components.joined(separator: "/")
        guard repository.utf8.count <= Self.maxNameLength else {
            throw fail("repository name is longer than \(Self.maxNameLength) characters")
        }
    }

    /// This reference with `:latest` added when it has neither tag nor digest.
    public var withDefaultTag: Reference {
        var copy = self
        if copy.tag == nil && copy.digest == nil { copy.tag = "latest" }
        return copy
    }

    /// `[\w][\w.-]{0,127}`.
    public static func isValidTag(_ tag: String) -> Bool {
        let scalars = Array(tag.unicodeScalars)
        guard (1...128).contains(scalars.count), isWord(scalars[0]) else { return false }
        return scalars.allSatisfy { isWord($0) || $0 == "." || $0 == "-" }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
    static func isValidPathComponent(_ component: String) -> Bool {
        let scalars = Array(component.unicodeScalars)
        guard let first = scalars.first, let last = scalars.last, isLowerAlnum(first), isLowerAlnum(last) else {
            return false
        }
        var i = 0
        while i < scalars.count {
            if isLowerAlnum(scalars[i]) { i += 1; continue }
            // A separator run: '.', '_', '__', or any number of '-'.
            var j = i
            while j < scalars.count, !isLowerAlnum(scalars[j]) { j += 1 }
            let separator = String(String.UnicodeScalarView(scalars[i..<j]))
            let dashes = separator.allSatisfy { $0 == "-" }
            guard separator == "." || separator == "_" || separator == "__" || dashes else { return false }
            i = j
        }
        return true
    }

    /// `host[:port]` where host is dot-separated labels or a bracketed IPv6 address.
    static func isValidDomain(_ domain: String) -> Bool {
        var host = Substring(domain)
        if host.first == "[" {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }) else {
                return false
            }
            host = host[host.index(after: close)...]
            if host.isEmpty { return true }
            guard host.first == ":" else { return false }
            return isValidPort(host.dropFirst())
        }
        if let colon = host.lastIndex(of: ":") {
            guard isValidPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            let s = Array(label.unicodeScalars)
            guard let f = s.first, let l = s.last, isAlnum(f), isAlnum(l) else { return false }
            return s.allSatisfy { isAlnum($0) || $0 == "-" }
        }
    }

    private static func isValidPort(_ port: Substring) -> Bool {
        !port.isEmpty && port.count <= 5 && port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber)
    }

    private static func isLowerAlnum(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("0"..."9").contains(s)
    }

    private static func isAlnum(_ s: Unicode.Scalar) -> Bool {
        isLowerAlnum(s) || ("A"..."Z").contains(s)
    }

    private static func isWord(_ s: Unicode.Scalar) -> Bool {
        isAlnum(s) || s == "_"
    }
}

/// The name of an image inside a layout: the value of `org.opencontainers.image.ref.name`.
///
/// Stowage writes `repository:tag`; it also reads names written by other tools,
/// such as a bare tag (`v1.0.0`, `latest`), and keeps them as they are.
/// Every name, given by a user or read from a layout or archive, follows the one
/// grammar of the OCI image layout, which is also the grammar skopeo's `oci:`
/// transport enforces: a valid docker reference such as `team/app:v1_` is refused.
public struct RefName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The annotation value.
    public let value: String

    /// The OCI image-layout grammar of `org.opencontainers.image.ref.name`, as error messages show it.
    public static let grammar = #"ref ::= component ("/" component)*, component ::= alphanum (separator alphanum)*, alphanum ::= [A-Za-z0-9]+, separator ::= [-._:@+] | "--""#

    /// The longest name accepted.
    public static let maxLength = 512

    /// Wraps a name exactly as written, after checking the OCI `ref.name` grammar:
    /// a name read from a layout or archive, or the REF of a copy destination
    /// `oci:DIR:REF`, which skopeo also stores verbatim.
    public init(stored value: String) throws {
        guard Self.isValidStoredName(value) else {
            throw StowageError(
                .invalidReference,
                "invalid image name '\(Digest.printable(value))': an org.opencontainers.image.ref.name must match \(Self.grammar)\(value.unicodeScalars.count > Self.maxLength ? " and be at most \(Self.maxLength) characters" : "")")
        }
        self.value = value
    }

    /// Parses a name given by a user: a full reference gets `:latest` when it has no tag;
    /// a digest reference is refused, since a name must be movable. The result must also
    /// follow the OCI `ref.name` grammar, so that skopeo and other tools can read it.
    public init(userInput input: String) throws {
        try Self.refuseTransport(input)
        let reference = try Reference(parsing: input).withDefaultTag
        guard reference.digest == nil else {
            throw StowageError(.invalidReference, "'\(Digest.printable(input))' names a digest; an image name needs REPOSITORY:TAG")
        }
        guard Self.isValidStoredName(reference.description) else {
            throw StowageError(
                .invalidReference,
                "invalid image name '\(Digest.printable(reference.description))': skopeo cannot read it from a layout, since an org.opencontainers.image.ref.name must match \(Self.grammar)")
        }
        value = reference.description
    }

    /// Refuses `docker://HOST/REPO:TAG` where a name of the layout is expected: names in a
    /// layout carry no transport, and the user most likely meant the name without it.
    public static func refuseTransport(_ input: String) throws {
        guard input.hasPrefix("docker://") else { return }
        throw StowageError(
            .invalidReference,
            "'\(Digest.printable(input))' is a registry reference, but names in a layout have no transport: drop 'docker://' (pull, push and copy reach registries)")
    }

    public var description: String { value }
    public static func < (lhs: RefName, rhs: RefName) -> Bool { lhs.value < rhs.value }

    /// The repository part of a stored name (`team/app` of `team/app:v1`, `host:5000/a`
    /// of `host:5000/a:b`), or nil for a bare tag such as `latest`.
    public static func repository(of name: String) -> Substring? {
        let afterSlash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let colon = name[afterSlash...].lastIndex(of: ":") else {
            // No tag: a name with a path is a repository alone, a bare word is a tag.
            return afterSlash == name.startIndex ? nil : name[...]
        }
        return colon == name.startIndex ? nil : name[..<colon]
    }

    /// The OCI image-layout grammar for `org.opencontainers.image.ref.name`: components of
    /// alphanumerics joined by one of `-._:@+` or by `--`, between single `/`.
    static func isValidStoredName(_ value: String) -> Bool {
        let scalars = Array(value.unicodeScalars)
        guard !scalars.isEmpty, scalars.count <= maxLength else { return false }
        func alnum(_ s: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
        }
        guard alnum(scalars.first!), alnum(scalars.last!) else { return false }
        var i = 0
        while i < scalars.count {
            if alnum(scalars[i]) {
                i += 1
                continue
            }
            // A separator between two alphanumerics: one of "-._:@+/", or "--".
            var j = i
            while j < scalars.count, !alnum(scalars[j]) { j += 1 }
            switch j - i {
            case 1: guard "-._:@+/".unicodeScalars.contains(scalars[i]) else { return false }
            case 2: guard scalars[i] == "-", scalars[i + 1] == "-" else { return false }
            default: return false
            }
            i = j
        }
        return true
    }
}
