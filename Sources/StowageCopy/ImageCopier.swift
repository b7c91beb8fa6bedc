import Foundation
import StowageArchive
import StowageLayout
import StowageModel
import StowageRegistry

/// `stowage copy SRC DST` between any two places images live. A layout is the
/// hub: a source that is not a layout is brought into one (the destination
/// layout when there is one, else a temporary one), then delivered from there.
/// Bytes are never re-encoded, so digests stay the same all the way.
public struct ImageCopier: Sendable {
    /// The registry clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress
    /// Which referrers (signatures, SBOMs, attestations) travel with the image: all by default.
    public var referrers: ReferrerPolicy = .all

    /// A copier within `session`.
    public init(session: TransferSession, progress: TransferProgress) {
        self.session = session
        self.progress = progress
    }

    /// Copies the image at `source` to `destination`; returns its descriptor.
    ///
    /// As in skopeo, a layout or oci-archive destination `oci:DIR:REF` names the image
    /// exactly `REF` (no `:latest` added), and only that: names inside a source archive
    /// are not written to the destination, so no existing name of `DIR` moves.
    /// Without `REF` the image is added unnamed.
    public func copy(from source: ImageLocation, to destination: ImageLocation) async throws -> Descriptor {
        let destinationName: RefName?
        switch destination {
        case .dockerArchive:
            throw StowageError(.unsupported, "docker-archive: is supported as a source only; write an oci-archive: instead")
        case .layout(_, let reference?), .ociArchive(_, let reference?):
            do { destinationName = try RefName(stored: reference) } catch let error as StowageError { throw error.prefixed("destination \(destination)") }
        case .layout, .ociArchive, .registry:
            destinationName = nil
        }
        let scratch = try TemporaryLayout()
        defer { scratch.remove() }
        // Where the image is brought: the destination layout itself when it is one.
        let hub: Layout
        if case .layout(let directory, _) = destination { hub = try Layout.create(directory) } else { hub = try scratch.layout() }
        // Blobs copied into the destination are unreferenced until named: keep gc out till then.
        let blobLock = try hub.lockBlobs(.shared, purpose: "copy")
        defer { blobLock.unlock() }

        let (layout, image) = try await bring(source, into: hub)
        switch destination {
        case .layout:
            if layout.root != hub.root {
                try copyGraph(image, from: layout, to: hub)
                try copyReferrers(of: image, from: layout, to: hub)
            }
            try name(image, destinationName, in: hub)
        case .ociArchive(let file, _):
            var exportFrom = layout
            if let destinationName, try layout.readIndex().entry(named: destinationName.value)?.digest != image.digest {
                // The archive carries the name asked for: give it in a layout of our own.
                let named = try scratch.layout()
                if layout.root != named.root {
                    try copyGraph(image, from: layout, to: named)
                    try copyReferrers(of: image, from: layout, to: named)
                }
                try name(image, destinationName, in: named)
                exportFrom = named
            }
            try ArchiveExporter(layout: exportFrom).export(
                to: file, references: [destinationName?.value ?? image.digest.string], referrers: referrers, progress: progress)
        case .registry(let target):
            var root = image
            root.annotations = nil
            var pusher = RegistryPusher(layout: layout, session: session, progress: progress)
            pusher.referrers = referrers
            try await pusher.push(ImageGraph(root: root, layout: layout), to: target)
        case .dockerArchive:
            break
        }
        var result = image
        result.annotations = nil
        return result
    }

