import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `kill -9` at any moment leaves a layout that `verify` passes, with no partial
/// blob and an intact index.json; the next run of the same command works, and
/// `gc` removes what the killed process left in `.stowage/tmp`.
///
/// Delays are spread deterministically over the measured length of the
/// operation. How far a killed process got varies from run to run; no assertion
/// depends on it.
@Suite(.serialized) struct CrashSafetyTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    @discardableResult
    func stowage(_ arguments: [String]) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout])
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    /// Starts `stowage ARGS` and kills it with SIGKILL after `delay` seconds (if it is still running).
    func killed(_ arguments: [String], after delay: Double) throws {
        let process = try StowageBinary.start(arguments + ["--layout", layout])
        usleep(UInt32(delay * 1_000_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `body` once and returns how long it took, in seconds.
    func measure(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    /// The invariants that must hold after any kill.
    func expectConsistent(_ context: String) throws {
        // Never a partial blob: every file under blobs/ hashes to its name.
        let blobs = "\(layout)/blobs/sha256"
        for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
            var hasher = ContentHasher()
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(blobs)/\(name)"))
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                chunk.withUnsafeBytes { hasher.update($0) }
            }
            #expect(hasher.finalize().hex == name, "\(context): blob \(name) is complete")
        }
        // Never a truncated index.json, and everything it names is there.
        let verify = try StowageBinary.run(["verify", "--layout", layout])
        #expect(verify.status == 0, "\(context): \(verify.stdout)\(verify.stderr)")
    }

    /// After a kill and a successful re-run, `gc --grace 0` removes the leftovers under .stowage/tmp.
    func expectLeftoversCollected(_ context: String) throws {
        try stowage(["gc", "--grace", "0"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(layout)/.stowage/tmp")
        #expect(leftovers.isEmpty, "\(context): \(leftovers)")
    }

    /// A 32 MB archive: four 8 MB layers (a pseudo-random megabyte, repeated with a different
    /// header per layer, so making it stays quick).
    func bigArchive() throws -> (path: String, image: TestImage) {
        let block = pseudoRandomBytes(1 << 20, seed: 31337)
        let layers = (0..<4).map { layer -> [UInt8] in
            var bytes = Array("layer \(layer)\n".utf8)
            bytes.reserveCapacity(8 << 20 + 16)
            for _ in 0..<8 { bytes += block }
            return bytes
        }
        let image = TestImage.make(layers: layers)
        let path = directory.child("big.tar")
        try ArchiveBuilder.ociArchive(image, refName: "team/big:v1").write(to: path)
        return (path, image)
    }

    @Test func importKilledAtAnyMoment() throws {
        try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")])
        let baseline = try LayoutSnapshot(layout).blobNames
        let (archive, image) = try bigArchive()
        let big = Set(image.blobs.map { ContentHasher.digest(of: $0).hex })
        let full = try measure { try stowage(["import", archive]) }
        try stowage(["rm", "team/big:v1"])
        try expectLeftoversCollected("setup")

        let runs = 10
        for run in 0..<runs {
            let context = "import killed after \(run)/\(runs - 1) of \(full)s"
            try killed(["import", archive], after: full * Double(run) / Double(runs - 1))
            try expectConsistent(context)
            let index = try Layout.open(layout).readIndex()
            #expect(Set(index.manifests.compactMap(\.refName)).isSubset(of: ["team/app:v1.0.0", "team/app:multi", "team/big:v1"]), "\(context)")
            #expect(index.entry(named: "team/app:multi") != nil && index.entry(named: "team/app:v1.0.0") != nil, "\(context)")
            // The import runs again to completion, with every blob intact.
            try stowage(["import", archive])
            try expectConsistent("\(context), re-run")
            #expect(try LayoutSnapshot(layout).blobNames.isSuperset(of: big))
            // Reset for the next run: unname, collect, and check nothing else is left.
            try stowage(["rm", "team/big:v1"])
            try expectLeftoversCollected(context)
            #expect(try LayoutSnapshot(layout).blobNames == baseline, "\(context)")
        }
    }

    /// Runs `commands` in a loop, one process at a time, and kills whichever is running
    /// `delay` seconds after the start.
    func loopKilled(_ commands: [[String]], after delay: Double) throws {
        let deadline = Date().addingTimeInterval(delay)
        var step = 0
        while true {
            let process = try StowageBinary.start(commands[step % commands.count] + ["--layout", layout])
            while process.isRunning && Date() < deadline { usleep(200) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return
            }
            step += 1
        }
    }

    @Test func indexEditsKilledAtAnyMoment() throws {
        try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")])
        let arm64 = "sha256:e7288e276dc3d37f7543e98ff1d662548a890d944542cf379977aa28c931912a"
        let runs = 8
        for run in 0..<runs {
            // tag by name and by digest, rm, and index building: every kind of index.json edit.
            let commands = [
                ["tag", "team/app:multi", "team/loop:\(run)"],
                ["tag", "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c", "team/loop:d\(run)"],
                ["index", "create", "--tag", "team/loop:i\(run)", "team/app:v1.0.0", arm64],
                ["rm", "team/loop:\(run)"],
                ["rm", "team/loop:i\(run)"],
            ]
            let delay = 0.05 + 0.037 * Double(run)
            try loopKilled(commands, after: delay)
            let context = "index edits killed after \(delay)s"
            try expectConsistent(context)
            let names = Set(try Layout.open(layout).readIndex().manifests.compactMap(\.refName))
            #expect(names.isSuperset(of: ["team/app:v1.0.0", "team/app:multi"]), "\(context)")
            #expect(names.allSatisfy { $0.hasPrefix("team/app:") || $0.hasPrefix("team/loop:") }, "\(context): \(names)")
            // Edits work again right away.
            try stowage(["tag", "team/app:multi", "team/after:\(run)"])
            try stowage(["index", "create", "--tag", "team/after:i\(run)", "team/app:v1.0.0", arm64])
            try stowage(["rm", "team/after:\(run)"])
            try stowage(["rm", "team/after:i\(run)"])
            try expectLeftoversCollected(context)
            try expectConsistent("\(context), after gc")
        }
    }

    /// Loose blobs (valid, unreferenced) and stale temporary files for gc to chew on.
    func makeGarbage(_ count: Int, round: Int) throws {
        for i in 0..<count {
            let bytes = Array("garbage \(round) \(i)".utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(ContentHasher.digest(of: bytes).hex)"))
        }
        let staging = "\(layout)/.stowage/tmp/import-99-\(round)"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try Data(count: 1000).write(to: URL(fileURLWithPath: "\(staging)/blob-99-\(round)"))
    }

    @Test func gcKilledAtAnyMoment() throws {
        try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar"), Fixtures.path("docker.tar")])
        let reachable = try LayoutSnapshot(layout).blobNames
        try makeGarbage(800, round: 0)
        let full = try measure { try stowage(["gc", "--grace", "0"]) }
        #expect(try LayoutSnapshot(layout).blobNames == reachable)

        let runs = 6
        for run in 0..<runs {
            try makeGarbage(800, round: run + 1)
            let context = "gc killed after \(run)/\(runs - 1) of \(full)s"
            try killed(["gc", "--grace", "0"], after: full * Double(run) / Double(runs - 1))
            try expectConsistent(context)
            #expect(try LayoutSnapshot(layout).blobNames.isSuperset(of: reachable), "\(context): nothing reachable removed")
            try expectLeftoversCollected(context)
            #expect(try LayoutSnapshot(layout).blobNames == reachable, "\(context): the next gc finishes the job")
        }
    }

    @Test func exportKilledAtAnyMomentLeavesNoPartialArchive() throws {
        let (archive, _) = try bigArchive()
        try stowage(["import", archive, Fixtures.path("multi.tar")])
        let reference = directory.child("reference.tar")
        let full = try measure { try stowage(["export", "-o", reference]) }
        let expected = Array(try Data(contentsOf: URL(fileURLWithPath: reference)))
        let before = try LayoutSnapshot(layout)

        let runs = 4
        for run in 0..<runs {
            let output = directory.child("export-\(run).tar")
            try killed(["export", "-o", output], after: full * Double(run) / Double(runs - 1))
            // The archive is whole or absent, never partial.
            if FileManager.default.fileExists(atPath: output) {
                #expect(Array(try Data(contentsOf: URL(fileURLWithPath: output))) == expected, "export \(run)")
            }
            #expect(try LayoutSnapshot(layout) == before, "export \(run) wrote nothing to the layout")
            try stowage(["export", "-o", output])
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: output))) == expected, "export \(run), re-run")
        }
    }

    @Test func aFailureAfterLinkingLeavesOnlyBlobsThatGCRemoves() throws {
        try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")])
        let before = try LayoutSnapshot(layout)
        let index = try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))
        // Another writer holds the index lock for longer than this import waits.
        let holder = try LockHolder(path: "\(layout)/.stowage/index.lock", exclusive: true)
        let result = try StowageBinary.run(
            ["import", "--layout", layout, "--tag", "team/app:arm", Fixtures.path("aarch64.tar")],
            environment: ["STOWAGE_LOCK_TIMEOUT": "1"])
        holder.release()
        #expect(result.status != 0)
        #expect(result.stderr.contains("timed out"), "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json")) == index, "no name was written")
        let after = try LayoutSnapshot(layout)
        #expect(after.blobNames.isSuperset(of: before.blobNames))
        #expect(after.blobNames.count > before.blobNames.count, "the blobs were linked before the lock timed out")
        try expectConsistent("after the failed import")
        // What was linked is unreferenced: gc takes it away, and the layout is as before.
        try stowage(["gc", "--grace", "0"])
        #expect(try LayoutSnapshot(layout).blobNames == before.blobNames)
    }
}
