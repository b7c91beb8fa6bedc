import Foundation

/// Maps `items` on `width` threads and returns the results in input order: each
/// thread takes the next item not yet taken, so a slow item holds up only its thread.
///
/// Plain threads, not a width-limited `concurrentPerform`: callers that wait on
/// the disk (reading many small documents) want more threads than cores.
public func parallelMap<Item: Sendable, Output: Sendable>(
    _ items: [Item], width: Int, _ transform: @escaping @Sendable (Item) -> Output
) -> [Output] {
    parallelMap(items, width: width, perThread: {}) { _, item in transform(item) }
}

/// `parallelMap` where each thread first makes its own `State` (a buffer, a hasher)
/// and hands it to every item it transforms, so nothing is made per item.
public func parallelMap<Item: Sendable, State, Output: Sendable>(
    _ items: [Item], width: Int, perThread makeState: @escaping @Sendable () -> State,
    _ transform: @escaping @Sendable (inout State, Item) -> Output
) -> [Output] {
    let work = ParallelWork<Output>(count: items.count)
    let group = DispatchGroup()
    for _ in 0..<min(max(1, width), items.count) {
        group.enter()
        Thread.detachNewThread {
            var state = makeState()
            while let position = work.claim() { work.store(transform(&state, items[position]), at: position) }
            group.leave()
        }
    }
    group.wait()
    return work.results
}

/// The positions still to do and the results so far, shared by the threads of `parallelMap`.
private final class ParallelWork<Output>: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var next = 0
    private var slots: [Output?]

    init(count: Int) {
        self.count = count
        slots = Array(repeating: nil, count: count)
    }

    func claim() -> Int? {
        lock.withLock {
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func store(_ output: Output, at position: Int) {
        lock.withLock { slots[position] = output }
    }

    var results: [Output] { lock.withLock { slots.map { $0! } } }
}
