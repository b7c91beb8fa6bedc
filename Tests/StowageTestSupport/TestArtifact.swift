@preconcurrency import Crypto
import Foundation
import StowageModel

/// A referrer made in code: an OCI 1.1 manifest (or an rc artifact manifest) with its
/// blobs, optionally pointing at a `subject`.
public struct TestArtifact: Sendable {
    /// The manifest bytes.
    public var manifest: [UInt8]
    /// The manifest's media type.
    public var mediaType: MediaType
    /// The artifact type it declares.
    public var artifactType: String?
    /// Every blob it references (config first for an image manifest), not the manifest.
    public var blobs: [[UInt8]]

    /// The manifest's descriptor, with its artifact type as a Referrers API lists it.
    public var descriptor: Descriptor {
        var descriptor = Descriptor(mediaType: mediaType, digest: digest, size: Int64(manifest.count))
        descriptor.artifactType = artifactType
        return descriptor
    }

    /// The manifest's digest.
    public var digest: StowageModel.Digest { ContentHasher.digest(of: manifest) }

    /// Every blob and the manifest, for archives and layouts.
    public var allBlobs: [[UInt8]] { blobs + [manifest] }

    /// `{}`, the OCI empty descriptor's content.
    public static let emptyConfig = Array("{}".utf8)

    /// An OCI 1.1 artifact: empty config, `artifactType`, layers of the given media types.
    public static func referrer(
        of subject: Descriptor?, artifactType: String, layers: [(mediaType: String, bytes: [UInt8])],
        annotations: [String: String]? = nil
    ) -> TestArtifact {
        var object: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaType.ociManifest.rawValue,
            "artifactType": artifactType,
            "config": descriptorObject(MediaType.ociEmpty.rawValue, emptyConfig),
            "layers": layers.map { descriptorObject($0.mediaType, $0.bytes) },
        ]
        if let subject { object["subject"] = subjectObject(subject) }
        if let annotations { object["annotations"] = annotations }
        return TestArtifact(
            manifest: json(object), mediaType: .ociManifest, artifactType: artifactType,
            blobs: [emptyConfig] + layers.map(\.bytes))
    }

    /// An SBOM (SPDX JSON) referring to `subject`.
    public static func sbom(of subject: Descriptor?, seed: Int = 0) -> TestArtifact {
        let document = Array(#"{"spdxVersion":"SPDX-2.3","name":"sbom-\#(seed)","packages":[]}"#.utf8)
        return referrer(
            of: subject, artifactType: "application/spdx+json",
            layers: [("application/spdx+json", document)],
            annotations: ["org.opencontainers.image.created": "2026-01-01T00:00:00Z"])
    }

    /// An rc-era artifact manifest (`application/vnd.oci.artifact.manifest.v1+json`) with `blobs`.
    public static func rcArtifact(of subject: Descriptor?, artifactType: String, blobs: [(mediaType: String, bytes: [UInt8])]) -> TestArtifact {
        var object: [String: Any] = [
            "mediaType": MediaType.ociArtifactManifest.rawValue,
            "artifactType": artifactType,
            "blobs": blobs.map { descriptorObject($0.mediaType, $0.bytes) },
        ]
        if let subject { object["subject"] = subjectObject(subject) }
        return TestArtifact(manifest: json(object), mediaType: .ociArtifactManifest, artifactType: artifactType, blobs: blobs.map(\.bytes))
    }

    static func descriptorObject(_ mediaType: String, _ bytes: [UInt8], annotations: [String: String]? = nil) -> [String: Any] {
        var object: [String: Any] = [
            "mediaType": mediaType, "digest": ContentHasher.digest(of: bytes).string, "size": bytes.count,
        ]
        if let annotations { object["annotations"] = annotations }
        return object
    }

    static func subjectObject(_ subject: Descriptor) -> [String: Any] {
        ["mediaType": subject.mediaType.rawValue, "digest": subject.digest.string, "size": subject.size]
    }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}

