import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Many writers on one layout, a full disk, and read-only media: the situations of
/// a shared build volume and of a disk carried into an air-gapped site.
/// Timing varies from run to run; the verdicts must not.
@Suite struct SharedVolumeTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    static var isRoot: Bool { geteuid() == 0 }

    @discardableResult
    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout])
    }

    /// Small archives that share one layer (so processes race for the same blob)
    /// and each have one of their own.
    func makeArchives(_ count: Int, round: Int, label: String) throws -> [String] {
        let shared = pseudoRandomBytes(60_000, seed: 5000)
        return try (0..<count).map { i in
            let image = TestImage.make(layers: [shared, pseudoRandomBytes(4000 + i, seed: UInt64(50_000 + round * 100 + i))])
            let path = directory.child("\(label)-\(round)-\(i).tar")
            try ArchiveBuilder.ociArchive(image).write(to: path)
            return path
        }
    }

    func names() throws -> Set<String> {
        Set(try Layout.open(layout).readIndex().manifests.compactMap(\.refName))
    }

    func expectVerified(_ context: String) throws {
        let verify = try stowage(["verify"])
        #expect(verify.status == 0, "\(context): \(verify.stdout)\(verify.stderr)")
    }

    @Test func sixteenConcurrentImportsForTenRounds() throws {
        var expected = Set<String>()
        for round in 0..<10 {
            let archives = try makeArchives(16, round: round, label: "imports")
            let running = try archives.enumerated().map { i, archive in
                try StowageBinary.start(["import", "--layout", layout, "--tag", "team/app:r\(round)-\(i)", archive])
            }
            for process in running { process.waitUntilExit() }
            #expect(running.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(StowageBinary.failures(running))")
            expected.formUnion((0..<16).map { "team/app:r\(round)-\($0)" })
            #expect(try names() == expected, "round \(round)")
            try expectVerified("round \(round)")
        }
    }

    @Test func importsTagsRemovalsAndGCAtOnce() throws {
        for round in 0..<3 {
            // Names to remove and to copy while imports run; their blobs become gc's prey.
            let seed = try makeArchives(6, round: round, label: "old")
            for (i, archive) in seed.enumerated() {
                let result = try stowage(["import", "--tag", "team/old:\(round)-\(i)", archive])
                #expect(result.status == 0, "\(result.stderr)")
            }
            let archives = try makeArchives(16, round: round, label: "new")
            var imports: [Process] = []
            var tags: [Process] = []
            var removals: [Process] = []
            var collections: [Process] = []
            for (i, archive) in archives.enumerated() {
                imports.append(try StowageBinary.start(["import", "--layout", layout, "--tag", "team/new:\(round)-\(i)", archive]))
                if i < 6 {
                    tags.append(try StowageBinary.start(["tag", "--layout", layout, "team/old:\(round)-\(i)", "team/copy:\(round)-\(i)"]))
                    removals.append(try StowageBinary.start(["rm", "--layout", layout, "team/old:\(round)-\(i)"]))
                }
                if i % 5 == 0 {
                    collections.append(try StowageBinary.start(["gc", "--grace", "0", "--layout", layout]))
                }
            }
            for process in imports + tags + removals + collections { process.waitUntilExit() }
            #expect(imports.allSatisfy { $0.terminationStatus == 0 }, "round \(round): every import succeeds: \(StowageBinary.failures(imports))")
            #expect(removals.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(StowageBinary.failures(removals))")
            #expect(collections.allSatisfy { $0.terminationStatus == 0 }, "round \(round): gc waits, it does not fail: \(StowageBinary.failures(collections))")
            let final = try names()
            for i in 0..<16 { #expect(final.contains("team/new:\(round)-\(i)"), "round \(round)") }
            for i in 0..<6 {
                #expect(!final.contains("team/old:\(round)-\(i)"))
                // A tag racing the removal of its source either ran first or failed; never half.
                #expect((tags[i].terminationStatus == 0) == final.contains("team/copy:\(round)-\(i)"), "round \(round) tag \(i)")
            }
            try expectVerified("round \(round)")
            // Every import's blobs are all there: nothing gc removed was still needed.
            for name in final {
                let platforms = try stowage(["inspect", "--platforms", name])
                #expect(platforms.status == 0, "\(name): \(platforms.stderr)")
            }
        }
        // Once everything is quiet, gc finds the layout exactly as verify does.
        #expect(try stowage(["gc", "--grace", "0"]).status == 0)
        try expectVerified("after the last gc")
    }

    @Test(.enabled(if: SharedVolumeTests.isRoot, "mounting a tmpfs needs root"))
    func aFullDiskLeavesTheLayoutAsItWas() throws {
        let mountPoint = directory.child("small-disk")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let big = directory.child("big.tar")
        try ArchiveBuilder.ociArchive(TestImage.make(layers: [pseudoRandomBytes(3_000_000, seed: 99)]), refName: "team/big:v1")
            .write(to: big)
        let onDisk = "\(mountPoint)/layout"
        let binary = StowageBinary.path
        // A private mount namespace with a 2 MB tmpfs: the layout lives there, the archive does not.
        let script = """
            set -e
            mount -t tmpfs -o size=2m tmpfs '\(mountPoint)'
            '\(binary)' import --layout '\(onDisk)' '\(Fixtures.path("named.tar"))' > /dev/null
            snapshot() { (cd '\(onDisk)' && find . -type f ! -name '*.lock' | sort | xargs sha256sum); }
            snapshot > '\(directory.child("before"))'
            set +e
            '\(binary)' import --layout '\(onDisk)' '\(big)' > /dev/null 2> '\(directory.child("import.err"))'
            echo $? > '\(directory.child("import.status"))'
            set -e
            snapshot > '\(directory.child("after"))'
            find '\(onDisk)/.stowage/tmp' -mindepth 1 > '\(directory.child("leftovers"))'
            '\(binary)' verify --layout '\(onDisk)' > '\(directory.child("verify.out"))'
            '\(binary)' import --layout '\(onDisk)' '\(Fixtures.path("s390x.tar"))' > /dev/null
            '\(binary)' verify --layout '\(onDisk)' >> '\(directory.child("verify.out"))'
            """
        let result = try Command.run("unshare", ["-m", "sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        func read(_ name: String) throws -> String { try String(contentsOfFile: directory.child(name), encoding: .utf8) }
        #expect(try read("import.status") == "1\n")
        let error = try read("import.err")
        #expect(error.hasPrefix("stowage: error: "))
        #expect(error.contains("No space left on device"), "\(error)")
        #expect(error.split(separator: "\n").count == 1)
        #expect(try read("before") == read("after"), "the layout is unchanged")
        #expect(try read("before").contains("index.json"))
        #expect(try read("leftovers").isEmpty, "the failed import's staging files are gone")
        #expect(try read("verify.out").components(separatedBy: "is intact").count == 3, "verify passes, and the next import works")
    }

    /// Runs ls, inspect, verify and export on `readOnly`, writing the archive to `output`.
    func readOnlyCommands(_ readOnly: String, output: String) -> String {
        let binary = StowageBinary.path
        return """
            '\(binary)' ls --layout '\(readOnly)'
            '\(binary)' inspect --platforms team/app:multi --layout '\(readOnly)'
            '\(binary)' inspect --raw team/app:v1.0.0 --layout '\(readOnly)' > /dev/null
            '\(binary)' verify --layout '\(readOnly)'
            '\(binary)' verify --json --layout '\(readOnly)' > /dev/null
            '\(binary)' gc --dry-run --grace 0 --layout '\(readOnly)'
            '\(binary)' export -o '\(output)' --layout '\(readOnly)'
            if '\(binary)' gc --grace 0 --layout '\(readOnly)' 2> /dev/null; then echo "gc on a read-only layout succeeded" >&2; exit 1; fi
            """
    }

    func prepareReadOnlyLayout() throws -> (snapshot: LayoutSnapshot, reference: [UInt8]) {
        #expect(try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")]).status == 0)
        #expect(try stowage(["import", "--tag", "team/gone:v1", Fixtures.path("s390x.tar")]).status == 0)
        #expect(try stowage(["rm", "team/gone:v1"]).status == 0, "leave garbage for gc --dry-run to find")
        let reference = directory.child("reference.tar")
        #expect(try stowage(["export", "-o", reference]).status == 0)
        return (try LayoutSnapshot(layout), Array(try Data(contentsOf: URL(fileURLWithPath: reference))))
    }

    @Test(.enabled(if: SharedVolumeTests.isRoot, "bind mounts need root"))
    func aReadOnlyBindMountCanBeListedVerifiedAndExported() throws {
        let (before, reference) = try prepareReadOnlyLayout()
        let mountPoint = directory.child("ro")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let output = directory.child("from-ro.tar")
        let script = """
            set -e
            mount --bind '\(layout)' '\(mountPoint)'
            mount -o remount,bind,ro '\(mountPoint)'
            \(readOnlyCommands(mountPoint, output: output))
            """
        let result = try Command.run("unshare", ["-m", "sh", "-c", script])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("team/app:multi"))
        #expect(result.stdout.contains("linux/arm64/v8"))
        #expect(result.stdout.contains("is intact"))
        #expect(result.stdout.contains("would remove blob sha256:"))
        #expect(result.stdout.contains("exported 2 images"))
        #expect(try LayoutSnapshot(layout) == before, "nothing was written")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: output))) == reference, "the same bytes as from the writable layout")
    }

    @Test(.enabled(if: SharedVolumeTests.isRoot && Command.isAvailable("setpriv"), "needs root and setpriv to become nobody"))
    func aLayoutWithReadOnlyPermissionsCanBeListedVerifiedAndExported() throws {
        let (before, reference) = try prepareReadOnlyLayout()
        let out = directory.child("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(chmod(out, 0o777) == 0)
        #expect(chmod(directory.path, 0o755) == 0)
        let lockdown = try Command.run("chmod", ["-R", "a-w", layout])
        #expect(lockdown.status == 0)
        defer { _ = try? Command.run("chmod", ["-R", "u+w", layout]) }
        let output = "\(out)/from-nobody.tar"
        let result = try Command.run(
            "setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "set -e\n" + readOnlyCommands(layout, output: output)])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("is intact"))
        #expect(result.stdout.contains("exported 2 images"))
        #expect(try LayoutSnapshot(layout) == before, "nothing was written")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: output))) == reference)
    }

    // MARK: - Locks

    /// A layout with one named image, `team/app:a`.
    func prepareNamedImage() throws {
        let archive = try makeArchives(1, round: 0, label: "lock")[0]
        let result = try stowage(["import", "--tag", "team/app:a", archive])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func aReplacedLockFileNeverSplitsTheLock() throws {
        try prepareNamedImage()
        let lockPath = "\(layout)/.stowage/index.lock"
        let first = try LockHolder(path: lockPath, exclusive: true)
        let tag = try StowageBinary.start(
            ["tag", "--layout", layout, "team/app:a", "team/app:b"], environment: ["STOWAGE_LOCK_TIMEOUT": "60"])
        usleep(500_000)  // the tag is waiting on the first lock file
        // Someone replaces the lock file with one that another writer holds.
        let replacement = "\(layout)/.stowage/index.lock.new"
        let second = try LockHolder(path: replacement, exclusive: true)
        #expect(rename(replacement, lockPath) == 0)
        first.release()
        usleep(1_000_000)
        #expect(tag.isRunning, "the tag waits for the writer holding the file now at the path, not the old one: \(tag.isRunning ? "" : StowageBinary.errors(of: tag))")
        second.release()
        tag.waitUntilExit()
        #expect(tag.terminationStatus == 0, "\(StowageBinary.failures([tag]))")
        #expect(try names() == ["team/app:a", "team/app:b"])
    }

    @Test func newWritersWaitBehindAWaitingGC() throws {
        try prepareNamedImage()
        let environment = ["STOWAGE_LOCK_TIMEOUT": "60"]
        // A long import (another machine's) holds the blob lock shared.
        let running = try LockHolder(path: "\(layout)/.stowage/gc.lock", exclusive: false)
        let gc = try StowageBinary.start(["gc", "--grace", "0", "--layout", layout], environment: environment)
        let intent = "\(layout)/.stowage/gc-intent.lock"
        #expect(eventually { !LockHolder.isFree(intent, exclusive: false) }, "gc declares that it is waiting")
        // New writers arrive while gc waits: they queue behind it instead of overtaking it.
        let writers = try (0..<3).map { i in
            try StowageBinary.start(["tag", "--layout", layout, "team/app:a", "team/app:w\(i)"], environment: environment)
        }
        usleep(1_000_000)
        #expect(writers.allSatisfy { $0.isRunning }, "new writers wait behind the gc")
        #expect(gc.isRunning, "gc still waits for the import")
        running.release()
        for process in [gc] + writers { process.waitUntilExit() }
        #expect(([gc] + writers).allSatisfy { $0.terminationStatus == 0 }, "\(StowageBinary.failures([gc] + writers))")
        #expect(try names() == ["team/app:a", "team/app:w0", "team/app:w1", "team/app:w2"])
        try expectVerified("after gc and writers")
    }

    @Test(arguments: ["nan", "inf", "-5", "0", "soon", ""])
    func aLockTimeoutMustBeAPositiveNumber(_ value: String) throws {
        try prepareNamedImage()
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))
        let result = try StowageBinary.run(
            ["tag", "--layout", layout, "team/app:a", "team/app:b"], environment: ["STOWAGE_LOCK_TIMEOUT": value])
        #expect(result.status != 0)
        #expect(result.stderr.contains("STOWAGE_LOCK_TIMEOUT"), "\(result.stderr)")
        #expect(result.stderr.contains("positive number of seconds"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json")) == before)
    }
}
