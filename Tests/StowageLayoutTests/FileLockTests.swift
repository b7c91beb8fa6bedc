import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("FileLock")
struct FileLockTests {
    @Test("two exclusive locks on one path conflict, even in one process; the error names the path and holder")
    func exclusiveConflict() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/index.lock"
        let first = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "first writer")
        let started = Date()
        let error = try #require(stowageError { _ = try FileLock(path: path, mode: .exclusive, timeout: 0.2, purpose: "second writer") })
        #expect(Date().timeIntervalSince(started) >= 0.15, "it waits about the timeout before giving up")
        #expect(error.code == .lockTimeout)
        #expect(error.message.contains(path))
        #expect(error.message.contains("second writer lock"))
        #expect(error.message.contains("held by pid \(getpid())"))
        #expect(error.message.contains("(first writer)"))
        #expect(!error.message.contains("\n"))

        first.unlock()
        let second = try FileLock(path: path, mode: .exclusive, timeout: 0.2, purpose: "second writer")
        #expect(second.path == path)
        second.unlock()
    }

    @Test("the lock file records the exclusive holder")
    func ownerRecord() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/lock"
        let lock = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "tag app:v1")
        defer { lock.unlock() }
        let record = String(decoding: try contents(path), as: UTF8.self)
        #expect(record.hasPrefix("pid \(getpid()) on host "))
        #expect(record.hasSuffix("(tag app:v1)\n"))
    }

    @Test("a lock is released when its FileLock goes away")
    func releasedOnDeinit() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/lock"
        do {
            let held = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "scoped")
            _ = held.path
        }
        let next = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "next")
        next.unlock()
    }

    @Test("unlock twice is harmless")
    func unlockTwice() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let lock = try FileLock(path: "\(dir)/lock", mode: .exclusive, timeout: 0, purpose: "p")
        lock.unlock()
        lock.unlock()
    }

    @Test("a waiting lock is granted once the holder lets go")
    func waitsForRelease() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/lock"
        let holder = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "holder")
        nonisolated(unsafe) let unsafeHolder = holder
        // A plain thread, not a task: the waiter below blocks its thread while it polls.
        let release = Thread {
            usleep(300_000)
            unsafeHolder.unlock()
        }
        let started = Date()
        release.start()
        let waiter = try FileLock(path: path, mode: .exclusive, timeout: 10, purpose: "waiter")
        #expect(Date().timeIntervalSince(started) >= 0.25)
        waiter.unlock()
        while !release.isFinished { usleep(1000) }
    }

    @Test("shared locks coexist")
    func sharedShared() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/gc.lock"
        let a = try FileLock(path: path, mode: .shared, timeout: 0, purpose: "import a")
        let b = try FileLock(path: path, mode: .shared, timeout: 0.2, purpose: "import b")
        a.unlock()
        b.unlock()
    }

    @Test("a shared lock blocks an exclusive one until released")
    func sharedBlocksExclusive() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/gc.lock"
        let reader = try FileLock(path: path, mode: .shared, timeout: 0, purpose: "import")
        let error = try #require(stowageError { _ = try FileLock(path: path, mode: .exclusive, timeout: 0.2, purpose: "gc") })
        #expect(error.code == .lockTimeout)
        #expect(error.message.contains(path))
        reader.unlock()
        let gc = try FileLock(path: path, mode: .exclusive, timeout: 0.2, purpose: "gc")
        gc.unlock()
    }

    @Test("an exclusive lock blocks a shared one")
    func exclusiveBlocksShared() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/gc.lock"
        let gc = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "gc")
        let error = try #require(stowageError { _ = try FileLock(path: path, mode: .shared, timeout: 0.1, purpose: "import") })
        #expect(error.code == .lockTimeout)
        #expect(error.message.contains("held by pid \(getpid())"))
        #expect(error.message.contains("(gc)"))
        gc.unlock()
        let reader = try FileLock(path: path, mode: .shared, timeout: 0.1, purpose: "import")
        reader.unlock()
    }

    @Test("locks on different paths are independent")
    func differentPaths() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let a = try FileLock(path: "\(dir)/a.lock", mode: .exclusive, timeout: 0, purpose: "a")
        let b = try FileLock(path: "\(dir)/b.lock", mode: .exclusive, timeout: 0, purpose: "b")
        a.unlock()
        b.unlock()
    }

    @Test("a lock in a missing directory is an .io error naming the path")
    func missingDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/absent/lock"
        let error = try #require(stowageError { _ = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "p") })
        #expect(error.code == .io)
        #expect(error.message.contains(path))
    }

    @Test("Layout.lockIndex and lockBlobs lock files under .stowage and conflict with other holders")
    func layoutLocks() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layout = try Layout.create(dir)
        let index = try layout.lockIndex(purpose: "test")
        #expect(index.path == "\(dir)/.stowage/index.lock")
        let error = try #require(stowageError { _ = try FileLock(path: index.path, mode: .exclusive, timeout: 0.1, purpose: "other") })
        #expect(error.code == .lockTimeout)
        #expect(error.message.contains("(test)"))
        index.unlock()

        let blobs = try layout.lockBlobs(.shared, purpose: "import")
        #expect(blobs.path == "\(dir)/.stowage/gc.lock")
        let gcError = try #require(stowageError { _ = try FileLock(path: blobs.path, mode: .exclusive, timeout: 0.1, purpose: "gc") })
        #expect(gcError.code == .lockTimeout)
        blobs.unlock()
        #expect(listing(dir) == [".stowage", "blobs", "index.json", "oci-layout"], "locks live only under .stowage")
    }

    @Test("with classic POSIX locks, releasing a nested lock of the same file keeps the outer one")
    func classicLocksSurviveNesting() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        FileLock.forceClassicLocks = true
        defer { FileLock.forceClassicLocks = false }
        let layout = try Layout.create(dir)
        let path = "\(dir)/.stowage/gc.lock"
        let outer = try layout.lockBlobs(.shared, purpose: "index create")
        let inner = try layout.lockBlobs(.shared, purpose: "import")
        inner.unlock()
        #expect(!LockHolder.isFree(path, exclusive: true), "another process still cannot take the lock gc needs")
        outer.unlock()
        #expect(LockHolder.isFree(path, exclusive: true))
    }

    @Test("in one process, shared holders of a file share it; an exclusive holder waits for all of them")
    func oneDescriptorPerFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/gc.lock"
        let a = try FileLock(path: path, mode: .shared, timeout: 0, purpose: "a")
        let b = try FileLock(path: path, mode: .shared, timeout: 0, purpose: "b")
        #expect(FileLock.isHeld(path))
        a.unlock()
        #expect(stowageError { _ = try FileLock(path: path, mode: .exclusive, timeout: 0.1, purpose: "gc") }?.code == .lockTimeout)
        #expect(!LockHolder.isFree(path, exclusive: true))
        b.unlock()
        #expect(!FileLock.isHeld(path))
        let gc = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "gc")
        gc.unlock()
    }

    @Test("a timeout must be finite and not negative")
    func invalidTimeouts() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        for timeout in [Double.nan, .infinity, -1] {
            let error = try #require(stowageError { _ = try FileLock(path: "\(dir)/lock", mode: .exclusive, timeout: timeout, purpose: "p") })
            #expect(error.code == .usage)
        }
    }
}

/// Counts descriptors that another thread closed under a watcher's feet.
private final class FDWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    private var stolen = 0
    private var thread: Thread?

    func start() {
        let thread = Thread { [self] in
            while !lock.withLock({ stop }) {
                let fd = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                var valid = true
                for _ in 0..<50 where fcntl(fd, F_GETFD) == -1 { valid = false }
                if valid { close(fd) } else { lock.withLock { stolen += 1 } }
            }
        }
        self.thread = thread
        thread.start()
    }

    func finish() -> Int {
        lock.withLock { stop = true }
        while thread?.isFinished == false { usleep(1000) }
        return lock.withLock { stolen }
    }
}

@Suite("FileLock descriptors")
struct FileLockDescriptorTests {
    @Test(
        "a lock that times out closes its descriptor once")
    func timeoutClosesOnce() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = "\(dir)/lock"
        let holder = try FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "holder")
        defer { holder.unlock() }
        let watcher = FDWatcher()
        watcher.start()
        for _ in 0..<20_000 {
            _ = try? FileLock(path: path, mode: .exclusive, timeout: 0, purpose: "contender")
        }
        #expect(watcher.finish() == 0, "descriptors of another thread were closed by FileLock")
    }
}