/// Makes and checks cosign-format signatures: a simple-signing payload naming the
/// image digest, stored as a layer of type `application/vnd.dev.cosign.simplesigning.v1+json`
/// with the base64 ECDSA P-256 signature in `dev.cosignproject.cosign/signature`,
/// to be tagged `sha256-<hex>.sig`.
public struct CosignSigner: Sendable {
    /// The payload's media type.
    public static let payloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// The annotation holding the signature.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"

    /// The signing key's raw bytes.
    let rawKey: Data

    /// A signer with a fresh key.
    public init() { rawKey = P256.Signing.PrivateKey().rawRepresentation }

    var key: P256.Signing.PrivateKey { try! P256.Signing.PrivateKey(rawRepresentation: rawKey) }

    /// The public key, PEM-encoded, as `cosign verify --key` takes it.
    public var publicKeyPEM: String { key.publicKey.pemRepresentation }

    /// A signature manifest for the image `digest` known as `repository`.
    public func sign(_ digest: StowageModel.Digest, repository: String) throws -> TestArtifact {
        let critical: [String: Any] = [
            "identity": ["docker-reference": repository],
            "image": ["docker-manifest-digest": digest.string],
            "type": "cosign container image signature",
        ]
        let payloadObject: [String: Any] = ["critical": critical, "optional": NSNull()]
        let payload = TestArtifact.json(payloadObject)
        let signature = try key.signature(for: payload).derRepresentation.base64EncodedString()
        let rootfs: [String: Any] = ["type": "layers", "diff_ids": [ContentHasher.digest(of: payload).string]]
        let configObject: [String: Any] = ["architecture": "", "os": "", "config": [String: Any](), "rootfs": rootfs]
        let config = TestArtifact.json(configObject)
        let layer = TestArtifact.descriptorObject(Self.payloadMediaType, payload, annotations: [Self.signatureAnnotation: signature])
        let manifestObject: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaType.ociManifest.rawValue,
            "config": TestArtifact.descriptorObject(MediaType.ociConfig.rawValue, config),
            "layers": [layer],
        ]
        let manifest = TestArtifact.json(manifestObject)
        return TestArtifact(manifest: manifest, mediaType: .ociManifest, artifactType: nil, blobs: [config, payload])
    }

    /// The digest a signature manifest's payload names, if its signature verifies with
    /// `publicKeyPEM`; `fetchBlob` reads the payload by digest. Throws on a bad signature.
    public static func verifiedDigest(
        manifest: [UInt8], publicKeyPEM: String, fetchBlob: (StowageModel.Digest) throws -> [UInt8]
    ) throws -> StowageModel.Digest {
        let object = try JSONSerialization.jsonObject(with: Data(manifest)) as? [String: Any]
        guard let layers = object?["layers"] as? [[String: Any]],
            let layer = layers.first(where: { $0["mediaType"] as? String == payloadMediaType }),
            let digestText = layer["digest"] as? String,
            let annotations = layer["annotations"] as? [String: String],
            let signatureText = annotations[signatureAnnotation],
            let signatureBytes = Data(base64Encoded: signatureText)
        else { throw StowageError(.invalidJSON, "not a cosign signature manifest") }
        let payload = try fetchBlob(try StowageModel.Digest(digestText))
        let key = try P256.Signing.PublicKey(pemRepresentation: publicKeyPEM)
        let signature = try P256.Signing.ECDSASignature(derRepresentation: signatureBytes)
        guard key.isValidSignature(signature, for: payload) else {
            throw StowageError(.digestMismatch, "the cosign signature does not verify with the public key")
        }
        let parsed = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        guard let critical = parsed?["critical"] as? [String: Any], let image = critical["image"] as? [String: Any],
            let named = image["docker-manifest-digest"] as? String
        else { throw StowageError(.invalidJSON, "the simple-signing payload names no image digest") }
        return try StowageModel.Digest(named)
    }
}
