#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import StowageModel

/// Checks a layout's integrity and reports every problem, not only the first:
/// `oci-layout`, `index.json` (schema, unique and valid references), and every
/// descriptor reachable from it (nested indexes, manifests, configs, layers,
/// subjects): the blob exists, is a regular file, has the declared size and
/// hashes to its name. Files under `blobs/` that are not named by a valid
/// digest are listed.
///
/// It takes no lock and writes nothing, so it works on a read-only layout and
/// beside running writers. Blobs are hashed in parallel, each streamed in
/// chunks, never held whole in memory.
public struct LayoutVerifier: Sendable {
    /// The layout directory.
    public let root: String
    /// How many large blobs are hashed at once (default: the machine's cores). Small
    /// ones, whose time goes to opening and reading them, use four times as many threads.
    public var jobs: Int

    private var blobs: BlobStore {
        BlobStore(directory: "\(root)/blobs/sha256", temporaryDirectory: "\(root)/.stowage/tmp")
    }

    /// A verifier for the layout at `root`. Unlike `Layout.open`, a missing or
    /// broken `oci-layout` is a problem to report, not a reason to stop.
    public init(root: String, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.jobs = max(1, jobs)
    }

    /// Runs every check. `fast` skips hashing blobs that are not manifests or
    /// indexes (those are always read, hence hashed, to find what they reference).
    /// With `progress`, the bytes hashed are counted against the size of the blobs to
    /// hash (the documents read first are not counted: they are small).
    /// Throws only when `root` is not a directory at all.
    public func verify(fast: Bool = false, progress: TransferProgress? = nil) throws -> VerifyReport {
        guard FileSystem.isDirectoryFollowingLinks(root) else {
            throw StowageError(.notFound, "layout \(root) does not exist or is not a directory")
        }
        var problems: [VerifyProblem] = []
        var notes: [String] = []
        var warnings: [String] = []
        checkLayoutFile(&problems)
        let index = readIndex(&problems)
        if let index { checkReferences(index, &problems) }

        let graph = ContentGraph.walk(blobs, entries: index?.manifests ?? [], groupedByDigest: true)
        var work: [HashWork] = []
        var blobProblems: [VerifyProblem] = []
        let groups = graph.edgesByDigest
        let reachable = Set(groups.map(\.digest))
        let edgesOf = Dictionary(uniqueKeysWithValues: groups.map { ($0.digest, $0.edges) })
        // The blobs the walk did not read are looked up on several threads: on a cold
        // cache each lookup waits on the disk, and a hundred thousand in a row add up.
        let unread = groups.map(\.digest).filter { graph.documentSizes[$0] == nil }
        let blobs = self.blobs
        let found = parallelMap(unread, width: 8) { digest in BlobStatus.lookUp(blobs.path(of: digest)) }
        let statusOf = Dictionary(uniqueKeysWithValues: zip(unread, found))
        for (digest, edges) in groups {
            checkBlob(
                digest, edges: edges, graph: graph, status: statusOf[digest], hashLater: &work, problems: &blobProblems,
                warnings: &warnings)
        }
        var bytesHashed = graph.documentSizes.values.reduce(0, +)
        if !fast {
            for result in hashInParallel(work, progress: progress) {
                bytesHashed += result.bytes
                let edges = edgesOf[result.digest] ?? []
                switch result.outcome {
                case .success(let actual) where actual != result.digest:
                    blobProblems.append(VerifyProblem(
                        kind: .digestMismatch, blob: result.digest.string, references: Self.roots(edges),
                        path: relative(blobs.path(of: result.digest)),
                        message: "\(Self.describe(edges)) is corrupt: its content hashes to \(actual)"))
                case .success:
                    break
                case .failure(let error):
                    blobProblems.append(VerifyProblem(
                        kind: .missingBlob, blob: result.digest.string, references: Self.roots(edges),
                        path: relative(blobs.path(of: result.digest)),
                        message: "\(Self.describe(edges)) cannot be read: \(error)"))
                }
            }
        }

        // A blob's problems together, blobs in digest order.
        problems += blobProblems.enumerated()
            .sorted { ($0.element.blob ?? "", $0.offset) < ($1.element.blob ?? "", $1.offset) }
            .map(\.element)
        if let index {
            for link in LayoutReferrers(index: index, blobs: blobs, keepRoots: false).links where link.link == .cosignTag {
                if (try? blobs.contains(link.subject)) != true {
                    warnings.append("referrer \(link.entry.refName ?? link.entry.digest.string) (cosign tag) refers to \(link.subject), which is not in the layout; `stowage gc` removes it")
                }
            }
        }
        let unreferenced = listBlobDirectories(reachable: reachable, &problems)
        if unreferenced > 0 {
            notes.append("\(unreferenced) blob\(unreferenced == 1 ? " is" : "s are") not referenced by any image; `stowage gc` removes them")
        }
        return VerifyReport(
            layout: root, clean: problems.isEmpty, images: index?.manifests.count ?? 0,
            references: index?.manifests.filter { $0.refName != nil }.count ?? 0,
            blobsChecked: reachable.count, hashed: !fast, bytesHashed: bytesHashed,
            unreferencedBlobs: unreferenced, problems: problems, notes: notes, warnings: warnings)
    }

