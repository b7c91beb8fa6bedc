import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// One destination of `stowage sync DEST…` and how it went.
public struct SyncDestinationReport: Sendable, Codable {
    /// `HOST[:PORT][/PREFIX]`, as given.
    public var target: String
    /// What was planned and done there; nil when even planning failed.
    public var plan: SyncPlan?
    /// What moved to it.
    public var summary: TransferSummary
    /// Why it failed, or nil when it is complete.
    public var error: String?
    /// The failure, for the exit status and its code.
    public var failure: StowageError? { error.map { StowageError(failureCode, $0) } }
    var failureCode: StowageError.Code = .network

    enum CodingKeys: String, CodingKey {
        case target, plan, summary, error
    }
}

/// What a sync to several registries did: each destination's result, and the blob
/// bytes read from the layout for all of them.
public struct MultiSyncReport: Sendable, Codable {
    /// Each destination, in the order given.
    public var destinations: [SyncDestinationReport]
    /// Bytes of configs and layers read from the layout: each blob once, however many
    /// destinations it went to (plus what a resumed upload read again).
    public var blobBytesRead: Int64
    /// Wall time in seconds.
    public var seconds: Double

    /// The destinations' summaries added up, with the bytes read and the wall time.
    public var total: TransferSummary {
        var total = TransferSummary()
        for summary in destinations.map(\.summary) {
            total.blobsSent += summary.blobsSent
            total.blobsPresent += summary.blobsPresent
            total.blobsMounted += summary.blobsMounted
            total.bytes += summary.bytes
            total.manifests += summary.manifests
            total.referrers += summary.referrers
            total.referrerRequests += summary.referrerRequests
        }
        total.blobBytesRead = blobBytesRead
        total.seconds = seconds
        return total
    }

    /// The destinations that failed.
    public var failed: [SyncDestinationReport] { destinations.filter { $0.error != nil } }
}

/// `stowage sync DEST1 DEST2…`: every named image of one layout to several registries
/// in one run. Each destination has its own plan (HEAD requests), session (credentials
/// and TLS per host, as for one) and counts; each blob is read from disk once and fed
/// to every destination that lacks it (`BlobFanOut`). A destination that fails
/// (unreachable, refused, 5xx after retries) stops only itself: the others complete,
/// and the report names it with its error.
public struct MultiRegistrySync: Sendable {
    /// One planner per destination, all over the same layout.
    public let planners: [SyncPlanner]
    /// The registry options, for every destination.
    public let options: RegistryOptions
    /// Which referrers go with each image: all by default.
    public var referrers: ReferrerPolicy = .all
    /// How the progress line is shown on stderr.
    public var progress: ProgressMode = .auto

    /// A sync of each planner's destination.
    public init(planners: [SyncPlanner], options: RegistryOptions) {
        self.planners = planners
        self.options = options
    }

    /// Plans (with `dryRun`, only that: HEAD requests) or runs the sync to every destination.
    public func run(dryRun: Bool) async -> MultiSyncReport {
        let started = Date()
        let progress = TransferProgress(verb: "syncing", mode: dryRun ? .none : self.progress)
        defer { progress.finish() }
        var parts: [SyncDestination] = []
        for planner in planners {
            let own = planners.count == 1 ? progress : progress.part(planner.target)
            var part = SyncDestination(planner: planner, session: TransferSession(options: options), progress: own)
            part.referrers = referrers
            parts.append(part)
        }
        let reads = ReadCounter()
        let results: [(Result<SyncPlan, any Error>, Double)]
        if dryRun {
            results = await Self.each(parts) { part in
                var sync = RegistrySync(planner: part.planner, session: part.session, progress: part.progress)
                sync.referrers = part.referrers
                return try await sync.plan(check: true)
            }.map { ($0, Date().timeIntervalSince(started)) }
        } else {
            results = await SyncDestination.push(parts, jobs: options.jobs, reads: reads, started: started)
        }
        var reports: [SyncDestinationReport] = []
        for (position, (result, seconds)) in results.enumerated() {
            var summary = await parts[position].session.summary
            summary.seconds = seconds
            summary.blobBytesRead = 0
            var report = SyncDestinationReport(target: planners[position].target, summary: summary)
            switch result {
            case .success(let plan): report.plan = plan
            case .failure(let error):
                report.error = "\(error)"
                if let error = error as? StowageError { report.failureCode = error.code }
            }
            reports.append(report)
        }
        for part in parts { await part.session.close() }
        return MultiSyncReport(destinations: reports, blobBytesRead: reads.bytes, seconds: Date().timeIntervalSince(started))
    }

    /// Runs `body` for every destination at once; each result in its place.
    static func each<T: Sendable>(
        _ parts: [SyncDestination], _ body: @escaping @Sendable (SyncDestination) async throws -> T
    ) async -> [Result<T, any Error>] {
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            for (position, part) in parts.enumerated() {
                group.addTask {
                    do { return (position, .success(try await body(part))) } catch { return (position, .failure(error)) }
                }
            }
            var results = [Result<T, any Error>?](repeating: nil, count: parts.count)
            for await (position, result) in group { results[position] = result }
            return results.map { $0! }
        }
    }
}

