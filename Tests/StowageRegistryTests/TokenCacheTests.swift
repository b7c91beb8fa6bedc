import Foundation
import Testing

@testable import StowageRegistry

@Suite("Token cache")
struct TokenCacheTests {
    @Test func emptyCacheHasNothing() async {
        let cache = TokenCache()
        #expect(await cache.token(for: "repository:team/app:pull") == nil)
        #expect(await cache.fetches == 0)
    }

    @Test func storeThenLookUp() async {
        let cache = TokenCache()
        await cache.store("tok-1", for: "repository:team/app:pull", lifetime: 300)
        #expect(await cache.token(for: "repository:team/app:pull") == "tok-1")
        #expect(await cache.fetches == 1)
    }

    @Test func scopesAreSeparate() async {
        let cache = TokenCache()
        await cache.store("pull", for: "repository:team/app:pull", lifetime: 300)
        await cache.store("push", for: "repository:team/app:pull,push", lifetime: 300)
        #expect(await cache.token(for: "repository:team/app:pull") == "pull")
        #expect(await cache.token(for: "repository:team/app:pull,push") == "push")
        #expect(await cache.token(for: "repository:other:pull") == nil)
    }

    @Test func aNewTokenReplacesTheOldOneAndCountsAsAFetch() async {
        let cache = TokenCache()
        await cache.store("old", for: "s", lifetime: 300)
        await cache.store("new", for: "s", lifetime: 300)
        #expect(await cache.token(for: "s") == "new")
        #expect(await cache.fetches == 2)
    }

    @Test func lookupsDoNotCountAsFetches() async {
        let cache = TokenCache()
        await cache.store("t", for: "s", lifetime: 300)
        for _ in 0..<5 { _ = await cache.token(for: "s") }
        _ = await cache.token(for: "missing")
        #expect(await cache.fetches == 1)
    }

    @Test func aTokenExpiringWithinTheMarginIsNotReturned() async {
        let cache = TokenCache()
        // Valid for 5 s: inside the default 10 s margin.
        await cache.store("short", for: "s", lifetime: 5)
        #expect(await cache.token(for: "s") == nil)
        #expect(await cache.token(for: "s", margin: 0) == "short")
        #expect(await cache.token(for: "s", margin: 4) == "short")
        #expect(await cache.token(for: "s", margin: 6) == nil)
    }

    @Test func defaultLifetimeIsSixtySeconds() async {
        let cache = TokenCache()
        await cache.store("t", for: "s", lifetime: nil)
        #expect(await cache.token(for: "s") == "t")
        #expect(await cache.token(for: "s", margin: 58) == "t")
        #expect(await cache.token(for: "s", margin: 61) == nil)
    }

    @Test(arguments: [0.0, -100.0])
    func lifetimeIsAtLeastOneSecond(lifetime: Double) async {
        let cache = TokenCache()
        await cache.store("t", for: "s", lifetime: lifetime)
        #expect(await cache.token(for: "s", margin: 0) == "t")
        #expect(await cache.token(for: "s", margin: 1.5) == nil)
    }

    @Test func tokensExpireWithTime() async throws {
        let cache = TokenCache()
        await cache.store("t", for: "s", lifetime: 1)
        #expect(await cache.token(for: "s", margin: 0) == "t")
        try await Task.sleep(nanoseconds: 1_200_000_000)
        #expect(await cache.token(for: "s", margin: 0) == nil)
    }

    @Test func invalidateForgetsOnlyThatScope() async {
        let cache = TokenCache()
        await cache.store("a", for: "scope-a", lifetime: 300)
        await cache.store("b", for: "scope-b", lifetime: 300)
        await cache.invalidate("scope-a")
        #expect(await cache.token(for: "scope-a") == nil)
        #expect(await cache.token(for: "scope-b") == "b")
        // Invalidating does not undo the count, and a missing scope is fine.
        await cache.invalidate("never-stored")
        #expect(await cache.fetches == 2)
    }

    @Test func concurrentStoresAreAllCounted() async {
        let cache = TokenCache()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask { await cache.store("t\(i)", for: "scope-\(i % 5)", lifetime: 300) }
            }
        }
        #expect(await cache.fetches == 50)
        for i in 0..<5 { #expect(await cache.token(for: "scope-\(i)") != nil) }
    }
}
