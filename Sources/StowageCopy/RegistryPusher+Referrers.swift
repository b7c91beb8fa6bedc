import StowageLayout
import StowageModel
import StowageRegistry

/// A referrer of the layout bound for a registry with its subject.
public struct ReferrerPush: Sendable {
    /// The referrer's entry and what it refers to.
    public var link: LayoutReferrers.Link
    /// Everything the referrer reaches.
    public var graph: ImageGraph

    /// The tag it is pushed under (a cosign tag), or nil to push it by digest.
    public var tag: String? {
        link.link == .cosignTag ? link.entry.refName.map(CosignTag.tagPart(of:)) : nil
    }
}

extension RegistryPusher {
    /// The referrers of `graph` (of its root and every child manifest, of the index it was
    /// narrowed from, and theirs in turn)
    /// that `referrers` carries, subjects before their referrers.
    public func referrerPushes(of graph: ImageGraph) throws -> [ReferrerPush] {
        guard referrers.carry else { return [] }
        // With a platform filter, the index narrowed from is a subject too; its images left out are not.
        let subjects = Set([graph.root.digest] + graph.manifests.map(\.digest) + (graph.narrowedFrom.map { [$0] } ?? []))
        let known = try knownReferrers ?? LayoutReferrers(index: layout.readIndex(), blobs: layout.blobs)
        var links = known.closure(of: subjects, policy: referrers, blobs: layout.blobs)
        // Subjects first: a referrer goes after what it refers to.
        var placed = subjects
        var ordered: [LayoutReferrers.Link] = []
        while !links.isEmpty {
            let ready = links.filter { placed.contains($0.subject) }
            guard !ready.isEmpty else { ordered += links; break }
            ordered += ready
            links.removeAll { ready.contains($0) }
            placed.formUnion(ready.map(\.entry.digest))
        }
        return try ordered.map { link in
            var root = link.entry
            root.annotations = nil
            root.platform = nil
            return ReferrerPush(link: link, graph: try ImageGraph(root: root, layout: layout))
        }
    }

    /// Pushes the referrers of `graph` to `destination`'s repository: each that the
    /// registry lacks (one HEAD), blobs first, then its manifest, by digest for a
    /// referrer by subject and under its tag for a cosign tag. When the registry stores
    /// a manifest with a `subject` without answering `OCI-Subject`, it has no Referrers
    /// API, and the fallback tag `sha256-<hex>` index is updated (read, entry added,
    /// written back, keeping what other tools put there). Returns how many were sent.
    @discardableResult
    public func pushReferrers(of graph: ImageGraph, to destination: RegistryReference) async throws -> Int {
        let pushes = try referrerPushes(of: graph)
        guard !pushes.isEmpty else { return 0 }
        let client = try await session.client(for: destination.host)
        let repository = destination.repository
        var sent = 0
        for push in pushes {
            let digest = push.graph.root.digest
            let present = try await client.manifestDigest(repository, reference: push.tag ?? digest.string)
            if present == digest { continue }
            let target = RegistryReference(host: destination.host, repository: repository, tag: push.tag)
            try await pushBlobs(push.graph.blobs.map { (target, $0) })
            for manifest in push.graph.manifests {
                let bytes = try layout.blobs.readDocument(manifest.digest, expectedSize: manifest.size)
                try await client.putManifest(bytes, mediaType: manifest.mediaType, digest: manifest.digest, to: repository, reference: manifest.digest.string)
                await session.recordManifest()
            }
            let bytes = try layout.blobs.readDocument(digest, expectedSize: push.graph.root.size)
            if let tag = push.tag {
                try await client.putManifest(bytes, mediaType: push.graph.root.mediaType, digest: digest, to: repository, reference: tag)
            } else {
                let answeredSubject = try await client.putManifestReportingSubject(
                    bytes, mediaType: push.graph.root.mediaType, digest: digest, to: repository, reference: digest.string)
                if !answeredSubject { try await addToFallbackTag(push, bytes: bytes, client: client, repository: repository) }
            }
            await session.recordManifest()
            await session.recordReferrer()
            sent += 1
        }
        return sent
    }

    /// Adds a referrer to its subject's fallback-tag index `sha256-<hex>`, keeping its other entries.
    private func addToFallbackTag(_ push: ReferrerPush, bytes: [UInt8], client: RegistryClient, repository: String) async throws {
        let tag = CosignTag.fallbackTag(for: push.link.subject)
        var index = Index(mediaType: .ociIndex)
        if try await client.manifestDigest(repository, reference: tag) != nil {
            let fetched = try await client.fetchManifest(repository, reference: tag)
            guard case .index(let existing) = try ContentDocument(
                fetched.bytes, mediaType: fetched.mediaType, what: "registry \(client.host): \(repository):\(tag)")
            else {
                throw StowageError(.registry, "registry \(client.host): \(repository):\(tag) is not an index, so the referrers of \(push.link.subject) cannot be listed there")
            }
            index = existing
        }
        guard !index.manifests.contains(where: { $0.digest == push.graph.root.digest }) else { return }
        let document = try ContentDocument(bytes, mediaType: push.graph.root.mediaType, what: "blob \(push.graph.root.digest)")
        var entry = Descriptor(
            mediaType: push.graph.root.mediaType, digest: push.graph.root.digest, size: push.graph.root.size,
            annotations: document.annotations)
        entry.artifactType = document.artifactType
        index.manifests.append(entry)
        let indexBytes = try JSONCoding.encode(index)
        try await client.putManifest(
            indexBytes, mediaType: .ociIndex, digest: ContentHasher.digest(of: indexBytes), to: repository, reference: tag)
        await session.recordManifest()
    }
}
