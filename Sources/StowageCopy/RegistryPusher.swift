import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// Pushes images of a layout to registries: blobs first (skipped when present,
/// mounted when the session already sent them to another repository of the
/// same registry, uploaded otherwise, `jobs` at a time), then child manifests by
/// digest, then the root by tag. Exact stored bytes are sent.
public struct RegistryPusher: Sendable {
    /// The layout images come from.
    public let layout: Layout
    /// The clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress

    /// A pusher for `layout` within `session`.
    public init(layout: Layout, session: TransferSession, progress: TransferProgress) {
        self.layout = layout
        self.session = session
        self.progress = progress
    }

    /// Pushes `graph` to `destination`; returns false when the destination already had
    /// that exact root under that tag (nothing was sent).
    @discardableResult
    public func push(_ graph: ImageGraph, to destination: RegistryReference) async throws -> Bool {
        let client = try await session.client(for: destination.host)
        let repository = destination.repository
        await client.preparePush(to: repository)
        let reference = destination.tag ?? graph.root.digest.string
        if let digest = destination.digest, digest != graph.root.digest {
            throw StowageError(.conflict, "destination \(destination) names digest \(digest), but the image is \(graph.root.digest)")
        }
        if destination.tag != nil, try await client.manifestDigest(repository, reference: reference) == graph.root.digest {
            return false
        }
        try await pushBlobs(graph.blobs, with: client, to: destination)
        for manifest in graph.manifests {
            let bytes = try layout.blobs.readDocument(manifest.digest, expectedSize: manifest.size)
            try await client.putManifest(bytes, mediaType: manifest.mediaType, digest: manifest.digest, to: repository, reference: manifest.digest.string)
            await session.recordManifest()
        }
        let rootBytes = try layout.blobs.readDocument(graph.root.digest, expectedSize: graph.root.size)
        try await client.putManifest(rootBytes, mediaType: graph.root.mediaType, digest: graph.root.digest, to: repository, reference: reference)
        await session.recordManifest()
        return true
    }

    private func pushBlobs(_ blobs: [Descriptor], with client: RegistryClient, to destination: RegistryReference) async throws {
        let layout = self.layout
        let session = self.session
        let progress = self.progress
        for blob in blobs {
            guard try layout.blobs.size(of: blob.digest) == blob.size else {
                throw StowageError(.invalidLayout, "blob \(blob.digest) is missing from layout \(layout.root) or has the wrong size; run `stowage verify`")
            }
            progress.expect(blob.size)
        }
        try await forEachConcurrently(blobs, limit: session.options.jobs) { blob in
            let mountFrom = await session.mountSource(host: destination.host, digest: blob.digest, for: destination.repository)
            let transfer = try await client.pushBlob(
                blob.digest, size: blob.size, from: layout.blobs.path(of: blob.digest), to: destination.repository,
                mountFrom: mountFrom, onBytes: { progress.advance($0) })
            if transfer != .uploaded { progress.advance(Int(blob.size)) }
            progress.blobFinished()
            await session.record(transfer, host: destination.host, repository: destination.repository, digest: blob.digest, size: blob.size)
        }
    }
}
