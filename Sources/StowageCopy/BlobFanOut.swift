import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// Sends blobs of a layout to one or more destinations, each with its own session
/// (clients, counters) and progress, reading each blob from disk once however many
/// destinations need it (`BlobTee`).
///
/// Per destination, as for a single push: a blob bound for several repositories of
/// one registry is sent to the first and mounted into the others; the registry's
/// HEAD answer skips what it has. Across destinations, the first upload of a blob to
/// each goes together, fed by one read. A destination that fails stops only its own
/// transfers: the others go on, and `run` returns each destination's first error.
struct BlobFanOut: Sendable {
    /// One destination's part.
    struct Destination: Sendable {
        var session: TransferSession
        var progress: TransferProgress
        var transfers: [(destination: RegistryReference, blob: Descriptor)]
    }

    let layout: Layout
    /// Blobs in flight at once.
    let jobs: Int
    /// Where the bytes read from disk are counted.
    let reads: ReadCounter

    /// Sends every destination's transfers; returns, per destination, nil or the first error it met.
    func run(_ destinations: [Destination]) async -> [(any Error)?] {
        let failures = FailureLog(count: destinations.count)
        var firsts: [Digest: [(owner: Int, destination: RegistryReference)]] = [:]
        var order: [Descriptor] = []
        var mounts: [(owner: Int, destination: RegistryReference, blob: Descriptor)] = []
        for (owner, part) in destinations.enumerated() {
            var homes = Set<String>()
            var targets = Set<String>()
            do {
                for (destination, blob) in part.transfers {
                    let host = RegistryHost.canonical(destination.host)
                    guard targets.insert("\(host)/\(destination.repository)@\(blob.digest)").inserted else { continue }
                    guard try layout.blobs.size(of: blob.digest) == blob.size else {
                        throw StowageError(.invalidLayout, "blob \(blob.digest) is missing from layout \(layout.root) or has the wrong size; run `stowage verify`")
                    }
                    part.progress.expect(blob.size)
                    if homes.insert("\(host)@\(blob.digest)").inserted {
                        if firsts[blob.digest] == nil { order.append(blob) }
                        firsts[blob.digest, default: []].append((owner, destination))
                    } else {
                        mounts.append((owner, destination, blob))
                    }
                }
            } catch {
                failures.record(error, for: owner)
            }
        }
        let layout = self.layout
        let reads = self.reads
        let groups = firsts
        try? await forEachConcurrently(order, limit: jobs) { blob in
            let live = (groups[blob.digest] ?? []).filter { !failures.hasFailed($0.owner) }
            guard !live.isEmpty else { return }
            let tee = BlobTee(path: layout.blobs.path(of: blob.digest), size: blob.size, consumers: live.count, reads: reads)
            await withTaskGroup(of: Void.self) { group in
                for (consumer, (owner, destination)) in live.enumerated() {
                    group.addTask {
                        do {
                            try await Self.send(blob, to: destination, content: .reader(tee.reader(consumer)), via: destinations[owner])
                        } catch {
                            failures.record(error, for: owner)
                        }
                        await tee.leave(consumer)
                    }
                }
            }
        }
        // Mounts read nothing, unless a registry refuses one and the blob is uploaded.
        try? await forEachConcurrently(mounts, limit: jobs) { owner, destination, blob in
            guard !failures.hasFailed(owner) else { return }
            do {
                try await Self.send(blob, to: destination, content: .file(layout.blobs.path(of: blob.digest)), via: destinations[owner], reads: reads)
            } catch {
                failures.record(error, for: owner)
            }
        }
        return failures.errors
    }

    /// Sends one blob within its destination's session and records how it went.
    private static func send(
        _ blob: Descriptor, to destination: RegistryReference, content: BlobContent, via part: Destination, reads: ReadCounter? = nil
    ) async throws {
        let session = part.session
        let progress = part.progress
        let client = try await session.client(for: destination.host)
        let mountFrom = await session.mountSource(host: destination.host, digest: blob.digest, for: destination.repository)
        let item = progress.begin(blob.digest.short, size: blob.size)
        defer { item.cancel() }
        let transfer = try await client.pushBlob(
            blob.digest, size: blob.size, content: content, to: destination.repository, mountFrom: mountFrom,
            onBytes: { bytes in
                reads?.add(bytes)
                item.advance(bytes)
            })
        if transfer != .uploaded { progress.advance(Int(blob.size)) }
        item.finish()
        await session.record(transfer, host: destination.host, repository: destination.repository, digest: blob.digest, size: blob.size)
    }
}

/// The first error of each destination, shared by the tasks sending to it.
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var first: [(any Error)?]

    init(count: Int) {
        first = Array(repeating: nil, count: count)
    }

    func record(_ error: any Error, for owner: Int) {
        lock.withLock { if first[owner] == nil { first[owner] = error } }
    }

    func hasFailed(_ owner: Int) -> Bool {
        lock.withLock { first[owner] != nil }
    }

    var errors: [(any Error)?] { lock.withLock { first } }
}
