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
