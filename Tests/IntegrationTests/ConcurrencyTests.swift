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
}
