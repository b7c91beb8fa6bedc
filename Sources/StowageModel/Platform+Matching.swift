extension Platform {
    /// The variant a runtime assumes when none is given (`arm64` → `v8`, `arm` → `v7`,
    /// `amd64` → `v1`), so `linux/arm64` and `linux/arm64/v8` are the same platform.
    public var normalizedVariant: String? {
        if let variant, !variant.isEmpty { return variant }
        switch architecture {
        case "arm64": return "v8"
        case "arm": return "v7"
        case "amd64": return "v1"
        default: return nil
        }
    }

    /// Whether two platforms describe the same target (defaults of variants applied;
    /// `os.version` and `os.features` compared as written).
    public func matches(_ other: Platform) -> Bool {
        os == other.os && architecture == other.architecture && normalizedVariant == other.normalizedVariant
            && (osVersion ?? "") == (other.osVersion ?? "") && Set(osFeatures ?? []) == Set(other.osFeatures ?? [])
    }

    /// `unknown/unknown`: how BuildKit marks attestation manifests in an index.
    public var isUnknown: Bool { os == "unknown" && architecture == "unknown" }
}

extension Descriptor {
    /// The annotation BuildKit puts on an attestation entry, naming the image it describes.
    public static let attestationReferenceAnnotation = "vnd.docker.reference.digest"

    /// The image an attestation entry describes, if this is one.
    public var attestedDigest: String? {
        guard platform?.isUnknown ?? true else { return nil }
        return annotations?[Self.attestationReferenceAnnotation]
    }
}
