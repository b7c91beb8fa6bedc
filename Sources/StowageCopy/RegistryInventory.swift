import StowageModel
import StowageRegistry

/// What repositories of a registry hold, as an `Inventory`: the far side of an air
/// gap may have only a registry, no layout.
///
/// Each repository's tags are listed (`tags/list`, every page), each tag's manifest
/// or index is fetched and digest-checked, and indexes are walked down to their
/// manifests, each fetched by digest. Configs and layers are taken from the
/// descriptors that list them (their bytes are never fetched); foreign layers,
/// which live at their URLs, are left out. Names are `HOST/REPO:TAG`.
public struct RegistryInventory: Sendable {
    /// The clients of this command.
    public let session: TransferSession

    /// An inventory taker within `session`.
    public init(session: TransferSession) {
        self.session = session
    }

    /// The inventory of `sources`: for each, every tag of its repository, or only the
    /// tag or digest it names.
    public func inventory(of sources: [RegistryReference]) async throws -> Inventory {
        let collector = Collector()
        for source in sources {
            let client = try await session.client(for: source.host, side: .source)
            let roots: [String]
            if let digest = source.digest {
                roots = [digest.string]
            } else if let tag = source.tag {
                roots = [tag]
            } else {
                roots = try await client.listTags(source.repository)
            }
            let repository = "docker://\(source.host)/\(source.repository)"
            await collector.addSource(source.digest == nil && source.tag == nil ? repository : "docker://\(source)")
            try await forEachConcurrently(roots, limit: session.options.jobs) { reference in
                let fetched = try await client.fetchManifest(source.repository, reference: reference, expected: source.digest)
                if source.digest == nil {
                    await collector.addName(Inventory.Name(
                        name: "\(source.host)/\(source.repository):\(reference)", digest: fetched.digest, mediaType: fetched.mediaType))
                }
                let root = Descriptor(mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.bytes.count))
                try await walk(root, bytes: fetched.bytes, in: source, client: client, collector: collector, depth: 0)
            }
        }
        return try await collector.inventory()
    }

    /// Records a document and everything it lists, fetching the manifests and indexes
    /// not met before.
    private func walk(
        _ descriptor: Descriptor, bytes: [UInt8], in source: RegistryReference, client: RegistryClient, collector: Collector, depth: Int
    ) async throws {
        let what = "registry \(source.host): \(descriptor.digest) of \(source.repository)"
        guard Int64(bytes.count) == descriptor.size else {
            throw StowageError(.digestMismatch, "\(what) is \(bytes.count) bytes, not the \(descriptor.size) its index declares")
        }
        guard await collector.claim(descriptor) else { return }
        guard depth <= ContentDocument.maxDepth else {
            throw StowageError(.invalidJSON, "\(what) nests indexes more than \(ContentDocument.maxDepth) levels deep")
        }
        let document = try ContentDocument(bytes, mediaType: descriptor.mediaType, what: what)
        for (child, _) in document.requiredReferences {
            if ContentDocument.isDocument(child.mediaType) {
                guard await !collector.isClaimed(child.digest) else { continue }
                let fetched = try await client.fetchManifest(source.repository, reference: child.digest.string, expected: child.digest)
                try await walk(child, bytes: fetched.bytes, in: source, client: client, collector: collector, depth: depth + 1)
            } else if !child.isForeignLayer {
                await collector.addBlob(Inventory.Blob(digest: child.digest, size: child.size))
            }
        }
    }

    /// What the concurrent walks found.
    private actor Collector {
        var sources: [String] = []
        var blobs: [Inventory.Blob] = []
        var names: [Inventory.Name] = []
        var documents = Set<Digest>()

        func addSource(_ source: String) { sources.append(source) }
        func addName(_ name: Inventory.Name) { names.append(name) }
        func addBlob(_ blob: Inventory.Blob) { blobs.append(blob) }
        func isClaimed(_ digest: Digest) -> Bool { documents.contains(digest) }

        /// Records a document; false when another walk has it already.
        func claim(_ descriptor: Descriptor) -> Bool {
            guard documents.insert(descriptor.digest).inserted else { return false }
            blobs.append(Inventory.Blob(digest: descriptor.digest, size: descriptor.size))
            return true
        }

        func inventory() throws -> Inventory {
            do {
                return try Inventory(sources: sources, blobs: blobs, names: names)
            } catch let error as StowageError {
                throw error.prefixed("the registry's content is inconsistent")
            }
        }
    }
}