    /// Puts the source image into a layout: its own, or `hub`.
    private func bring(_ source: ImageLocation, into hub: Layout) async throws -> (Layout, Descriptor) {
        switch source {
        case .layout(let directory, let reference):
            let layout = try Layout.open(directory)
            return (layout, try Self.select(reference, in: layout, from: source.description))
        case .ociArchive(let file, let reference), .dockerArchive(let file, let reference):
            // Only the blobs: the archive's names are for `stowage import`, not for a copy's destination.
            let report = try ArchiveImporter(layout: hub, progress: progress).importArchive(file, applyNames: false, referrers: referrers)
            // Referrers came as blobs only: give them their entries, since no name of theirs moves.
            try hub.updateIndex(purpose: "copy") { index in
                for referrer in report.images where referrer.referrerOf != nil {
                    let entry = Descriptor(mediaType: MediaType(referrer.mediaType), digest: try Digest(referrer.digest), size: referrer.size)
                    let names = try referrer.references.map { try RefName(stored: $0) }
                    index.add(entry, names: names)
                }
            }
            let images = report.images.filter { image in
                guard image.referrerOf == nil else { return false }
                guard let reference else { return true }
                let wanted = (try? RefName(userInput: reference).value) ?? reference
                return image.references.contains(reference) || image.references.contains(wanted) || image.digest == reference
            }
            guard images.count == 1, let image = images.first else {
                throw StowageError(
                    .usage,
                    images.isEmpty ? "\(source) names no image of the archive (it has: \(report.images.flatMap(\.references).joined(separator: ", ")))"
                        : "\(file) holds \(images.count) images; name one with \(source):REF")
            }
            return (hub, Descriptor(mediaType: MediaType(image.mediaType), digest: try Digest(image.digest), size: image.size))
        case .registry(let reference):
            var puller = RegistryPuller(layout: hub, session: session, progress: progress)
            puller.referrers = referrers
            let descriptor = try await puller.pull(reference, name: nil, platform: nil, keepName: false)
            return (hub, descriptor)
        }
    }

    /// The image a layout source names, or its only image.
    static func select(_ reference: String?, in layout: Layout, from source: String) throws -> Descriptor {
        if let reference { return try layout.resolve(reference) }
        let entries = try layout.readIndex().manifests
        guard entries.count == 1 else {
            throw StowageError(.usage, "\(source) holds \(entries.count) images; name one with :REF")
        }
        return entries[0]
    }

    private func name(_ image: Descriptor, _ name: RefName?, in layout: Layout) throws {
        var entry = image
        entry.annotations = nil
        try layout.updateIndex(purpose: "copy") { index in
            index.add(entry, names: name.map { [$0] } ?? [])
        }
    }

    /// Copies the referrer entries of an image (and of its children, and theirs in turn)
    /// with everything they reach, keeping their names (cosign tags) or lack of one.
    private func copyReferrers(of image: Descriptor, from source: Layout, to destination: Layout) throws {
        guard referrers.carry else { return }
        var root = image
        root.annotations = nil
        let graph = try ImageGraph(root: root, layout: source)
        let subjects = Set([root.digest] + graph.manifests.map(\.digest))
        let links = LayoutReferrers(index: try source.readIndex(), blobs: source.blobs)
            .closure(of: subjects, policy: referrers, blobs: source.blobs)
        guard !links.isEmpty else { return }
        for link in links { try copyGraph(link.entry, from: source, to: destination) }
        try destination.updateIndex(purpose: "copy") { index in
            for link in links {
                var entry = link.entry
                entry.refName = nil
                index.add(entry, names: try link.entry.refName.map { [try RefName(stored: $0)] } ?? [])
            }
        }
    }

    /// Copies every blob an image reaches from one layout to another, streamed and checked.
    private func copyGraph(_ image: Descriptor, from source: Layout, to destination: Layout) throws {
        var root = image
        root.annotations = nil
        let graph = try ImageGraph(root: root, layout: source)
        let blobLock = try destination.lockBlobs(.shared, purpose: "copy")
        defer { blobLock.unlock() }
        let blobs = graph.blobs + graph.manifests + [graph.root]
        progress.expect(blobs.reduce(0) { $0 + $1.size }, blobs: blobs.count)
        for blob in blobs {
            try destination.blobs.copy(blob.digest, size: blob.size, from: source.blobs)
            progress.advance(Int(blob.size))
            progress.blobFinished()
        }
    }
}

/// A layout in a temporary directory, made on first use and removed at the end.
final class TemporaryLayout: @unchecked Sendable {
    private var made: Layout?
    private let path: String

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = "\(base)/stowage-copy-\(getpid())-\(FileSystem.randomSuffix())"
    }

    func layout() throws -> Layout {
        if let made { return made }
        let layout = try Layout.create(path)
        made = layout
        return layout
    }

    func remove() {
        if made != nil { try? FileSystem.removeTree(path) }
    }
}
