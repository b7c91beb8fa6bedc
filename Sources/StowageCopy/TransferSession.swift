import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// What a push, sync or pull moved.
public struct TransferSummary: Sendable, Codable, Equatable {
    /// Blobs sent.
    public var blobsSent = 0
    /// Blobs the destination already had.
    public var blobsPresent = 0
    /// Blobs mounted from another repository of the same registry.
    public var blobsMounted = 0
    /// Blobs received (pull).
    public var blobsReceived = 0
    /// Bytes sent or received.
    public var bytes: Int64 = 0
    /// Manifests and indexes written.
    public var manifests = 0
    /// Wall time in seconds.
    public var seconds = 0.0
    /// Referrers (signatures, SBOMs, attestations) carried.
    public var referrers = 0
    /// Requests made to discover referrers (Referrers API pages, fallback and cosign tag HEADs).
    public var referrerRequests = 0
    /// Every HTTP request sent: pings, tokens, manifests, blobs and retries.
    public var requests = 0
    /// Bytes of configs and layers read from the layout to send them: with several
    /// destinations, each blob's bytes once, however many registries it went to.
    public var blobBytesRead: Int64 = 0

    /// An empty summary.
    public init() {}
}

/// The registry clients of one command, one per host, and what they have moved,
/// so a blob sent to one repository is mounted into the next instead of sent again.
public actor TransferSession {
    /// Which end of a transfer a registry is: a copy may reach its source with other
    /// options (`--src-creds`, `--src-tls-verify`, …) than its destination.
    public enum Side: Sendable {
        /// Where images are read from (pull, the source of a copy).
        case source
        /// Where images are written to (push, sync, the destination of a copy).
        case destination
    }

    /// The registry options in force for destinations, and for sources unless `sourceOptions` differ.
    public let options: RegistryOptions
    /// The registry options for sources.
    public let sourceOptions: RegistryOptions
    private let separateSourceClients: Bool
    /// Options for particular hosts (an image set's registries), by canonical host; they
    /// win over `options` and `sourceOptions` for that host on either side.
    private let hostOptions: [String: RegistryOptions]
    private var clients: [String: RegistryClient] = [:]
    private var blobHomes: [String: [Digest: String]] = [:]
    /// What moved so far.
    public var summary: TransferSummary {
        var summary = moved
        summary.blobBytesRead = reads.bytes
        return summary
    }
    private var moved = TransferSummary()
    /// Blob bytes read from the layout to send them.
    public nonisolated let reads = ReadCounter()

    /// A session with `options`, `sourceOptions` for sources when given, and `hostOptions`
    /// for the hosts they name (`HOST[:PORT]` as written).
    public init(options: RegistryOptions, sourceOptions: RegistryOptions? = nil, hostOptions: [String: RegistryOptions] = [:]) {
        self.options = options
        self.sourceOptions = sourceOptions ?? options
        separateSourceClients = sourceOptions != nil
        self.hostOptions = Dictionary(hostOptions.map { (RegistryHost.canonical($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// The client for `host` on `side`, created on first use. With separate source options,
    /// one registry that is both source and destination gets a client for each side.
    public func client(for host: String, side: Side = .destination) throws -> RegistryClient {
        let canonical = RegistryHost.canonical(host)
        let special = hostOptions[canonical]
        let source = side == .source && separateSourceClients && special == nil
        let key = (source ? "source " : "") + canonical
        if let client = clients[key] { return client }
        let client = try RegistryClient(host: host, options: special ?? (source ? sourceOptions : options))
        clients[key] = client
        return client
    }

    /// A repository of `host` known to hold `digest`, other than `repository`.
    func mountSource(host: String, digest: Digest, for repository: String) -> String? {
        guard let home = blobHomes[RegistryHost.canonical(host)]?[digest], home != repository else { return nil }
        return home
    }

    func record(_ transfer: BlobTransfer, host: String, repository: String, digest: Digest, size: Int64) {
        blobHomes[RegistryHost.canonical(host), default: [:]][digest] = repository
        switch transfer {
        case .present: moved.blobsPresent += 1
        case .mounted: moved.blobsMounted += 1
        case .uploaded:
            moved.blobsSent += 1
            moved.bytes += size
        }
    }

    func recordReceived(size: Int64) {
        moved.blobsReceived += 1
        moved.bytes += size
    }

    func recordManifest() {
        moved.manifests += 1
    }

    private var withoutReferrersAPI: Set<String> = []

    func lacksReferrersAPI(_ host: String) -> Bool { withoutReferrersAPI.contains(RegistryHost.canonical(host)) }
    func markLacksReferrersAPI(_ host: String) { withoutReferrersAPI.insert(RegistryHost.canonical(host)) }
    func recordDiscovery(requests: Int) { moved.referrerRequests += requests }
    func recordReferrer() { moved.referrers += 1 }

    /// The HTTP requests sent so far by every client of the session.
    public func requestCount() async -> Int {
        var total = 0
        for client in clients.values { total += await client.requestCount }
        return total
    }

    /// Closes every client.
    public func close() async {
        for client in clients.values { try? await client.shutdown() }
        clients = [:]
    }

    /// Runs `body` with a session (`sourceOptions` for sources, when given) and a progress line for `verb` ("pushing")
    /// shown as `progress` says, closes both afterwards, and returns what `body` returned with what moved and how long it took.
    public static func with<T: Sendable>(
        options: RegistryOptions, sourceOptions: RegistryOptions? = nil, hostOptions: [String: RegistryOptions] = [:], verb: String,
        progress mode: ProgressMode = .auto,
        _ body: (TransferSession, TransferProgress) async throws -> T
    ) async throws -> (result: T, summary: TransferSummary) {
        let session = TransferSession(options: options, sourceOptions: sourceOptions, hostOptions: hostOptions)
        let progress = TransferProgress(verb: verb, mode: mode)
        let started = Date()
        defer { progress.finish() }
        do {
            let result = try await body(session, progress)
            var summary = await session.summary
            summary.requests = await session.requestCount()
            summary.seconds = Date().timeIntervalSince(started)
            await session.close()
            return (result, summary)
        } catch {
            await session.close()
            throw error
        }
    }
}
