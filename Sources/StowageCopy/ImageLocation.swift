import StowageModel
import StowageRegistry

/// A place images live, in the transport syntax users know from skopeo and buildah.
public enum ImageLocation: Sendable, Equatable, CustomStringConvertible {
    /// `oci:DIR[:REF]`: an OCI layout directory, and a name or digest in it.
    case layout(directory: String, reference: String?)
    /// `oci-archive:FILE[:REF]`.
    case ociArchive(file: String, reference: String?)
    /// `docker-archive:FILE[:REF]` (a source only).
    case dockerArchive(file: String, reference: String?)
    /// `docker://HOST/REPO[:TAG|@DIGEST]`.
    case registry(RegistryReference)

    /// Parses `TRANSPORT:DETAILS`.
    public init(parsing text: String) throws {
        if text.hasPrefix("docker://") {
            self = .registry(try RegistryReference(parsing: text))
            return
        }
        if let registry = try? Reference(parsing: text), registry.domain != nil,
            !["oci", "oci-archive", "docker-archive"].contains(String(text.prefix { $0 != ":" }))
        {
            throw StowageError(.usage, "'\(Digest.printable(text))' names no transport; for an image in a registry write docker://\(Digest.printable(text))")
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw StowageError(.usage, "'\(text)' names no transport; use oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE or docker://HOST/REPO:TAG")
        }
        let transport = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        // The path ends at the first ':'; what follows is the reference, as in skopeo.
        let (path, reference): (String, String?) = {
            guard let split = rest.firstIndex(of: ":") else { return (rest, nil) }
            let reference = String(rest[rest.index(after: split)...])
            return (String(rest[..<split]), reference.isEmpty ? nil : reference)
        }()
        guard !path.isEmpty else { throw StowageError(.usage, "'\(text)' names no path") }
        switch transport {
        case "oci": self = .layout(directory: path, reference: reference)
        case "oci-archive": self = .ociArchive(file: path, reference: reference)
        case "docker-archive": self = .dockerArchive(file: path, reference: reference)
        default:
            throw StowageError(.usage, "unknown transport '\(transport)' in '\(text)'; use oci:, oci-archive:, docker-archive: or docker://")
        }
    }

    /// This location as a destination: a registry image without tag or digest is `:latest`,
    /// as with skopeo (a layout or archive without REF stays unnamed, as with skopeo too).
    public var asDestination: ImageLocation {
        guard case .registry(let reference) = self else { return self }
        return .registry(reference.withDefaultTag)
    }

    public var description: String {
        switch self {
        case .layout(let directory, let reference): "oci:\(directory)" + (reference.map { ":\($0)" } ?? "")
        case .ociArchive(let file, let reference): "oci-archive:\(file)" + (reference.map { ":\($0)" } ?? "")
        case .dockerArchive(let file, let reference): "docker-archive:\(file)" + (reference.map { ":\($0)" } ?? "")
        case .registry(let reference): "docker://\(reference)"
        }
    }
}
