import StowageLayout
import StowageModel
import StowageRegistry

/// What `stowage mirror` did, or with `--dry-run` would do, for each image of the set.
public struct MirrorReport: Sendable, Codable {
    /// How an image fared.
    public enum Change: String, Sendable, Codable {
        /// New to the layout.
        case added
        /// Its tag moved to another digest since the last run.
        case updated
        /// As the last run left it: one HEAD request.
        case unchanged
        /// No longer listed by the set, and its name removed (`--prune`).
        case removed
        /// No longer listed by the set, and kept (run with `--prune` to remove it).
        case retired
        /// Could not be brought in; the run fails.
        case failed
    }

    /// One image of the set.
    public struct Image: Sendable, Codable {
        /// `HOST/REPO:TAG` or `HOST/REPO@DIGEST`; for a repository whose tags could not be listed, `HOST/REPO`.
        public var source: String
        /// Its name in the layout (nil for an image listed by digest).
        public var name: String?
        /// What happened.
        public var change: Change
        /// The digest the registry has (before any platform filter).
        public var sourceDigest: String?
        /// The digest the layout held for it before, when it changed.
        public var previousDigest: String?
        /// The digest stored in the layout.
        public var digest: String?
        /// Why it failed.
        public var error: String?
    }

    /// The set's name.
    public var set: String
    /// Whether nothing was changed.
    public var dryRun: Bool
    /// Every image, sorted by source.
    public var images: [Image]
    /// Counts by change.
    public var counts: [String: Int]
    /// What moved (filled in by the command).
    public var summary: TransferSummary?

    /// The images that failed.
    public var failures: [Image] { images.filter { $0.change == .failed } }

    init(set: String, dryRun: Bool, images: [Image]) {
        self.set = set
        self.dryRun = dryRun
        self.images = images.sorted { $0.source < $1.source }
        counts = Dictionary(images.map { ($0.change.rawValue, 1) }, uniquingKeysWith: +)
    }

    /// The error a run with failures ends with, naming each failed image.
    public var failure: StowageError? {
        let failed = failures
        guard !failed.isEmpty else { return nil }
        let list = failed.map { "\($0.source): \($0.error ?? "failed")" }.joined(separator: "; ")
        return StowageError(
            .registry,
            "mirror \(set): \(failed.count) of the set's images could not be brought in (the rest were, and are named): \(list)")
    }
}

/// Brings an image set into a layout: lists the tags its patterns need, asks the
/// registry (one HEAD per tag) what each tag points at, and pulls only what is new or
/// moved since the last run; blobs the layout has are never fetched again. Each image
/// is named only when its whole graph is stored, so an interrupted or failed run leaves
/// nothing half-written. The run's record (`.stowage/records/mirror/SET.json`) remembers
/// what came from where, so the next run can tell updated, unchanged and removed apart.
public struct ImageSetMirror: Sendable {
    /// The set.
    public let set: MirrorSet
    /// The clients and counters of this command.
    public let session: TransferSession
    /// Byte counts for the progress line.
    public let progress: TransferProgress
    /// Whether names the set no longer lists are removed (their blobs go at the next gc).
    public var prune = false

    /// A mirror of `set` within `session`.
    public init(set: MirrorSet, session: TransferSession, progress: TransferProgress) {
        self.set = set
        self.session = session
        self.progress = progress
    }

    /// One image the set lists.
    struct Target: Sendable {
        var host: String
        var repository: MirrorSet.Repository
        var tag: String?
        var digest: Digest?
        var name: RefName?

        var source: String {
            if let tag { return "\(host)/\(repository.name):\(tag)" }
            return "\(host)/\(repository.name)@\(digest!)"
        }

        /// The name of an image listed by digest once it is in the layout: `HOST/REPO@DIGEST`
        /// with the digest stored (a platform filter may have made a new index), which
        /// `stowage sync` sends by digest to REPO.
        func digestName(_ stored: Digest) throws -> RefName {
            try RefName(stored: "\(host)/\(repository.name)@\(stored)")
        }
    }

