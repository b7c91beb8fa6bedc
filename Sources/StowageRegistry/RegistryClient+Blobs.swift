import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import StowageModel

/// How a blob reached the registry.
public enum BlobTransfer: Sendable, Equatable {
    /// The registry had it already.
    case present
    /// Mounted from another repository of the same registry, without sending bytes.
    case mounted(from: String)
    /// Sent.
    case uploaded
}

extension RegistryClient {
    /// The size of a blob in a repository, or nil if the registry does not have it there.
    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        try await withRetries { _ in
            let request = Request(
                method: .HEAD, url: "/v2/\(repository)/blobs/\(digest)", scope: [(repository, "pull")],
                what: "blob \(digest) of \(repository)")
            let response = try await send(request)
            if response.status == .notFound { return nil }
            try await check(response, request, expected: [200])
            return response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0
        }
    }

    /// Sends the blob stored at `path` unless the repository has it: mounted from
    /// `mountFrom` when given, else uploaded (in chunks above `chunkSize`).
    public func pushBlob(
        _ digest: Digest, size: Int64, from path: String, to repository: String, mountFrom: String? = nil,
        onBytes: (@Sendable (Int) -> Void)? = nil
    ) async throws -> BlobTransfer {
        try await pushBlob(digest, size: size, content: .file(path), to: repository, mountFrom: mountFrom, onBytes: onBytes)
    }

    /// Sends a blob unless the repository has it (one HEAD): mounted from `mountFrom`
    /// when given, else uploaded from `content` (in chunks above `chunkSize`).
    public func pushBlob(
        _ digest: Digest, size: Int64, content: BlobContent, to repository: String, mountFrom: String? = nil,
        onBytes: (@Sendable (Int) -> Void)? = nil
    ) async throws -> BlobTransfer {
        if try await blobSize(digest, in: repository) != nil { return .present }
        return try await withRetries { attempt in
            // A retry may follow a response lost after the registry stored the blob.
            if attempt > 0, try await blobSize(digest, in: repository) != nil { return .uploaded }
            var location: String
            if let source = mountFrom, source != repository, attempt == 0 {
                let request = Request(
                    method: .POST, url: "/v2/\(repository)/blobs/uploads/?mount=\(digest)&from=\(source)",
                    scope: [(repository, "pull,push"), (source, "pull")], what: "mount of blob \(digest) into \(repository)")
                let response = try await send(request)
                if response.status == .created {
                    _ = try? await collect(response, upTo: 1 << 16, what: request.what)
                    return .mounted(from: source)
                }
                try await check(response, request, expected: [202])
                location = try uploadLocation(response, request)
            } else {
                location = try await startUpload(repository, digest: digest)
            }
            if size > options.chunkSize {
                let (last, resumed) = try await sendChunks(
                    content, size: size, digest: digest, repository: repository, location: location, onBytes: onBytes)
                try await finishUpload(last, digest: digest, repository: repository, body: .empty, resumed: resumed)
            } else {
                try await finishUpload(
                    location, digest: digest, repository: repository,
                    body: content.body(offset: 0, length: size, onBytes: onBytes))
            }
            return .uploaded
        }
    }

    private func startUpload(_ repository: String, digest: Digest) async throws -> String {
        let request = Request(
            method: .POST, url: "/v2/\(repository)/blobs/uploads/", scope: [(repository, "pull,push")],
            what: "upload of blob \(digest) to \(repository)")
        let response = try await send(request)
        try await check(response, request, expected: [202])
        return try uploadLocation(response, request)
    }

    private func uploadLocation(_ response: HTTPClientResponse, _ request: Request) throws -> String {
        guard let location = response.headers.first(name: "Location"), !location.isEmpty else {
            throw StowageError(.registry, "registry \(host): \(request.what) got no upload Location")
        }
        return location
    }

    /// PATCHes the blob in chunks; after a broken connection, asks the registry how much
    /// it has and resumes from there. Returns the Location for the final PUT.
    private func sendChunks(
        _ content: BlobContent, size: Int64, digest: Digest, repository: String, location start: String,
        onBytes: (@Sendable (Int) -> Void)?
    ) async throws -> (location: String, resumed: Bool) {
        var location = start
        var offset: Int64 = 0
        var resumes = 0
        var acknowledged = false
        let what = "upload of blob \(digest) to \(repository)"
        while offset < size {
            let length = Swift.min(options.chunkSize, size - offset)
            let request = Request(
                method: .PATCH, url: location,
                headers: [("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + length - 1)")],
                body: content.body(offset: offset, length: length, onBytes: onBytes),
                scope: [(repository, "pull,push")], what: what)
            do {
                let response = try await send(request)
                try await checkUpload(response, request, expected: [202, 204], resumed: resumes > 0)
                location = (try? uploadLocation(response, request)) ?? location
                offset += length
                acknowledged = true
            } catch let failure as RetryableFailure {
                guard resumes < options.retryTimes else { throw failure }
                resumes += 1
                try await Task.sleep(nanoseconds: UInt64(options.retryDelay * 1_000_000_000))
                // Resume from what the registry reports; if it cannot say, start the blob over.
                let status = Request(method: .GET, url: location, scope: [(repository, "pull,push")], what: what)
                let response = try await send(status)
                do {
                    try await check(response, status, expected: [204])
                } catch let refused as StowageError {
                    // The registry cannot resume this session (distribution drops it after a
                    // broken PATCH): start the blob over in a new session.
                    throw RetryableFailure(error: refused)
                }
                location = (try? uploadLocation(response, status)) ?? location
                offset = Self.uploadedBytes(response.headers.first(name: "Range"), anythingAcknowledged: acknowledged)
                guard offset <= size else {
                    throw RetryableFailure(error: StowageError(
                        .registry, "registry \(host): \(what) reports \(offset) bytes stored, more than the blob's \(size)"))
                }
            }
        }
        return (location, resumes > 0)
    }

    /// The bytes an upload session holds, from its `Range` header: `0-N` means N+1 bytes.
    /// distribution answers `0-0` for an empty session too, so `0-0` means nothing
    /// stored until a chunk has been acknowledged. A wrong guess is caught by the
    /// registry (416, or a digest mismatch at the end), and the blob then starts over.
    static func uploadedBytes(_ range: String?, anythingAcknowledged: Bool) -> Int64 {
        guard let range, let dash = range.lastIndex(of: "-"), let end = Int64(range[range.index(after: dash)...]) else { return 0 }
        if end == 0 && !anythingAcknowledged { return 0 }
        return end + 1
    }

    /// The registry error codes that mean a resumed upload session cannot be finished,
    /// so the blob must start over in a new one.
    static let restartCodes = ["DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"]

    /// `check` for upload requests: after a resume, a refusal that means the session is
    /// unusable (416, or one of `restartCodes`) starts the blob over (a bounded retry).
    func checkUpload(_ response: HTTPClientResponse, _ request: Request, expected: Set<UInt>, resumed: Bool) async throws {
        do {
            try await check(response, request, expected: expected)
        } catch let error as StowageError where resumed {
            if response.status.code == 416 || Self.restartCodes.contains(where: { error.message.contains($0) }) {
                throw RetryableFailure(error: error)
            }
            throw error
        }
    }

    private func finishUpload(_ location: String, digest: Digest, repository: String, body: Body, resumed: Bool = false) async throws {
        let separator = location.contains("?") ? "&" : "?"
        var headers = [("Content-Type", "application/octet-stream")]
        if case .empty = body { headers = [] }
        let request = Request(
            method: .PUT, url: "\(location)\(separator)digest=\(digest)", headers: headers, body: body,
            scope: [(repository, "pull,push")], what: "upload of blob \(digest) to \(repository)")
        let response = try await send(request)
        try await checkUpload(response, request, expected: [201, 204], resumed: resumed)
        if let answered = response.headers.first(name: "Docker-Content-Digest"), answered != digest.string {
            throw StowageError(.digestMismatch, "registry \(host) stored blob \(digest) of \(repository) as \(answered)")
        }
    }

    /// Streams a blob to `body`, chunk by chunk, following redirects to blob storage.
    /// `restart` runs before every attempt, so a retried download starts a fresh sink.
    public func fetchBlob(
        _ digest: Digest, from repository: String, restart: () async throws -> Void = {},
        _ body: (ByteBuffer) async throws -> Void
    ) async throws {
        try await withRetries { _ in
            try await restart()
            let request = Request(
                method: .GET, url: "/v2/\(repository)/blobs/\(digest)", scope: [(repository, "pull")],
                what: "blob \(digest) of \(repository)")
            let response = try await send(request)
            try await check(response, request, expected: [200])
            do {
                for try await chunk in response.body { try await body(chunk) }
            } catch let error as StowageError {
                throw error
            } catch {
                throw RetryableFailure(error: networkError(error, doing: "download of \(request.what)", url: host))
            }
        }
    }
}