    // MARK: - oci-layout and index.json

    private func checkLayoutFile(_ problems: inout [VerifyProblem]) {
        let path = "\(root)/oci-layout"
        func problem(_ message: String) {
            problems.append(VerifyProblem(kind: .layoutFile, path: "oci-layout", message: message))
        }
        guard FileSystem.isRegularFile(path) else {
            problem(FileSystem.exists(path) ? "\(path) is not a regular file" : "\(path) is missing, so \(root) is not an OCI layout")
            return
        }
        do {
            try ImageLayoutFile.check(FileSystem.readFile(path, limit: 64 * 1024), what: path)
        } catch {
            problem("\(error)")
        }
    }

    private func readIndex(_ problems: inout [VerifyProblem]) -> Index? {
        let path = "\(root)/index.json"
        func problem(_ message: String) -> Index? {
            problems.append(VerifyProblem(kind: .index, path: "index.json", message: message))
            return nil
        }
        guard FileSystem.isRegularFile(path) else {
            return problem(FileSystem.exists(path) ? "\(path) is not a regular file" : "\(path) is missing")
        }
        let index: Index
        do {
            index = try FileSystem.readIndex(path, what: path)
        } catch {
            return problem("\(error)")
        }
        if index.schemaVersion != 2 {
            _ = problem("\(path) has schemaVersion \(index.schemaVersion); an image index has schemaVersion 2")
        }
        if let mediaType = index.mediaType, mediaType != .ociIndex {
            _ = problem("\(path) has mediaType \(mediaType); a layout's index.json is an \(MediaType.ociIndex)")
        }
        return index
    }

    private func checkReferences(_ index: Index, _ problems: inout [VerifyProblem]) {
        // Digests only: on an index.json of a hundred thousand names, copies of the entries would cost.
        var entries: [String: [Digest]] = [:]
        var order: [String] = []
        for entry in index.manifests {
            guard let name = entry.refName else { continue }
            if entries[name] == nil { order.append(name) }
            entries[name, default: []].append(entry.digest)
            if (try? RefName(stored: name)) == nil {
                problems.append(VerifyProblem(
                    kind: .invalidReference, blob: entry.digest.string, references: [name], path: "index.json",
                    message: "reference '\(name)' in index.json (on \(entry.digest)) is not a valid org.opencontainers.image.ref.name"))
            }
        }
        for name in order where entries[name]!.count > 1 {
            let digests = entries[name]!.map(\.string)
            problems.append(VerifyProblem(
                kind: .duplicateReference, blob: digests[0], references: [name], path: "index.json",
                message: "reference \(name) appears on \(digests.count) entries of index.json (\(digests.joined(separator: ", "))); a reference must name one image"))
        }
    }

    // MARK: - blobs

    /// Checks one reachable blob's existence, type and size against every descriptor
    /// that points at it; queues it for hashing unless it is a document (already hashed).
    /// What verify needs of a blob file's status.
    private struct BlobStatus: Sendable {
        var isRegularFile: Bool
        var size: Int64
        var inode: UInt64

        init(_ st: stat) {
            isRegularFile = (st.st_mode & S_IFMT) == S_IFREG
            size = Int64(st.st_size)
            inode = UInt64(st.st_ino)
        }

        /// The status of the file at `path` (nil when there is none), or why it cannot be had.
        static func lookUp(_ path: String) -> Result<BlobStatus?, StowageError> {
            Result { try FileSystem.status(path).map(BlobStatus.init) }
                .mapError { $0 as? StowageError ?? StowageError(.io, "\($0)") }
        }
    }

