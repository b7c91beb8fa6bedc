import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import StowageModel

/// A manifest or index as a registry served it.
public struct FetchedManifest: Sendable {
    /// The exact bytes.
    public var bytes: [UInt8]
    /// The media type from `Content-Type` (or the document's own `mediaType`).
    public var mediaType: MediaType
    /// The digest of the bytes.
    public var digest: Digest
}

extension RegistryClient {
    static let manifestAccept = [
        MediaType.ociIndex, .ociManifest, .dockerManifestList, .dockerManifest, .ociArtifactManifest,
    ].map(\.rawValue).joined(separator: ", ")

    /// The digest the registry has for a tag or digest, or nil if it has none.
    public func manifestDigest(_ repository: String, reference: String) async throws -> Digest? {
        try await withRetries { _ in
            let request = Request(
                method: .HEAD, url: "/v2/\(repository)/manifests/\(reference)", headers: [("Accept", Self.manifestAccept)],
                scope: [(repository, "pull")], what: "manifest \(repository):\(reference)")
            let response = try await send(request)
            if response.status == .notFound { return nil }
            try await check(response, request, expected: [200])
            return response.headers.first(name: "Docker-Content-Digest").flatMap { try? Digest($0) }
        }
    }

    /// Fetches a manifest or index; the bytes are checked against the digest asked for
    /// (or the one the registry states) and never re-encoded.
    public func fetchManifest(_ repository: String, reference: String, expected: Digest? = nil) async throws -> FetchedManifest {
        try await withRetries { _ in
            let request = Request(
                method: .GET, url: "/v2/\(repository)/manifests/\(reference)", headers: [("Accept", Self.manifestAccept)],
                scope: [(repository, "pull")], what: "manifest \(repository):\(reference)")
            let response = try await send(request)
            try await check(response, request, expected: [200])
            let body: ByteBuffer
            do {
                body = try await collect(response, upTo: ContentDocument.maxSize, what: request.what)
            } catch is NIOTooManyBytesError {
                throw StowageError(.registry, "registry \(host): \(request.what) is larger than 16 MiB, the most Stowage reads for a manifest")
            } catch let failure as RetryableFailure {
                throw failure
            } catch {
                throw RetryableFailure(error: networkError(error, doing: "download of \(request.what)", url: host))
            }
            let bytes = Array(buffer: body)
            let digest = ContentHasher.digest(of: bytes)
            if let claimed = (try? Digest(reference)) ?? expected, claimed != digest {
                throw StowageError(.digestMismatch, "registry \(host) served \(request.what) with digest \(digest), not \(claimed)")
            }
            if let stated = response.headers.first(name: "Docker-Content-Digest"), stated != digest.string {
                throw StowageError(.digestMismatch, "registry \(host) served \(request.what) whose bytes hash to \(digest), not the \(stated) it states")
            }
            var mediaType = response.headers.first(name: "Content-Type").map { MediaType(String($0.split(separator: ";")[0])) }
            if mediaType == nil || !(mediaType!.isIndex || mediaType!.isManifest) {
                mediaType = (try? MediaType(ofDocument: bytes, what: request.what)).flatMap { $0 } ?? mediaType
            }
            guard let mediaType else {
                throw StowageError(.registry, "registry \(host) served \(request.what) without a media type")
            }
            return FetchedManifest(bytes: bytes, mediaType: mediaType, digest: digest)
        }
    }

    /// PUTs a manifest's exact bytes under a tag or its digest, and checks the digest the registry reports.
    public func putManifest(_ bytes: [UInt8], mediaType: MediaType, digest: Digest, to repository: String, reference: String) async throws {
        _ = try await putManifestReportingSubject(bytes, mediaType: mediaType, digest: digest, to: repository, reference: reference)
    }
}
