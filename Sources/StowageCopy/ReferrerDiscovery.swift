import StowageModel
import StowageRegistry

/// A referrer a registry holds for a subject.
public struct RemoteReferrer: Sendable, Equatable {
    /// The referrer's manifest, as listed (media type, digest, size, artifact type).
    public var descriptor: Descriptor
    /// What it refers to.
    public var subject: Digest
    /// How it was found: by `subject` (Referrers API or fallback tag) or by cosign tag.
    public var link: ReferrerLink
    /// The cosign tag it has, for `.cosignTag`.
    public var tag: String?
}

/// Finds the referrers of a digest in a registry repository, at a fixed request cost:
/// one request (per page) to the Referrers API where it exists; where it answers 404,
/// HEADs of the fallback tag `sha256-<hex>` and of cosign's `.sig`, `.att` and `.sbom`
/// tags (four requests), plus a GET of the fallback-tag index when it exists. A
/// registry found without the API is not asked again within the session.
public struct ReferrerDiscovery: Sendable {
    /// The client of the registry asked.
    public let client: RegistryClient
    /// Which referrers are wanted.
    public let policy: ReferrerPolicy
    /// Remembers registries without a Referrers API, and counts requests.
    public let session: TransferSession

    /// A discovery through `client` for `policy`, within `session`.
    public init(client: RegistryClient, policy: ReferrerPolicy, session: TransferSession) {
        self.client = client
        self.policy = policy
        self.session = session
    }

    /// The referrers of `subject` in `repository` that `policy` admits.
    public func referrers(of subject: Digest, in repository: String) async throws -> [RemoteReferrer] {
        guard policy.carry else { return [] }
        let oneType = policy.artifactTypes.count == 1 ? policy.artifactTypes.first : nil
        if await !session.lacksReferrersAPI(client.host) {
            if let listing = try await client.referrersFromAPI(repository, of: subject, artifactType: oneType) {
                await session.recordDiscovery(requests: listing.requests)
                return listing.descriptors
                    .filter { policy.admits(artifactType: $0.artifactType) }
                    .map { RemoteReferrer(descriptor: Self.plain($0), subject: subject, link: .subject, tag: nil) }
            }
            await session.recordDiscovery(requests: 1)
            await session.markLacksReferrersAPI(client.host)
        }
        var requests = 0
        var found: [RemoteReferrer] = []
        let fallback = CosignTag.fallbackTag(for: subject)
        requests += 1
        if try await client.manifestDigest(repository, reference: fallback) != nil {
            let fetched = try await client.fetchManifest(repository, reference: fallback)
            if case .index(let index) = try ContentDocument(
                fetched.bytes, mediaType: fetched.mediaType, what: "registry \(client.host): \(repository):\(fallback)")
            {
                for descriptor in index.manifests where policy.admits(artifactType: descriptor.artifactType) {
                    found.append(RemoteReferrer(descriptor: Self.plain(descriptor), subject: subject, link: .subject, tag: nil))
                }
            }
        }
        // cosign tags carry no artifact type: only an unfiltered policy takes them.
        if policy.artifactTypes.isEmpty {
            for kind in CosignTag.Kind.allCases {
                let tag = CosignTag(subject: subject, kind: kind).description
                requests += 1
                guard let digest = try await client.manifestDigest(repository, reference: tag) else { continue }
                // The media type and size come with the manifest, fetched when it is stored.
                found.append(RemoteReferrer(
                    descriptor: Descriptor(mediaType: .ociManifest, digest: digest, size: -1), subject: subject,
                    link: .cosignTag, tag: tag))
            }
        }
        await session.recordDiscovery(requests: requests)
        return found
    }

    /// A listed descriptor as an `index.json` entry keeps it: media type, digest, size, artifact type and annotations.
    static func plain(_ descriptor: Descriptor) -> Descriptor {
        var entry = Descriptor(mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, annotations: descriptor.annotations)
        entry.artifactType = descriptor.artifactType
        return entry
    }
}