    private func checkBlob(
        _ digest: Digest, edges: [ContentEdge], graph: ContentGraph, status: Result<BlobStatus?, StowageError>?,
        hashLater: inout [HashWork], problems: inout [VerifyProblem], warnings: inout [String]
    ) {
        let path = blobs.path(of: digest)
        let references = Self.roots(edges)
        if let issue = graph.documentIssues[digest] {
            let subjectsOnly = edges.allSatisfy { $0.role == .subject }
            switch issue {
            case .missing where subjectsOnly:
                warnings.append("\(Self.describe(edges)) is not in the layout: the referrer's subject is absent")
                return
            case .missing:
                problems.append(VerifyProblem(
                    kind: .missingBlob, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is missing"))
                return
            case .notRegularFile:
                problems.append(VerifyProblem(
                    kind: .notRegularFile, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is not a regular file"))
                return
            case .corrupt(let actual):
                problems.append(VerifyProblem(
                    kind: .digestMismatch, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is corrupt: its content hashes to \(actual)"))
            case .tooLarge(let size):
                problems.append(VerifyProblem(
                    kind: .invalidDocument, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is \(size) bytes, more than the \(BlobStore.maxDocumentSize) allowed for a manifest or index"))
            case .invalid(let reason), .unreadable(let reason):
                problems.append(VerifyProblem(
                    kind: .invalidDocument, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) cannot be used: \(reason)"))
            case .tooDeep:
                problems.append(VerifyProblem(
                    kind: .invalidDocument, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) nests indexes more than \(ContentGraph.maxDepth) levels deep"))
            case .unwalkable(let mediaType):
                problems.append(VerifyProblem(
                    kind: .invalidDocument, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) has the media type \(mediaType), which Stowage cannot walk, so what it references is unchecked and gc refuses to run"))
            }
        }

        let actualSize: Int64
        if let size = graph.documentSizes[digest] {
            actualSize = size
        } else {
            let st: BlobStatus?
            switch status ?? BlobStatus.lookUp(path) {
            case .success(let found): st = found
            case .failure(let error):
                problems.append(VerifyProblem(
                    kind: .missingBlob, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) cannot be read: \(error)"))
                return
            }
            guard let st else {
                if edges.allSatisfy(\.mayBeAbsent) { return }
                if edges.allSatisfy({ $0.role == .subject }) {
                    warnings.append("\(Self.describe(edges)) is not in the layout: the referrer's subject is absent")
                    return
                }
                problems.append(VerifyProblem(
                    kind: .missingBlob, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is missing"))
                return
            }
            guard st.isRegularFile else {
                problems.append(VerifyProblem(
                    kind: .notRegularFile, blob: digest.string, references: references, path: relative(path),
                    message: "\(Self.describe(edges)) is not a regular file"))
                return
            }
            actualSize = st.size
            hashLater.append(HashWork(digest: digest, size: actualSize, inode: st.inode))
        }

        // One problem per distinct wrong size, naming the first descriptor that declares it.
        var reported = Set<Int64>()
        for edge in edges where edge.descriptor.size != actualSize && reported.insert(edge.descriptor.size).inserted {
            let liars = edges.filter { $0.descriptor.size == edge.descriptor.size }
            problems.append(VerifyProblem(
                kind: .sizeMismatch, blob: digest.string, references: Self.roots(liars), path: relative(path),
                message: "\(Self.describe(liars)) is \(actualSize) bytes, but its descriptor says \(edge.descriptor.size)"))
        }
    }

    /// Lists `blobs/`: counts valid blobs nothing reaches, and reports files that are not
    /// named by a valid sha256 digest and directories for other algorithms.
    private func listBlobDirectories(reachable: Set<Digest>, _ problems: inout [VerifyProblem]) -> Int {
        let blobsRoot = "\(root)/blobs"
        guard FileSystem.isDirectory(blobsRoot), let algorithms = try? FileSystem.listDirectory(blobsRoot) else {
            return 0
        }
        var unreferenced = 0
        for algorithm in algorithms.sorted() {
            let path = "\(blobsRoot)/\(algorithm)"
            guard algorithm == Digest.algorithm else {
                if FileSystem.isDirectory(path) {
                    problems.append(VerifyProblem(
                        kind: .unsupportedAlgorithm, path: relative(path),
                        message: "\(path) holds blobs of the digest algorithm '\(algorithm)', which Stowage does not check; only sha256 is supported"))
                } else {
                    problems.append(VerifyProblem(
                        kind: .strayFile, path: relative(path),
                        message: "\(path) is not a blob: files under blobs/ belong in blobs/sha256/"))
                }
                continue
            }
            guard FileSystem.isDirectory(path) else {
                problems.append(VerifyProblem(
                    kind: .strayFile, path: relative(path), message: "\(path) is not a directory"))
                continue
            }
            let entries: [(name: String, isRegularFile: Bool?)]
            do {
                entries = try FileSystem.listDirectoryWithTypes(path)
            } catch {
                problems.append(VerifyProblem(kind: .strayFile, path: relative(path), message: "\(error)"))
                continue
            }
            // The directory says which entries are regular files; only where it cannot is a
            // file looked at. Problems are reported in name order.
            var found: [(name: String, problem: VerifyProblem)] = []
            for (name, isRegularFile) in entries {
                let file = "\(path)/\(name)"
                guard let digest = Digest(validHex: name) else {
                    found.append((name, VerifyProblem(
                        kind: .strayFile, path: relative(file),
                        message: "\(file) is not named by a valid sha256 digest (64 lowercase hex digits)")))
                    continue
                }
                guard !reachable.contains(digest) else { continue }
                if isRegularFile ?? FileSystem.isRegularFile(file) {
                    unreferenced += 1
                } else {
                    found.append((name, VerifyProblem(
                        kind: .notRegularFile, blob: digest.string, path: relative(file),
                        message: "\(file) is not a regular file")))
                }
            }
            problems += found.sorted { $0.name < $1.name }.map(\.problem)
        }
        return unreferenced
    }

    // MARK: - hashing

    struct HashResult: Sendable {
        var digest: Digest
        var bytes: Int64
        var outcome: Result<Digest, StowageError>
    }

    /// A blob to hash: its size and inode from the `lstat` that checked it.
    struct HashWork: Sendable {
        var digest: Digest
        var size: Int64
        var inode: UInt64
    }

    /// Hashes blobs on `4 × jobs` threads, each with its own `FileHasher`, at most `jobs`
    /// of them on a blob too large to read in one call: those are CPU-bound, while small
    /// blobs mostly wait for the disk when the page cache is cold. Large blobs go
    /// first, largest first, so the threads finish together; the small rest follow in
    /// inode order, which is close to their order on disk. Results come back sorted
    /// by digest, so reports are stable.
    private func hashInParallel(_ work: [HashWork], progress: TransferProgress?) -> [HashResult] {
        let blobs = self.blobs
        progress?.expect(work.reduce(0) { $0 + $1.size }, blobs: work.count)
        let large = work.filter { $0.size > Int64(ChunkPipeline.bufferSize) }.sorted { $0.size > $1.size }
        let small = work.filter { $0.size <= Int64(ChunkPipeline.bufferSize) }.sorted { $0.inode < $1.inode }
        let largeSlots = DispatchSemaphore(value: jobs)
        return parallelMap(large + small, width: jobs * 4, perThread: { FileHasher() }) { hasher, item in
            let isLarge = item.size > Int64(ChunkPipeline.bufferSize)
            if isLarge { largeSlots.wait() }
            defer { if isLarge { largeSlots.signal() } }
            let outcome: Result<Digest, StowageError>
            var bytes: Int64 = 0
            let shown = progress?.begin(item.digest.short, size: item.size)
            defer { shown?.finish() }
            do {
                let (digest, size) = try hasher.hash(file: blobs.path(of: item.digest), progress: shown)
                bytes = size
                outcome = .success(digest)
            } catch let error as StowageError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(StowageError(.io, "cannot read blob \(item.digest)", cause: "\(error)"))
            }
            return HashResult(digest: item.digest, bytes: bytes, outcome: outcome)
        }.sorted { $0.digest < $1.digest }
    }

    // MARK: - messages

    private func relative(_ path: String) -> String {
        path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }

    /// The distinct roots of `edges`, in walk order.
    static func roots(_ edges: [ContentEdge]) -> [String] {
        var seen = Set<String>()
        return edges.map(\.root).filter { seen.insert($0).inserted }
    }

    /// The first edge's summary, plus how many other references lead to the same blob.
    static func describe(_ edges: [ContentEdge]) -> String {
        guard let first = edges.first else { return "blob" }
        let others = roots(edges).count - 1
        guard others > 0 else { return first.summary }
        return "\(first.summary.dropLast()) and \(others) other reference\(others == 1 ? "" : "s"))"
    }
}
