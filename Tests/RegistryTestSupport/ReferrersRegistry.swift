import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small in-process registry for what Debian's `docker-registry` (distribution 2.8)
/// cannot do: the OCI 1.1 Referrers API. It serves, from memory, the distribution spec's
/// `GET /v2/`, `HEAD`/`GET` of manifests (by tag or digest) and blobs, uploads (`POST`,
/// `PATCH`, `PUT …?digest=`, mounts), manifest `PUT` (answering `OCI-Subject` for a
/// manifest with a `subject`, as registries with the API do), and
/// `GET /v2/<name>/referrers/<digest>`, with `artifactType` filtering and paging through
/// `Link: <…>; rel="next"` (`pageSize` descriptors a page), and `GET /v2/<name>/tags/list`,
/// paged the same way (`pageSize` tags a page, `?last=`). With `referrersAPI = false`
/// that endpoint answers 404 and no `OCI-Subject` is sent, as registries without it do.
///
/// Content is put in by clients or with `putManifest` and `putBlob`; no authentication. Every request
/// is recorded (`requests`), so tests can count what a client asked. Listens on
/// 127.0.0.1 on a port of its own from `init` until `stop()` (or release).
public final class ReferrersRegistry: @unchecked Sendable {
    /// One request answered.
    public struct Request: Sendable, Equatable {
        /// `GET`, `HEAD`, …
        public var method: String
        /// The path and query.
        public var uri: String
        /// The status answered.
        public var status: Int
    }

    struct Stored {
        var bytes: [UInt8]
        var mediaType: String
    }

    struct State {
        var manifests: [String: [String: Stored]] = [:]
        var tags: [String: [String: String]] = [:]
        var blobs: [String: [UInt8]] = [:]
        var uploads: [String: [UInt8]] = [:]
        var log: [Request] = []
        var referrersAPI = true
        var filtersArtifactType = true
        var pageSize = 100
        var stopped = false
    }

    private let state = Locked(State())
    private let channel: Channel
    private let connections = Locked<[ObjectIdentifier: Channel]>([:])
    /// The port it listens on.
    public let port: Int

    /// Starts listening on a free loopback port.
    public init() throws {
        let connections = self.connections
        let owner = Weak<ReferrersRegistry>()
        channel = try startHTTPServer(connections: connections) { ReferrersRegistryHandler(owner: owner) }
        port = channel.localAddress?.port ?? 0
        owner.set(self)
    }

    deinit { shutDown(wait: false) }

    /// Stops listening and closes open connections.
    public func stop() { shutDown(wait: true) }

