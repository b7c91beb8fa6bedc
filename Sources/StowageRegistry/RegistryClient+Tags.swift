import AsyncHTTPClient
import NIOCore
import StowageModel

extension RegistryClient {
    /// The most pages of a tag list Stowage follows.
    static let maxTagPages = 1000

    /// Every tag of `repository` (`GET /v2/<name>/tags/list`), following `Link: <…>; rel="next"`
    /// pages; sorted and without repeats. A repository the registry does not have fails
    /// with `.notFound`.
    public func listTags(_ repository: String) async throws -> [String] {
        var url = "/v2/\(repository)/tags/list?n=\(max(1, options.tagPageSize))"
        var tags = Set<String>()
        for _ in 0..<Self.maxTagPages {
            let (page, next): ([String], String?) = try await withRetries { _ in
                let request = Request(
                    method: .GET, url: url, headers: [("Accept", "application/json")],
                    scope: [(repository, "pull")], what: "tags of \(repository)")
                let response = try await send(request)
                if response.status == .notFound {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    throw StowageError(.notFound, "registry \(host) has no repository \(repository)")
                }
                try await check(response, request, expected: [200])
                let body: ByteBuffer
                do {
                    body = try await response.body.collect(upTo: 16 << 20)
                } catch {
                    throw StowageError(.registry, "registry \(host): a page of \(request.what) is larger than 16 MiB or broke off", cause: "\(error)")
                }
                let listing = try JSONCoding.decode(TagList.self, from: Array(buffer: body), what: "registry \(host): \(request.what)")
                return (listing.tags ?? [], response.headers.first(name: "Link").flatMap(Self.nextLink))
            }
            tags.formUnion(page)
            guard let next else { return tags.sorted() }
            url = next
        }
        throw StowageError(.registry, "registry \(host): the tags of \(repository) run to more than \(Self.maxTagPages) pages")
    }
}

/// The body of `GET /v2/<name>/tags/list`; `tags` is null for a repository without tags.
private struct TagList: Decodable {
    var tags: [String]?
}
