import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import StowageModel

/// What a registry says refers to a digest, and how it was asked.
public struct ReferrerListing: Sendable {
    /// The referrers' descriptors (manifests, each with its `artifactType`).
    public var descriptors: [Descriptor]
    /// Whether they came from the Referrers API (`/v2/<name>/referrers/<digest>`);
    /// false for the fallback tag `sha256-<hex>`.
    public var fromReferrersAPI: Bool
    /// How many requests finding them took (pages included).
    public var requests: Int
}

extension RegistryClient {
    /// The referrers of `digest` in `repository`, from the Referrers API, following
    /// `Link: <…>; rel="next"` pages and asking for `artifactType` when given (a
    /// registry that does not filter is filtered here). Nil when the registry answers
    /// 404: it has no Referrers API, and the fallback tag scheme applies.
    public func referrersFromAPI(_ repository: String, of digest: Digest, artifactType: String? = nil) async throws -> ReferrerListing? {
        var url = "/v2/\(repository)/referrers/\(digest)"
        if let artifactType { url += "?artifactType=\(Self.queryEscaped(artifactType))" }
        var descriptors: [Descriptor] = []
        var requests = 0
        var pages = 0
        while true {
            pages += 1
            guard pages <= 1000 else {
                throw StowageError(.registry, "registry \(host): the referrers of \(digest) in \(repository) run to more than 1000 pages")
            }
            let (page, next): (Index?, String?) = try await withRetries { _ in
                let request = Request(
                    method: .GET, url: url, headers: [("Accept", MediaType.ociIndex.rawValue)],
                    scope: [(repository, "pull")], what: "referrers of \(digest) in \(repository)")
                let response = try await send(request)
                if response.status == .notFound {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    return (nil, nil)
                }
                try await check(response, request, expected: [200])
                let body: ByteBuffer
                do {
                    body = try await response.body.collect(upTo: 16 << 20)
                } catch {
                    throw StowageError(.registry, "registry \(host): \(request.what) is larger than 16 MiB or broke off", cause: "\(error)")
                }
                let index = try JSONCoding.decode(Index.self, from: Array(buffer: body), what: "registry \(host): \(request.what)")
                return (index, response.headers.first(name: "Link").flatMap(Self.nextLink))
            }
            requests += 1
            guard let page else {
                // A 404 on the first page: no API. Later pages should not vanish.
                if requests == 1 { return nil }
                throw StowageError(.registry, "registry \(host): a page of the referrers of \(digest) in \(repository) answered 404")
            }
            descriptors += page.manifests
            guard let next else { break }
            url = next
        }
        if let artifactType { descriptors = descriptors.filter { $0.artifactType == artifactType } }
        return ReferrerListing(descriptors: descriptors, fromReferrersAPI: true, requests: requests)
    }

    /// The target of `Link: <URL>; rel="next"`, if the header has one.
    static func nextLink(_ header: String) -> String? {
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";").map { String($0).strippingSpaces }
            guard let target = fields.first, target.hasPrefix("<"), target.hasSuffix(">"),
                fields.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == #"rel="next""# || $0 == "rel=next" })
            else { continue }
            return String(target.dropFirst().dropLast())
        }
        return nil
    }

    /// PUTs a manifest's exact bytes like `putManifest`, and says whether the registry
    /// answered with an `OCI-Subject` header: a registry that stores a manifest with a
    /// `subject` and does not send it has no Referrers API, so the fallback tag must be kept.
    public func putManifestReportingSubject(
        _ bytes: [UInt8], mediaType: MediaType, digest: Digest, to repository: String, reference: String
    ) async throws -> Bool {
        try await withRetries { _ in
            let request = Request(
                method: .PUT, url: "/v2/\(repository)/manifests/\(reference)", headers: [("Content-Type", mediaType.rawValue)],
                body: .bytes(bytes), scope: [(repository, "pull,push")], what: "manifest \(repository):\(reference)")
            let response = try await send(request)
            try await check(response, request, expected: [201, 200])
            _ = try? await response.body.collect(upTo: 1 << 20)
            if let answered = response.headers.first(name: "Docker-Content-Digest"), answered != digest.string {
                throw StowageError(.digestMismatch, "registry \(host) stored \(request.what) as \(answered), not \(digest)")
            }
            return response.headers.first(name: "OCI-Subject") != nil
        }
    }

    /// Percent-escapes a query value (media types hold `+` and `/`).
    static func queryEscaped(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isLetter && byte < 128 || c.isNumber && byte < 128 || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded
            }
        }
        return out
    }
}

extension String {
    fileprivate var leftPadded: String { count == 1 ? "0" + self : self }

    fileprivate var strippingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
