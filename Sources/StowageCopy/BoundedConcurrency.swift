/// Runs `body` for each element, at most `limit` at a time; the first error
/// cancels the rest and is thrown.
func forEachConcurrently<Element: Sendable>(
    _ elements: [Element], limit: Int, _ body: @escaping @Sendable (Element) async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var running = 0
        for element in elements {
            if running >= max(1, limit) {
                try await group.next()
                running -= 1
            }
            running += 1
            group.addTask { try await body(element) }
        }
        try await group.waitForAll()
    }
}

/// The results of `body` for each element, in the elements' order, at most `limit` at a time.
func mapConcurrently<Element: Sendable, Value: Sendable>(
    _ elements: [Element], limit: Int, _ body: @escaping @Sendable (Element) async -> Value
) async -> [Value] {
    await withTaskGroup(of: (Int, Value).self) { group in
        var results = [Value?](repeating: nil, count: elements.count)
        var running = 0
        for (position, element) in elements.enumerated() {
            if running >= max(1, limit), let (done, value) = await group.next() {
                results[done] = value
                running -= 1
            }
            running += 1
            group.addTask { (position, await body(element)) }
        }
        for await (done, value) in group { results[done] = value }
        return results.map { $0! }
    }
}