    /// Finds what changed and, unless `dryRun`, brings it into `layout`. With `dryRun`
    /// the layout may be nil (not created yet): everything is then new.
    public func run(into layout: Layout?, dryRun: Bool) async throws -> MirrorReport {
        precondition(layout != nil || dryRun, "a mirror run needs a layout")
        let lock = try dryRun ? nil : layout?.lockRecord(MirrorRecord.kind, set.name, purpose: "mirror \(set.file)")
        defer { lock?.unlock() }
        let previous = try layout.map { try MirrorRecord.read(from: $0, set: set.name) } ?? MirrorRecord(set: set.name, images: [])
        let recorded = Dictionary(previous.images.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })

        var images: [MirrorReport.Image] = []
        // 1. The tags each repository's patterns select: a pattern matching nothing stops the run here.
        var targets: [Target] = []
        var unlisted = Set<String>()
        var tagLists: [String: [String]] = [:]
        for (registry, repository) in set.repositories {
            var listed: [String]?
            let key = "\(RegistryHost.canonical(registry.host))/\(repository.name)"
            if repository.tags.needsTagList {
                do {
                    // A repository listed twice in the set is asked for its tags once.
                    if let known = tagLists[key] {
                        listed = known
                    } else {
                        listed = try await session.client(for: registry.host, side: .source).listTags(repository.name)
                        tagLists[key] = listed
                    }
                } catch let error as StowageError {
                    images.append(.init(source: "\(registry.host)/\(repository.name)", change: .failed, error: "cannot list its tags: \(error.message)"))
                    unlisted.insert("\(registry.host)/\(repository.name)")
                    continue
                }
            }
            let tags = try repository.tags.select(from: listed, repository: "\(registry.host)/\(repository.name)")
            for tag in tags {
                let name = try RefName(userInput: "\(registry.host)/\(repository.name):\(tag)")
                targets.append(Target(host: registry.host, repository: repository, tag: tag, name: name))
            }
            for digest in repository.digests {
                targets.append(Target(host: registry.host, repository: repository, digest: digest))
            }
        }

        // 2. What each tag points at now: one HEAD each, --jobs at a time.
        let session = self.session
        let heads: [Result<Digest, StowageError>] = await mapConcurrently(targets, limit: session.options.jobs) { target in
            if let digest = target.digest { return .success(digest) }
            do {
                let client = try await session.client(for: target.host, side: .source)
                guard let digest = try await client.manifestDigest(target.repository.name, reference: target.tag!) else {
                    return .failure(StowageError(.notFound, "registry \(target.host) has no tag \(target.tag!) in \(target.repository.name)"))
                }
                return .success(digest)
            } catch let error as StowageError {
                return .failure(error)
            } catch {
                return .failure(StowageError(.registry, "\(error)"))
            }
        }

        // 3. Against the layout: what it holds under each name now.
        let index = try layout?.readIndex() ?? Index(manifests: [])
        var named: [String: Digest] = [:]
        var held = Set<Digest>()
        for entry in index.manifests {
            held.insert(entry.digest)
            if let name = entry.refName { named[name] = entry.digest }
        }
        var record = MirrorRecord(set: set.name, images: [])
        // Images listed by digest, to be named HOST/REPO@DIGEST once in the layout.
        var digestNames: [(descriptor: Descriptor, name: RefName)] = []
        var pulls: [(target: Target, sourceDigest: Digest, previous: String?)] = []
        for (target, head) in zip(targets, heads) {
            let source = target.source
            switch head {
            case .failure(let error):
                images.append(.init(source: source, name: target.name?.value, change: .failed, error: error.message))
                if let kept = recorded[source] { record.images.append(kept) }
            case .success(let digest):
                let before = recorded[source]
                let current: Digest?
                if let name = target.name {
                    current = named[name.value]
                } else {
                    // An image by digest: held when an entry has what the last run stored.
                    let stored = before.flatMap { try? Digest($0.digest) } ?? digest
                    current = held.contains(stored) ? stored : nil
                }
                let unfiltered = target.repository.platforms.isEmpty
                // An image by digest held without its name (an earlier version left it unnamed) gets it.
                let name = try target.name ?? current.map(target.digestName)
                if let name, let current, target.digest != nil, named[name.value] == nil,
                    let entry = index.manifests.first(where: { $0.digest == current }) {
                    digestNames.append((entry, name))
                }
                if let current, let before, before.sourceDigest == digest.string, before.digest == current.string {
                    images.append(.init(source: source, name: name?.value, change: .unchanged, sourceDigest: digest.string, digest: current.string))
                    record.images.append(.init(source: source, name: name?.value, sourceDigest: before.sourceDigest, digest: before.digest))
                } else if let current, unfiltered, current == digest {
                    // Brought in before without a record (by pull, or a run cut short): adopted as it is.
                    images.append(.init(source: source, name: name?.value, change: .unchanged, sourceDigest: digest.string, digest: current.string))
                    record.images.append(.init(source: source, name: name?.value, sourceDigest: digest.string, digest: current.string))
                } else {
                    pulls.append((target, digest, current?.string ?? before?.digest))
                }
            }
        }

