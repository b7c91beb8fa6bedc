import Foundation

/// Bearer tokens kept per scope until shortly before they expire, so a push of
/// many blobs fetches one token per repository, not one per request.
actor TokenCache {
    private struct Entry {
        var token: String
        var expires: Date
    }

    private var tokens: [String: Entry] = [:]
    /// How many tokens were fetched, for tests and summaries.
    private(set) var fetches = 0

    /// A token for `scope` that is still valid for at least `margin` seconds.
    func token(for scope: String, margin: TimeInterval = 10) -> String? {
        guard let entry = tokens[scope], entry.expires.timeIntervalSinceNow > margin else { return nil }
        return entry.token
    }

    /// Remembers a token; `lifetime` defaults to 60 s as the token spec says.
    func store(_ token: String, for scope: String, lifetime: TimeInterval?) {
        fetches += 1
        tokens[scope] = Entry(token: token, expires: Date().addingTimeInterval(max(lifetime ?? 60, 1)))
    }

    /// Forgets a token the registry refused.
    func invalidate(_ scope: String) {
        tokens[scope] = nil
    }
}