/// One destination of a sync in progress, and the steps every sync takes: plan, blobs
/// (shared between destinations), then each destination's manifests and referrers.
struct SyncDestination: Sendable {
    var planner: SyncPlanner
    var session: TransferSession
    var progress: TransferProgress
    var referrers: ReferrerPolicy = .all

    var pusher: RegistryPusher {
        var pusher = RegistryPusher(layout: planner.layout, session: session, progress: progress)
        pusher.referrers = referrers
        return pusher
    }

    /// What a destination needs, found by HEAD requests before anything is sent.
    struct Needs: Sendable {
        var items: [SyncPlan.Item]
        var skipped: [String]
        var targets: [(name: String, destination: RegistryReference, graph: ImageGraph)]
        var pending: [(destination: RegistryReference, graph: ImageGraph)]
        var blobs: [(destination: RegistryReference, blob: Descriptor)]
        var pusher: RegistryPusher
    }

    /// Plans one destination: which images it lacks under their tags, and the blobs of
    /// those and of the referrers it lacks. Refuses names that collide on a destination.
    func needs() async throws -> Needs {
        let (targets, skipped, collisions, known) = try planner.plannedTargets()
        guard collisions.isEmpty else { throw SyncPlan.conflict(collisions) }
        var pusher = self.pusher
        pusher.knownReferrers = known
        var needs = Needs(items: [], skipped: skipped, targets: targets, pending: [], blobs: [], pusher: pusher)
        for (name, destination, graph) in targets {
            let needed = try await pusher.needsPush(graph, to: destination)
            if needed {
                needs.pending.append((destination, graph))
                needs.blobs += graph.blobs.map { (destination, $0) }
            }
            var item = SyncPlan.Item(reference: name, destination: destination, graph: graph, upToDate: !needed)
            let referrerPushes = try pusher.referrerPushes(of: graph)
            item.referrers = referrerPushes.map { $0.tag ?? $0.graph.root.digest.string }
            // The blobs of referrers it lacks go with the others, so they too are read once.
            let client = try await session.client(for: destination.host)
            for push in referrerPushes
            where try await client.manifestDigest(destination.repository, reference: push.tag ?? push.graph.root.digest.string) != push.graph.root.digest {
                let target = RegistryReference(host: destination.host, repository: destination.repository, tag: push.tag)
                needs.blobs += push.graph.blobs.map { (target, $0) }
            }
            needs.items.append(item)
        }
        return needs
    }

    /// Pushes to every destination: plans, then the blobs of all of them together (each
    /// read once), then each one's manifests and referrers. Returns, per destination,
    /// its plan with what was up to date, or its error, and when it was done.
    static func push(
        _ parts: [SyncDestination], jobs: Int, reads: ReadCounter, started: Date = Date()
    ) async -> [(Result<SyncPlan, any Error>, Double)] {
        var results = await MultiRegistrySync.each(parts) { try await $0.needs() }
        guard let layout = parts.first?.planner.layout else { return [] }
        var fanOut: [BlobFanOut.Destination] = []
        for (part, result) in zip(parts, results) {
            let blobs = (try? result.get())?.blobs ?? []
            fanOut.append(BlobFanOut.Destination(session: part.session, progress: part.progress, transfers: blobs))
        }
        let blobFailures = await BlobFanOut(layout: layout, jobs: jobs, reads: reads).run(fanOut)
        for (position, failure) in blobFailures.enumerated() {
            if let failure, case .success = results[position] { results[position] = .failure(failure) }
        }
        let ready = results
        let done = await withTaskGroup(of: (Int, Result<SyncPlan, any Error>, Double).self) { group in
            for (position, result) in ready.enumerated() {
                group.addTask {
                    do {
                        let needs = try result.get()
                        for target in needs.pending {
                            try await needs.pusher.pushManifests(target.graph, to: target.destination)
                        }
                        // Then the referrers of every image, those of images already there
                        // included: a signature may be newer than what it signs.
                        var items = needs.items
                        for (index, (_, destination, graph)) in needs.targets.enumerated() {
                            let sent = try await needs.pusher.pushReferrers(of: graph, to: destination)
                            if sent > 0 { items[index].upToDate = false }
                        }
                        return (position, .success(SyncPlan(items: items, skipped: needs.skipped)), Date().timeIntervalSince(started))
                    } catch {
                        return (position, .failure(error), Date().timeIntervalSince(started))
                    }
                }
            }
            var done = [(Result<SyncPlan, any Error>, Double)?](repeating: nil, count: ready.count)
            for await (position, result, seconds) in group { done[position] = (result, seconds) }
            return done.map { $0! }
        }
        return done
    }
}
