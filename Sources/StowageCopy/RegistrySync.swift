import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// `stowage sync`: plan, then push every named image of the layout.
public struct RegistrySync: Sendable {
    /// The planner that maps names to destinations.
    public let planner: SyncPlanner
    /// Which referrers go with each image: all by default.
    public var referrers: ReferrerPolicy = .all
    /// The clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress

    /// A sync of `planner`'s layout within `session`.
    public init(planner: SyncPlanner, session: TransferSession, progress: TransferProgress) {
        self.planner = planner
        self.session = session
        self.progress = progress
    }

    /// The plan; with `check`, asks the registry (HEAD requests only) what it lacks.
    /// Names that collide on a destination are listed in `collisions`, not among the items.
    public func plan(check: Bool) async throws -> SyncPlan {
        let (targets, skipped, collisions, known) = try planner.plannedTargets()
        var pusher = RegistryPusher(layout: planner.layout, session: session, progress: progress)
        pusher.referrers = referrers
        pusher.knownReferrers = known
        var items: [SyncPlan.Item] = []
        for (name, destination, graph) in targets {
            var item = SyncPlan.Item(reference: name, destination: destination, graph: graph)
            let referrerPushes = try pusher.referrerPushes(of: graph)
            item.referrers = referrerPushes.map { $0.tag ?? $0.graph.root.digest.string }
            if check {
                let client = try await session.client(for: destination.host)
                let current = try await client.manifestDigest(destination.repository, reference: destination.manifestReference)
                item.upToDate = current == graph.root.digest
                if current == graph.root.digest {
                    item.missingBlobs = 0
                    item.missingBytes = 0
                } else {
                    var missing = 0
                    var bytes: Int64 = 0
                    for blob in graph.blobs where try await client.blobSize(blob.digest, in: destination.repository) == nil {
                        missing += 1
                        bytes += blob.size
                    }
                    item.missingBlobs = missing
                    item.missingBytes = bytes
                }
                var missingReferrers = 0
                for push in referrerPushes
                where try await client.manifestDigest(destination.repository, reference: push.tag ?? push.graph.root.digest.string) != push.graph.root.digest {
                    missingReferrers += 1
                }
                item.missingReferrers = missingReferrers
            }
            items.append(item)
        }
        return SyncPlan(items: items, skipped: skipped, collisions: collisions)
    }

    /// Pushes every planned image; returns the plan with what was up to date.
    /// The blobs of all images go out together (`jobs` at a time, each sent once per
    /// registry and mounted elsewhere), then each image's manifests. Refuses, before
    /// sending anything, when names with different images map to one destination.
    public func run() async throws -> SyncPlan {
        var part = SyncDestination(planner: planner, session: session, progress: progress)
        part.referrers = referrers
        let results = await SyncDestination.push([part], jobs: session.options.jobs, reads: session.reads)
        return try results[0].0.get()
    }
}
