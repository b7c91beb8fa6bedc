import NIOCore
import StowageLayout
import StowageModel
import StowageRegistry

/// A place `inspect` reads documents from: a layout, or one repository of a registry.
/// Every read is digest-checked.
public protocol DocumentSource: Sendable {
    /// The manifest or index `descriptor` points at.
    func document(_ descriptor: Descriptor) async throws -> [UInt8]
    /// A small blob, such as a config (at most `ContentDocument.maxSize`).
    func smallBlob(_ descriptor: Descriptor) async throws -> [UInt8]
}

/// The documents of a layout.
public struct LayoutDocuments: DocumentSource {
    let layout: Layout

    /// The documents of `layout`.
    public init(_ layout: Layout) { self.layout = layout }

    public func document(_ descriptor: Descriptor) async throws -> [UInt8] {
        try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
    }

    public func smallBlob(_ descriptor: Descriptor) async throws -> [UInt8] {
        try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
    }
}

/// The documents of one repository of a registry.
public struct RegistryDocuments: DocumentSource {
    let client: RegistryClient
    let repository: String

    /// The documents of `repository` through `client`.
    public init(client: RegistryClient, repository: String) {
        self.client = client
        self.repository = repository
    }

    public func document(_ descriptor: Descriptor) async throws -> [UInt8] {
        try await client.fetchManifest(repository, reference: descriptor.digest.string, expected: descriptor.digest).bytes
    }

    public func smallBlob(_ descriptor: Descriptor) async throws -> [UInt8] {
        let what = "blob \(descriptor.digest) of \(client.host)/\(repository)"
        guard descriptor.size <= Int64(ContentDocument.maxSize) else {
            throw StowageError(.unsupported, "\(what) is \(descriptor.size) bytes, more than the 16 MiB Stowage reads for a config")
        }
        var bytes: [UInt8] = []
        try await client.fetchBlob(descriptor.digest, from: repository, restart: { bytes = [] }) { chunk in
            bytes.append(contentsOf: chunk.readableBytesView)
            if bytes.count > descriptor.size {
                throw StowageError(.digestMismatch, "registry \(client.host): \(what) is longer than the \(descriptor.size) bytes its descriptor declares")
            }
        }
        let digest = ContentHasher.digest(of: bytes)
        guard digest == descriptor.digest, bytes.count == descriptor.size else {
            throw StowageError(.digestMismatch, "registry \(client.host) served \(what) with digest \(digest) (\(bytes.count) bytes)")
        }
        return bytes
    }
}

/// What `stowage inspect` shows of an image or index, the same for a layout and a registry:
/// the document itself, the image of one platform of an index, or an image's config.
public enum DocumentInspection {
    /// Which part of the image is shown.
    public enum Part: Sendable {
        /// The manifest or index.
        case document
        /// The image's config blob.
        case config
    }

    /// The descriptor and bytes to show of `root` (whose bytes are `rootBytes`), read from
    /// `source`: with `platform`, the image of an index for that platform (a single image
    /// must be of that platform); with `.config`, the config of the image. `what` names the
    /// reference in messages.
    public static func select(
        root: Descriptor, rootBytes: [UInt8], from source: some DocumentSource, platform: Platform?, part: Part, what: String
    ) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        if platform == nil && part == .document { return (root, rootBytes) }
        var descriptor = root
        var bytes = rootBytes
        var document = try ContentDocument(bytes, mediaType: root.mediaType, what: what)
        if let platform {
            switch document {
            case .index(let index):
                guard case .image(let child) = try index.selecting([platform], source: root, what: what) else {
                    throw StowageError(.notFound, "\(what) has no \(platform) image (it has: \(index.platforms.map(\.description).joined(separator: ", ")))")
                }
                descriptor = child
                bytes = try await source.document(child)
                document = try ContentDocument(bytes, mediaType: child.mediaType, what: "\(what) (\(platform))")
            case .manifest(let manifest):
                let config = try await imageConfig(of: manifest, from: source, what: what)
                guard config.platform.matches(platform) else {
                    throw StowageError(.notFound, "\(what) is a single \(config.platform) image, not \(platform)")
                }
            case .artifact:
                throw StowageError(.usage, "\(what) is an artifact, which has no platform; inspect it without --platform")
            }
        }
        guard part == .config else { return (descriptor, bytes) }
        switch document {
        case .manifest(let manifest):
            return (manifest.config, try await source.smallBlob(manifest.config))
        case .index(let index):
            throw StowageError(
                .usage,
                "\(what) is an index of \(index.platforms.count) platforms (\(index.platforms.map(\.description).joined(separator: ", "))); choose one with --platform to see its config")
        case .artifact:
            throw StowageError(.usage, "\(what) is an artifact manifest, which has no config")
        }
    }

    /// The platforms of `root`: an index's entries (attestations left out), a single
    /// image's from its config; none for an artifact.
    public static func platforms(root: Descriptor, rootBytes: [UInt8], from source: some DocumentSource, what: String) async throws -> [Platform] {
        switch try ContentDocument(rootBytes, mediaType: root.mediaType, what: what) {
        case .index(let index): return index.platforms
        case .manifest(let manifest) where manifest.config.mediaType.isImageConfig:
            return [try await imageConfig(of: manifest, from: source, what: what).platform]
        case .manifest, .artifact: return []
        }
    }

    private static func imageConfig(of manifest: Manifest, from source: some DocumentSource, what: String) async throws -> ImageConfig {
        guard manifest.config.mediaType.isImageConfig else {
            throw StowageError(.usage, "\(what) is an artifact (config \(manifest.config.mediaType)), which has no platform")
        }
        let bytes = try await source.smallBlob(manifest.config)
        return try JSONCoding.decode(ImageConfig.self, from: bytes, what: "config \(manifest.config.digest) of \(what)")
    }
}
