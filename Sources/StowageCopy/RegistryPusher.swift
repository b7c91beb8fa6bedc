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
    /// Which referrers (signatures, SBOMs, attestations) go with each image: all by default.
    public var referrers: ReferrerPolicy = .all
    /// The layout's referrers, when the caller read them once for many pushes (sync);
    /// else `index.json` is read for each push.
    public var knownReferrers: LayoutReferrers?

    /// A pusher for `layout` within `session`.
    public init(layout: Layout, session: TransferSession, progress: TransferProgress) {
        self.layout = layout
        self.session = session
        self.progress = progress
    }

    /// Pushes `graph` to `destination`; returns false when the destination already had
    /// that exact root under that tag (nothing was sent). A destination with neither tag
    /// nor digest gets the tag `latest`, as with skopeo.
    @discardableResult
    public func push(_ graph: ImageGraph, to destination: RegistryReference) async throws -> Bool {
        try await push(graph, to: [destination])[0]
    }

    /// Pushes `graph` to every destination: the blobs of all of them together, each read
    /// from disk once however many registries lack it, then each one's manifests and
    /// referrers. Returns, per destination, whether anything was sent.
    public func push(_ graph: ImageGraph, to destinations: [RegistryReference]) async throws -> [Bool] {
        let destinations = destinations.map(\.withDefaultTag)
        var needed: [Bool] = []
        for destination in destinations { needed.append(try await needsPush(graph, to: destination)) }
        let pending = zip(destinations, needed).filter(\.1).map(\.0)
        try await pushBlobs(pending.flatMap { destination in graph.blobs.map { (destination, $0) } })
        for destination in pending { try await pushManifests(graph, to: destination) }
        // Referrers after their subjects; an image already there may still lack a new signature.
        var sent: [Bool] = []
        for (destination, neededHere) in zip(destinations, needed) {
            let referrersSent = try await pushReferrers(of: graph, to: destination)
            sent.append(neededHere || referrersSent > 0)
        }
        return sent
    }

    /// Whether `destination` lacks `graph` under its tag (one HEAD request).
    public func needsPush(_ graph: ImageGraph, to destination: RegistryReference) async throws -> Bool {
        let client = try await session.client(for: destination.host)
        await client.preparePush(to: destination.repository)
        if let digest = destination.digest, digest != graph.root.digest {
            throw StowageError(.conflict, "destination \(destination) names digest \(digest), but the image is \(graph.root.digest)")
        }
        guard destination.tag != nil else { return true }
        return try await client.manifestDigest(destination.repository, reference: destination.manifestReference) != graph.root.digest
    }

    /// Child manifests by digest, then the root by tag (or digest): after the blobs.
    public func pushManifests(_ graph: ImageGraph, to destination: RegistryReference) async throws {
        let client = try await session.client(for: destination.host)
        let repository = destination.repository
        for manifest in graph.manifests {
            let bytes = try layout.blobs.readDocument(manifest.digest, expectedSize: manifest.size)
            try await client.putManifest(bytes, mediaType: manifest.mediaType, digest: manifest.digest, to: repository, reference: manifest.digest.string)
            await session.recordManifest()
        }
        let rootBytes = try graph.filtered?.bytes ?? layout.blobs.readDocument(graph.root.digest, expectedSize: graph.root.size)
        let reference = destination.tag ?? graph.root.digest.string
        try await client.putManifest(rootBytes, mediaType: graph.root.mediaType, digest: graph.root.digest, to: repository, reference: reference)
        await session.recordManifest()
    }

    /// Sends blobs to their repositories, `jobs` at a time. A blob bound for several
    /// repositories of one registry is sent to the first and then mounted into the others.
    /// Each is read from disk as it is sent, counted in the session's `reads`.
    public func pushBlobs(_ transfers: [(destination: RegistryReference, blob: Descriptor)]) async throws {
        let fanOut = BlobFanOut(layout: layout, jobs: session.options.jobs, reads: session.reads)
        let failures = await fanOut.run([BlobFanOut.Destination(session: session, progress: progress, transfers: transfers)])
        if let failure = failures.first ?? nil { throw failure }
    }
}
