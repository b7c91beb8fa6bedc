/// How a referrer (signature, SBOM, attestation) is tied to the image it refers to.
public enum ReferrerLink: String, Sendable, Codable, Equatable, CaseIterable {
    /// An OCI 1.1 manifest whose `subject` names the image.
    case subject
    /// A cosign tag `sha256-<hex>.sig`, `.att` or `.sbom` naming the image's digest.
    case cosignTag = "cosign-tag"
    /// A BuildKit attestation: an `unknown/unknown` entry of the image's index whose
    /// `vnd.docker.reference.digest` annotation names the image.
    case inIndexAttestation = "in-index-attestation"
}

/// cosign's tag scheme, `sha256-<hex>.sig`, `.att` and `.sbom`, and the distribution
/// spec's fallback tag `sha256-<hex>` for registries without a Referrers API.
public struct CosignTag: Hashable, Sendable, CustomStringConvertible {
    /// What a cosign tag holds.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// Signatures.
        case signature = "sig"
        /// Attestations.
        case attestation = "att"
        /// An SBOM.
        case sbom
    }

    /// The digest the tag names: the image the signature, attestation or SBOM is of.
    public var subject: Digest
    /// What the tag holds.
    public var kind: Kind

    /// Creates the tag of `kind` for `subject`.
    public init(subject: Digest, kind: Kind) {
        self.subject = subject
        self.kind = kind
    }

    /// Parses a tag (`sha256-<hex>.sig`); nil for any other tag.
    public init?(tag: String) {
        guard let dot = tag.lastIndex(of: "."),
            let kind = Kind(rawValue: String(tag[tag.index(after: dot)...])),
            let subject = Self.fallbackSubject(String(tag[..<dot]))
        else { return nil }
        self.init(subject: subject, kind: kind)
    }

    /// Parses the tag of a layout name (`team/app:sha256-<hex>.sig`, or the bare tag).
    public init?(name: String) {
        // Most names are not cosign tags: a byte search rules them out cheaply.
        guard Self.mayBeCosignName(name) else { return nil }
        self.init(tag: Self.tagPart(of: name))
    }

    /// Whether `name` holds `sha256-` followed, somewhere, by a `.`: every cosign tag does.
    private static func mayBeCosignName(_ name: String) -> Bool {
        guard name.utf8.count >= "sha256-".utf8.count + 64 + ".sig".utf8.count else { return false }
        let pattern = Array("sha256-".utf8)
        let bytes = Array(name.utf8)
        for start in 0...(bytes.count - pattern.count) where bytes[start] == pattern[0] {
            if bytes[start..<(start + pattern.count)].elementsEqual(pattern) { return bytes[start...].contains(UInt8(ascii: ".")) }
        }
        return false
    }

    /// `sha256-<hex>.sig`.
    public var description: String { "\(Self.fallbackTag(for: subject)).\(kind.rawValue)" }

    /// The distribution spec's fallback tag for the referrers of `digest`: `sha256-<hex>`.
    public static func fallbackTag(for digest: Digest) -> String {
        "sha256-\(digest.hex)"
    }

    /// The digest a fallback tag `sha256-<hex>` names; nil for any other tag.
    public static func fallbackSubject(_ tag: String) -> Digest? {
        guard tag.hasPrefix("sha256-") else { return nil }
        return Digest(validHex: String(tag.dropFirst("sha256-".count)))
    }

    /// The tag of a layout name: what follows the last `:` after the last `/`, or the
    /// whole name when it is tag-only.
    public static func tagPart(of name: String) -> String {
        let lastSlash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            return String(name[name.index(after: colon)...])
        }
        return name
    }

    /// The repository part of a layout name (`team/app` of `team/app:tag`); nil for a tag-only name.
    public static func repositoryPart(of name: String) -> String? {
        let tag = tagPart(of: name)
        guard tag.count < name.count else { return nil }
        return String(name.dropLast(tag.count + 1))
    }
}

/// BuildKit's in-index attestations: index entries of platform `unknown/unknown`
/// that annotate which sibling manifest they attest.
public enum InIndexAttestation {
    /// The annotation naming the attested manifest's digest.
    public static let referenceDigestAnnotation = "vnd.docker.reference.digest"
    /// The annotation stating the entry's kind (`attestation-manifest`).
    public static let referenceTypeAnnotation = "vnd.docker.reference.type"

    /// The digest an index entry attests, when it is an in-index attestation.
    public static func subject(of entry: Descriptor) -> Digest? {
        guard let text = entry.annotations?[referenceDigestAnnotation] else { return nil }
        return try? Digest(text)
    }
}

/// Which referrers a transport carries with the images it moves: all by default,
/// none with `--no-referrers`, or only those of some artifact types with
/// `--referrers-artifact-type T` (and what refers to them, such as their signatures).
public struct ReferrerPolicy: Sendable, Equatable {
    /// Whether referrers are carried at all.
    public var carry: Bool
    /// When not empty, only direct referrers of these artifact types are carried.
    public var artifactTypes: Set<String>

    /// Creates a policy.
    public init(carry: Bool = true, artifactTypes: Set<String> = []) {
        self.carry = carry
        self.artifactTypes = artifactTypes
    }

    /// Every referrer: the default.
    public static let all = ReferrerPolicy()
    /// No referrer.
    public static let none = ReferrerPolicy(carry: false)

    /// Whether a direct referrer of artifact type `artifactType` is carried.
    public func admits(artifactType: String?) -> Bool {
        guard carry else { return false }
        guard !artifactTypes.isEmpty else { return true }
        return artifactType.map(artifactTypes.contains) ?? false
    }
}
