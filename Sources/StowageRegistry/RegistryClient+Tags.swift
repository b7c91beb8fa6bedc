import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import StowageModel

extension RegistryClient {
    /// The tags of `repository` (`GET /v2/<name>/tags/list`), following
    /// `Link: <…>; rel="next"` pages, in the order the registry gives them. A
    /// repository the registry does not know is an error; one without tags gives none.
    /// Each page asks for `RegistryOptions.tagPageSize` tags; a tag listed twice counts once.
    public func listTags(_ repository: String) async throws -> [String] {
        var url = "/v2/\(repository)/tags/list?n=\(max(1, options.tagPageSize))"
        var tags: [String] = []
        var seen = Set<String>()
        var pages = 0
        while true {
            pages += 1
            guard pages <= 10_000 else {
                throw StowageError(.registry, "registry \(host): the tags of \(repository) run to more than 10000 pages")
            }
            let (page, next): (TagList, String?) = try await withRetries { _ in
                let request = Request(
                    method: .GET, url: url, headers: [("Accept", "application/json")],
                    scope: [(repository, "pull")], what: "the tags of \(repository)")
                let response = try await send(request)
                if response.status == .notFound {
                    _ = try? await collect(response, upTo: 1 << 20, what: request.what)
                    throw StowageError(.notFound, "registry \(host) has no repository \(repository) (404 for its tags)")
                }
                try await check(response, request, expected: [200])
                let body: ByteBuffer
                do {
                    body = try await collect(response, upTo: 64 << 20, what: request.what)
                } catch let failure as RetryableFailure {
                    throw failure
                } catch {
                    throw StowageError(.registry, "registry \(host): \(request.what) is larger than 64 MiB or broke off", cause: "\(error)")
                }
                let list = try JSONCoding.decode(TagList.self, from: Array(buffer: body), what: "registry \(host): \(request.what)")
                return (list, response.headers.first(name: "Link").flatMap(Self.nextLink))
            }
            for tag in page.tags ?? [] {
                guard Reference.isValidTag(tag) else {
                    throw StowageError(.registry, "registry \(host) lists a tag '\(Digest.printable(tag))' of \(repository), which is not a valid tag")
                }
                if seen.insert(tag).inserted { tags.append(tag) }
            }
            guard let next else { break }
            url = next
        }
        return tags
    }
}

/// The body of `GET /v2/<name>/tags/list`.
private struct TagList: Decodable {
    var name: String?
    var tags: [String]?
}
