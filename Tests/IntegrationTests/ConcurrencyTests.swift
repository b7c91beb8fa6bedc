import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Many `stowage` processes writing one layout at once lose nothing.
/// Timing varies from run to run; the verdict must not.
@Suite struct ConcurrencyTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    /// Archives that share a base layer (so processes race to add the same blob)
    /// and each have a layer of their own.
    func makeArchives(_ count: Int, round: Int) throws -> [String] {
        let shared = pseudoRandomBytes(300_000, seed: 1000)
        return try (0..<count).map { i in
            let image = TestImage.make(layers: [shared, pseudoRandomBytes(50_000 + i, seed: UInt64(round * 100 + i))])
            let path = directory.child("r\(round)-\(i).tar")
            try ArchiveBuilder.ociArchive(image).write(to: path)
            return path
        }
    }

    /// Every blob has the size and digest of its name, and no temporary file is left.
    func expectIntactLayout() throws {
        let blobs = try FileManager.default.contentsOfDirectory(atPath: "\(layout)/blobs/sha256")
        for name in blobs {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(name)")))
            #expect(ContentHasher.digest(of: bytes).hex == name, "blob \(name) is intact")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(layout)/.stowage/tmp")
        #expect(leftovers.isEmpty, "no temporary files left: \(leftovers)")
        // Every entry of index.json points at a manifest that is there.
        let index = try Layout.open(layout).readIndex()
        for entry in index.manifests {
            #expect(FileManager.default.fileExists(atPath: "\(layout)/blobs/sha256/\(entry.digest.hex)"))
        }
    }

    func names() throws -> Set<String> {
        Set(try Layout.open(layout).readIndex().manifests.compactMap(\.refName))
    }

    @Test func concurrentImportsKeepEveryTag() throws {
        let processes = 12
        for round in 0..<3 {
            let archives = try makeArchives(processes, round: round)
            let running = try archives.enumerated().map { i, archive in
                try StowageBinary.start(["import", "--layout", layout, "--tag", "team/app:r\(round)-\(i)", archive])
            }
            for process in running { process.waitUntilExit() }
            #expect(running.allSatisfy { $0.terminationStatus == 0 }, "\(StowageBinary.failures(running))")
            let expected = Set((0...round).flatMap { r in (0..<processes).map { "team/app:r\(r)-\($0)" } })
            #expect(try names() == expected, "round \(round)")
            try expectIntactLayout()
        }
    }

    @Test func importsTagsAndRemovalsAtOnceLoseNothing() throws {
        // Names that will be removed and images that will be tagged while imports run.
        let seed = try makeArchives(4, round: 9)
        for (i, archive) in seed.enumerated() {
            let result = try StowageBinary.run(["import", "--layout", layout, "--tag", "team/old:\(i)", archive])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let archives = try makeArchives(8, round: 10)
        var imports: [Process] = []
        var removals: [Process] = []
        var tags: [Process] = []
        for (i, archive) in archives.enumerated() {
            imports.append(try StowageBinary.start(["import", "--layout", layout, "--tag", "team/new:\(i)", archive]))
            if i < 4 {
                tags.append(try StowageBinary.start(["tag", "--layout", layout, "team/old:\(i)", "team/copy:\(i)"]))
                removals.append(try StowageBinary.start(["rm", "--layout", layout, "team/old:\(i)"]))
            }
        }
        for process in imports + removals + tags { process.waitUntilExit() }
        #expect((imports + removals).allSatisfy { $0.terminationStatus == 0 }, "\(StowageBinary.failures(imports + removals))")
        let final = try names()
        for i in 0..<8 { #expect(final.contains("team/new:\(i)")) }
        for i in 0..<4 { #expect(!final.contains("team/old:\(i)")) }
        // A tag racing the removal of its source either ran first (the copy exists)
        // or found the source gone and failed; never both, never neither.
        for (i, tag) in tags.enumerated() {
            #expect((tag.terminationStatus == 0) == final.contains("team/copy:\(i)"), "tag \(i)")
        }
        try expectIntactLayout()
    }

    // MARK: - Index edits on one name

    /// One small single-platform archive per architecture `arch-<label>-<i>`, sharing a layer.
    func platformArchives(_ count: Int, label: String) throws -> [(archive: String, platform: String)] {
        let shared = pseudoRandomBytes(20_000, seed: 77)
        return try (0..<count).map { i in
            let architecture = "arch\(label)\(i)"
            let image = TestImage.make(architecture: architecture, layers: [shared, pseudoRandomBytes(2000 + i, seed: UInt64(9000 + i))])
            let path = directory.child("\(label)-\(i).tar")
            try ArchiveBuilder.ociArchive(image).write(to: path)
            return (path, "linux/\(architecture)")
        }
    }

    func platforms(of reference: String) throws -> [String] {
        let result = try StowageBinary.run(["inspect", "--platforms", "--layout", layout, reference])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func expectVerified(_ context: String) throws {
        let verify = try StowageBinary.run(["verify", "--layout", layout])
        #expect(verify.status == 0, "\(context): \(verify.stdout)\(verify.stderr)")
    }

    @Test func sixteenConcurrentIndexAddsOnOneNameKeepEveryPlatform() throws {
        let base = try platformArchives(1, label: "base")[0]
        let added = try platformArchives(16, label: "add")
        for round in 0..<10 {
            let tag = "team/app:multi-\(round)"
            let create = try StowageBinary.run(["index", "create", "--layout", layout, "--tag", tag, base.archive])
            #expect(create.status == 0, "\(create.stderr)")
            let running = try added.map { try StowageBinary.start(["index", "add", "--layout", layout, "--tag", tag, $0.archive]) }
            for process in running { process.waitUntilExit() }
            #expect(running.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(StowageBinary.failures(running))")
            #expect(Set(try platforms(of: tag)) == Set([base.platform] + added.map(\.platform)), "round \(round)")
            try expectVerified("round \(round)")
        }
    }

    @Test func indexRemovalsRacingAdditionsLoseNothing() throws {
        let base = try platformArchives(1, label: "keep")[0]
        let leaving = try platformArchives(6, label: "leave")
        let arriving = try platformArchives(6, label: "arrive")
        for round in 0..<3 {
            let tag = "team/app:churn-\(round)"
            let create = try StowageBinary.run(["index", "create", "--layout", layout, "--tag", tag, base.archive] + leaving.map(\.archive))
            #expect(create.status == 0, "\(create.stderr)")
            var running: [Process] = []
            for i in 0..<6 {
                running.append(try StowageBinary.start(["index", "remove", "--layout", layout, "--tag", tag, "--platform", leaving[i].platform]))
                running.append(try StowageBinary.start(["index", "add", "--layout", layout, "--tag", tag, arriving[i].archive]))
            }
            for process in running { process.waitUntilExit() }
            #expect(running.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(StowageBinary.failures(running))")
            #expect(Set(try platforms(of: tag)) == Set([base.platform] + arriving.map(\.platform)), "round \(round)")
            try expectVerified("round \(round)")
        }
    }

    @Test func tagRacingIndexAddsLastWriterWinsNothingHalfMerged() throws {
        let base = try platformArchives(1, label: "old")[0]
        let other = try platformArchives(1, label: "new")[0]
        let arriving = try platformArchives(8, label: "late")
        for round in 0..<3 {
            let tag = "team/app:race-\(round)"
            let replacement = "team/other:idx-\(round)"
            for (name, source) in [(tag, base.archive), (replacement, other.archive)] {
                let create = try StowageBinary.run(["index", "create", "--layout", layout, "--tag", name, source])
                #expect(create.status == 0, "\(create.stderr)")
            }
            var adds: [Process] = []
            for (i, source) in arriving.enumerated() {
                adds.append(try StowageBinary.start(["index", "add", "--layout", layout, "--tag", tag, source.archive]))
                if i == 3 {
                    let moved = try StowageBinary.run(["tag", "--layout", layout, replacement, tag])
                    #expect(moved.status == 0, "\(moved.stderr)")
                }
            }
            for process in adds { process.waitUntilExit() }
            #expect(adds.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(StowageBinary.failures(adds))")
            // The tag's value won the name; each add that came after it merged into that value, whole.
            let final = Set(try platforms(of: tag))
            #expect(final.contains(other.platform), "round \(round): \(final)")
            #expect(!final.contains(base.platform), "round \(round): nothing of the replaced index survives: \(final)")
            #expect(final.isSubset(of: Set([other.platform] + arriving.map(\.platform))), "round \(round): \(final)")
            try expectVerified("round \(round)")
        }
    }
}