    private func shutDown(wait: Bool) {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        let closing = channel.close()
        for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        if wait { try? closing.wait() }
    }

    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }

    /// Whether `GET /v2/<name>/referrers/<digest>` exists (else 404).
    public var referrersAPI: Bool {
        get { state.withLock { $0.referrersAPI } }
        set { state.withLock { $0.referrersAPI = newValue } }
    }

    /// Whether the Referrers API honours `?artifactType=` (some registries ignore it).
    public var filtersArtifactType: Bool {
        get { state.withLock { $0.filtersArtifactType } }
        set { state.withLock { $0.filtersArtifactType = newValue } }
    }

    /// Descriptors per page of the Referrers API.
    public var pageSize: Int {
        get { state.withLock { $0.pageSize } }
        set { state.withLock { $0.pageSize = max(1, newValue) } }
    }

    /// Every request answered so far, in order.
    public var requests: [Request] { state.withLock { $0.log } }

    /// Forgets the recorded requests.
    public func resetRequests() { state.withLock { $0.log.removeAll() } }

    /// Stores a manifest in `repository`, under its digest and, when given, `tag`.
    public func putManifest(_ bytes: [UInt8], mediaType: String, repository: String, tag: String? = nil) {
        let digest = Self.digest(bytes)
        state.withLock { state in
            state.manifests[repository, default: [:]][digest] = Stored(bytes: bytes, mediaType: mediaType)
            if let tag { state.tags[repository, default: [:]][tag] = digest }
        }
    }

    /// Stores a blob (any repository may read it).
    public func putBlob(_ bytes: [UInt8]) {
        state.withLock { $0.blobs[Self.digest(bytes)] = bytes }
    }

    static func digest(_ bytes: [UInt8]) -> String {
        "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    struct Reply {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
    }

    func answer(method: String, uri: String, headers: HTTPHeaders = [:], body: [UInt8] = []) -> Reply {
        let reply = route(method: method, uri: uri, headers: headers, body: body)
        state.withLock { $0.log.append(Request(method: method, uri: uri, status: reply.status)) }
        return reply
    }

    private func route(method: String, uri: String, headers: HTTPHeaders, body: [UInt8]) -> Reply {
        let components = URLComponents(string: uri)
        let path = components?.path ?? uri
        let query = Dictionary(
            (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
        if path == "/v2/" || path == "/v2" { return Reply(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8)) }
        guard path.hasPrefix("/v2/") else { return Reply(status: 404) }
        let rest = String(path.dropFirst(4))
        if let range = rest.range(of: "/blobs/uploads", options: .backwards) {
            let repository = String(rest[..<range.lowerBound])
            let id = String(rest[range.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            return upload(method: method, repository: repository, id: id, query: query, body: body)
        }
        if method == "PUT", let range = rest.range(of: "/manifests/", options: .backwards) {
            let mediaType = headers.first(name: "Content-Type") ?? "application/vnd.oci.image.manifest.v1+json"
            return storeManifest(body, mediaType: mediaType, repository: String(rest[..<range.lowerBound]), reference: String(rest[range.upperBound...]))
        }
        if method == "GET", rest.hasSuffix("/tags/list") {
            return tagList(repository: String(rest.dropLast("/tags/list".count)), query: query)
        }
        for kind in ["manifests", "blobs", "referrers"] {
            guard let range = rest.range(of: "/\(kind)/", options: .backwards) else { continue }
            let repository = String(rest[..<range.lowerBound])
            let reference = String(rest[range.upperBound...])
            switch kind {
            case "manifests": return manifest(method: method, repository: repository, reference: reference)
            case "blobs": return blob(method: method, digest: reference)
            default: return referrers(repository: repository, subject: reference, query: query)
            }
        }
        return Reply(status: 404)
    }

    private func upload(method: String, repository: String, id: String, query: [String: String], body: [UInt8]) -> Reply {
        switch method {
        case "POST":
            if let mount = query["mount"], state.withLock({ $0.blobs[mount] != nil }) {
                return Reply(status: 201, headers: [("Location", "/v2/\(repository)/blobs/\(mount)"), ("Docker-Content-Digest", mount)])
            }
            let id = UUID().uuidString.lowercased()
            state.withLock { $0.uploads[id] = [] }
            return Reply(status: 202, headers: [("Location", "/v2/\(repository)/blobs/uploads/\(id)"), ("Range", "0-0")])
        case "PATCH", "PUT":
            guard let size = state.withLock({ state -> Int? in
                guard state.uploads[id] != nil else { return nil }
                state.uploads[id]! += body
                return state.uploads[id]!.count
            }) else { return Reply(status: 404) }
            guard method == "PUT" else {
                return Reply(status: 202, headers: [("Location", "/v2/\(repository)/blobs/uploads/\(id)"), ("Range", "0-\(max(0, size - 1))")])
            }
            let bytes = state.withLock { $0.uploads.removeValue(forKey: id) ?? [] }
            let digest = Self.digest(bytes)
            guard query["digest"] == digest else { return Reply(status: 400) }
            putBlob(bytes)
            return Reply(status: 201, headers: [("Location", "/v2/\(repository)/blobs/\(digest)"), ("Docker-Content-Digest", digest)])
        case "GET":
            guard let size = state.withLock({ $0.uploads[id]?.count }) else { return Reply(status: 404) }
            return Reply(status: 204, headers: [("Location", "/v2/\(repository)/blobs/uploads/\(id)"), ("Range", "0-\(max(0, size - 1))")])
        default:
            return Reply(status: 405)
        }
    }

    private func storeManifest(_ bytes: [UInt8], mediaType: String, repository: String, reference: String) -> Reply {
        let digest = Self.digest(bytes)
        if reference.hasPrefix("sha256:"), reference != digest { return Reply(status: 400) }
        putManifest(bytes, mediaType: mediaType, repository: repository, tag: reference.hasPrefix("sha256:") ? nil : reference)
        var headers = [("Location", "/v2/\(repository)/manifests/\(digest)"), ("Docker-Content-Digest", digest)]
        let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        if referrersAPI, let subject = (object?["subject"] as? [String: Any])?["digest"] as? String {
            headers.append(("OCI-Subject", subject))
        }
        return Reply(status: 201, headers: headers)
    }

    private func manifest(method: String, repository: String, reference: String) -> Reply {
        let found: (String, Stored)? = state.withLock { state in
            let digest = reference.hasPrefix("sha256:") ? reference : state.tags[repository]?[reference]
            guard let digest, let stored = state.manifests[repository]?[digest] else { return nil }
            return (digest, stored)
        }
        guard method == "GET" || method == "HEAD" else { return Reply(status: 405) }
        guard let (digest, stored) = found else {
            return Reply(status: 404, headers: [("Content-Type", "application/json")], body: Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.utf8))
        }
        return Reply(
            status: 200,
            headers: [("Content-Type", stored.mediaType), ("Docker-Content-Digest", digest), ("Content-Length", String(stored.bytes.count))],
            body: method == "HEAD" ? [] : stored.bytes)
    }

    /// The tags of a repository in order, `pageSize` a page, each page after `?last=`.
    private func tagList(repository: String, query: [String: String]) -> Reply {
        let (tags, pageSize) = state.withLock { ($0.tags[repository].map { Array($0.keys).sorted() }, $0.pageSize) }
        guard let tags else {
            return Reply(status: 404, headers: [("Content-Type", "application/json")], body: Array(#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.utf8))
        }
        let after = tags.filter { tag in query["last"].map { tag > $0 } ?? true }
        let page = Array(after.prefix(pageSize))
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if after.count > page.count, let last = page.last {
            headers.append(("Link", "</v2/\(repository)/tags/list?last=\(last)&n=\(pageSize)>; rel=\"next\""))
        }
        let object: [String: Any] = ["name": repository, "tags": page]
        return Reply(status: 200, headers: headers, body: Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()))
    }

    private func blob(method: String, digest: String) -> Reply {
        guard let bytes = state.withLock({ $0.blobs[digest] }) else { return Reply(status: 404) }
        return Reply(
            status: 200,
            headers: [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest), ("Content-Length", String(bytes.count))],
            body: method == "HEAD" ? [] : bytes)
    }

    private func referrers(repository: String, subject: String, query: [String: String]) -> Reply {
        let (enabled, filters, pageSize, stored) = state.withLock { state in
            (state.referrersAPI, state.filtersArtifactType, state.pageSize, state.manifests[repository] ?? [:])
        }
        guard enabled else {
            return Reply(status: 404, headers: [("Content-Type", "text/plain")], body: Array("404 page not found\n".utf8))
        }
        var descriptors: [[String: Any]] = []
        for (digest, manifest) in stored.sorted(by: { $0.key < $1.key }) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(manifest.bytes)) as? [String: Any],
                let subjectObject = object["subject"] as? [String: Any], subjectObject["digest"] as? String == subject
            else { continue }
            var descriptor: [String: Any] = ["mediaType": manifest.mediaType, "digest": digest, "size": manifest.bytes.count]
            let config = object["config"] as? [String: Any]
            if let artifactType = (object["artifactType"] as? String) ?? (config?["mediaType"] as? String) {
                descriptor["artifactType"] = artifactType
            }
            if let annotations = object["annotations"] { descriptor["annotations"] = annotations }
            descriptors.append(descriptor)
        }
        var headers: [(String, String)] = [("Content-Type", "application/vnd.oci.image.index.v1+json")]
        if let wanted = query["artifactType"], filters {
            descriptors = descriptors.filter { $0["artifactType"] as? String == wanted }
            headers.append(("OCI-Filters-Applied", "artifactType"))
        }
        let start = Int(query["page"] ?? "0") ?? 0
        let page = Array(descriptors.dropFirst(start * pageSize).prefix(pageSize))
        if (start + 1) * pageSize < descriptors.count {
            var next = "/v2/\(repository)/referrers/\(subject)?page=\(start + 1)"
            if let wanted = query["artifactType"] {
                next += "&artifactType=\(wanted.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? wanted)"
            }
            headers.append(("Link", "<\(next)>; rel=\"next\""))
        }
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": page]
        let body = Array((try? JSONSerialization.data(withJSONObject: index, options: [.sortedKeys])) ?? Data())
        return Reply(status: 200, headers: headers, body: body)
    }
}

/// One connection of the referrers registry: reads a request and answers it.
final class ReferrersRegistryHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let owner: Weak<ReferrersRegistry>
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(owner: Weak<ReferrersRegistry>) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let part):
            body += Array(buffer: part)
        case .end:
            guard let head else { return }
            self.head = nil
            let reply = owner.value?.answer(method: head.method.rawValue, uri: head.uri, headers: head.headers, body: body) ?? .init(status: 503)
            body = []
            var headers = HTTPHeaders(reply.headers)
            if headers["Content-Length"].isEmpty || head.method != .HEAD {
                headers.replaceOrAdd(name: "Content-Length", value: String(head.method == .HEAD ? Int(headers.first(name: "Content-Length") ?? "0") ?? 0 : reply.body.count))
            }
            writeHTTPReply(context, to: head, status: reply.status, headers: headers, body: ByteBuffer(bytes: reply.body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