        // 4. Bring in what is new or moved, one image at a time so shared blobs are fetched once.
        for (target, sourceDigest, previousDigest) in pulls {
            let change: MirrorReport.Change = previousDigest == nil ? .added : .updated
            var image = MirrorReport.Image(
                source: target.source, name: target.name?.value, change: change, sourceDigest: sourceDigest.string, previousDigest: previousDigest)
            if dryRun {
                images.append(image)
                continue
            }
            do {
                let entry = try await pull(target, digest: sourceDigest, into: layout!)
                image.digest = entry.digest.string
                let name = try target.name ?? target.digestName(entry.digest)
                if target.name == nil { digestNames.append((entry, name)) }
                image.name = name.value
                record.images.append(.init(source: target.source, name: name.value, sourceDigest: sourceDigest.string, digest: entry.digest.string))
            } catch let error as StowageError {
                image.change = .failed
                image.error = error.message
                if let kept = recorded[target.source] { record.images.append(kept) }
            }
            images.append(image)
        }

        // Images by digest get their names in one edit of index.json.
        if !dryRun, let layout, !digestNames.isEmpty {
            try layout.addEntries(digestNames.map { ($0.descriptor, [$0.name]) }, purpose: "mirror \(set.file): names of images by digest")
        }

        // 5. What the set no longer lists: removed with --prune, else kept and reported.
        let listed = Set(targets.map(\.source))
        var retired: [MirrorRecord.Image] = []
        for old in previous.images where !listed.contains(old.source) {
            // A repository whose tags could not be listed says nothing about its images.
            if unlisted.contains(where: { old.source.hasPrefix($0 + ":") || old.source.hasPrefix($0 + "@") }) {
                record.images.append(old)
                continue
            }
            retired.append(old)
        }
        if prune && !dryRun, let layout, !retired.isEmpty {
            // Only names that still point where the set left them; an entry moved by hand stays.
            let queries = retired.compactMap { old -> String? in
                if let name = old.name { return named[name]?.string == old.digest ? name : nil }
                return index.manifests.contains { $0.digest.string == old.digest && $0.refName == nil } ? old.digest : nil
            }
            if !queries.isEmpty { try layout.removeReferences(queries) }
        }
        for old in retired {
            images.append(.init(source: old.source, name: old.name, change: prune ? .removed : .retired, sourceDigest: old.sourceDigest, digest: old.digest))
            if !prune {
                var kept = old
                kept.retired = true
                record.images.append(kept)
            }
        }
        if !dryRun, let layout { try record.write(to: layout) }
        return MirrorReport(set: set.name, dryRun: dryRun, images: images)
    }

    /// Pulls one image by the digest its tag had, named as the set names it. A platform
    /// filter narrows an index; a single image is taken as it is.
    private func pull(_ target: Target, digest: Digest, into layout: Layout) async throws -> Descriptor {
        var puller = RegistryPuller(layout: layout, session: session, progress: progress)
        puller.referrers = target.repository.referrers ? .all : .none
        puller.singleImagesPassPlatformFilter = true
        let reference = RegistryReference(host: target.host, repository: target.repository.name, tag: target.tag, digest: digest)
        return try await puller.pull(reference, name: target.name, platforms: target.repository.platforms, keepName: target.name != nil).entry
    }
}
