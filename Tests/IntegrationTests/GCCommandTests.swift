import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// `stowage gc` on real layouts, beside real imports.
@Suite struct GCCommandTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    @discardableResult
    func stowage(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout], environment: environment)
    }

    func succeed(_ arguments: [String]) throws -> CommandResult {
        let result = try stowage(arguments)
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    var blobNames: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "\(layout)/blobs/sha256")) ?? [])
    }

    /// What index.json reaches, found independently of Stowage's own walk: every
    /// `digest` field of every JSON document reached, recursively.
    func reachableBlobs() throws -> Set<String> {
        var seen = Set<String>()
        func digests(in value: Any) -> [String] {
            if let object = value as? [String: Any] {
                return ((object["digest"] as? String).map { [$0] } ?? []) + object.values.flatMap(digests)
            }
            if let array = value as? [Any] { return array.flatMap(digests) }
            return []
        }
        func visit(_ path: String) throws {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            for digest in digests(in: json) {
                let hex = String(digest.dropFirst("sha256:".count))
                guard seen.insert(hex).inserted else { continue }
                let blob = "\(layout)/blobs/sha256/\(hex)"
                if let text = try? String(contentsOfFile: blob, encoding: .utf8), text.hasPrefix("{") { try visit(blob) }
            }
        }
        try visit("\(layout)/index.json")
        return seen
    }

    /// Five images, two of them named only to be unnamed again.
    func prepare() throws {
        _ = try succeed(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar"), Fixtures.path("docker.tar")])
        _ = try succeed(["import", "--tag", "team/app:v2", Fixtures.path("v2-x86_64.tar")])
        _ = try succeed(["import", "--tag", "team/app:s390x", Fixtures.path("s390x.tar")])
        _ = try succeed(["rm", "team/app:multi"])
        _ = try succeed(["rm", "team/app:v2"])
    }

    @Test func removesExactlyTheUnreferencedBlobs() throws {
        try prepare()
        let reachable = try reachableBlobs()
        let before = blobNames
        let garbage = before.subtracting(reachable)
        // The nested index, and the arm64, ppc64le and v2 manifests with their configs and top layers.
        #expect(garbage.count == 10)
        let result = try succeed(["gc", "--grace", "0"])
        #expect(blobNames == reachable)
        for hex in garbage { #expect(result.stdout.contains("removed blob sha256:\(hex) ("), "\(result.stdout)") }
        #expect(result.stdout.contains("gc: removed \(garbage.count) blobs and 0 temporary files, freed "))
        #expect(try stowage(["verify"]).status == 0)
        // Nothing left to do.
        #expect(try succeed(["gc", "--grace", "0"]).stdout.contains("removed 0 blobs"))
    }

    @Test func keepsEverythingReachableThroughTheNestedIndex() throws {
        _ = try succeed(["import", Fixtures.path("multi.tar")])
        // Loose garbage beside the index: a blob nothing names.
        let orphan = Array("nobody references me".utf8)
        let orphanHex = ContentHasher.digest(of: orphan).hex
        try Data(orphan).write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(orphanHex)"))
        let reachable = try reachableBlobs()
        #expect(reachable.count == 11, "index, 3 manifests, 3 configs, the base layer, 3 top layers")
        let result = try succeed(["gc", "--grace", "0", "--json"])
        struct Report: Decodable {
            struct Item: Decodable { var path: String; var digest: String?; var size: Int64 }
            var removedBlobs: [Item]
            var reachableBlobs: Int
            var bytesFreed: Int64
            var dryRun: Bool
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(report.removedBlobs.map(\.digest) == ["sha256:\(orphanHex)"])
        #expect(report.removedBlobs.map(\.path) == ["blobs/sha256/\(orphanHex)"])
        #expect(report.bytesFreed == Int64(orphan.count))
        #expect(report.reachableBlobs == reachable.count)
        #expect(blobNames == reachable)
        let platforms = try succeed(["inspect", "--platforms", "team/app:multi"]).stdout
        #expect(platforms == "linux/amd64\nlinux/arm64/v8\nlinux/ppc64le\n")
    }

    @Test func aDryRunShowsWhatWouldGoAndRemovesNothing() throws {
        try prepare()
        try FileManager.default.createDirectory(atPath: "\(layout)/.stowage/tmp/import-1-dead", withIntermediateDirectories: true)
        let before = try LayoutSnapshot(layout)
        let result = try succeed(["gc", "--dry-run", "--grace", "0"])
        #expect(result.stdout.contains("would remove blob sha256:"))
        #expect(result.stdout.contains("would remove temporary .stowage/tmp/import-1-dead"))
        #expect(result.stdout.contains("gc --dry-run: would remove 10 blobs and 1 temporary file, would free "))
        #expect(try LayoutSnapshot(layout) == before)
    }

    @Test func theDefaultGracePeriodKeepsFreshBlobs() throws {
        try prepare()
        let before = blobNames
        let result = try succeed(["gc"])
        #expect(blobNames == before)
        #expect(result.stdout.contains("removed 0 blobs"))
        #expect(result.stdout.contains("10 unreferenced file(s) younger than 1h"), "\(result.stdout)")
    }

    @Test func staleTemporaryFilesAreRemoved() throws {
        try prepare()
        let tmp = "\(layout)/.stowage/tmp"
        try FileManager.default.createDirectory(atPath: "\(tmp)/import-4242-abc", withIntermediateDirectories: true)
        try Data(count: 5000).write(to: URL(fileURLWithPath: "\(tmp)/import-4242-abc/blob-4242-1"))
        try Data(count: 10).write(to: URL(fileURLWithPath: "\(tmp)/replace-4242-2"))
        let result = try succeed(["gc", "--grace", "0s"])
        #expect(result.stdout.contains("removed temporary .stowage/tmp/import-4242-abc (5.0 kB)"))
        #expect(result.stdout.contains("removed temporary .stowage/tmp/replace-4242-2 (10 B)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
    }

    @Test func aBadDurationIsAUsageError() throws {
        try prepare()
        let result = try stowage(["gc", "--grace", "soon"])
        #expect(result.status == 2)
        #expect(result.stderr == "stowage: error: invalid duration 'soon': write a number with a unit, such as 0, 30s, 10m, 1h or 1h30m\n")
    }

    @Test func gcWaitsForARunningImportsLock() throws {
        try prepare()
        let before = blobNames
        // This process plays an import in progress: it holds the blob lock shared.
        let opened = try Layout.open(layout)
        do {
            let importLock = try opened.lockBlobs(.shared, purpose: "import in progress")
            defer { importLock.unlock() }
            let result = try stowage(["gc", "--grace", "0"], environment: ["STOWAGE_LOCK_TIMEOUT": "1"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("waiting for the gc lock \(layout)/.stowage/gc.lock"), "\(result.stderr)")
            #expect(blobNames == before, "nothing removed while an import runs")
        }
        // And an import waits for a running gc, whose lock names it.
        do {
            let gcLock = try opened.lockBlobs(.exclusive, purpose: "gc")
            defer { gcLock.unlock() }
            let result = try stowage(["import", Fixtures.path("armv7l.tar")], environment: ["STOWAGE_LOCK_TIMEOUT": "1"])
            #expect(result.status == 1)
            #expect(result.stderr.contains(".stowage/gc.lock held by pid \(getpid()) on host "), "\(result.stderr)")
            #expect(result.stderr.contains("(gc)"))
            // tag resolves digests of blobs gc may be deleting: it waits too.
            let tag = try stowage(["tag", "team/app:v1.0.0", "team/app:again"], environment: ["STOWAGE_LOCK_TIMEOUT": "1"])
            #expect(tag.status == 1)
            #expect(tag.stderr.contains("gc.lock"))
        }
        _ = try succeed(["gc", "--grace", "0"])
        #expect(blobNames == (try reachableBlobs()))
    }

    @Test func importsRunningBesideGCCompleteIntact() throws {
        // Every round: an image that shares its big layer with garbage is imported
        // while gc removes that garbage. Whichever runs first, the import must end intact.
        let shared = pseudoRandomBytes(2_000_000, seed: 4040)
        for round in 0..<6 {
            let old = TestImage.make(layers: [shared, pseudoRandomBytes(1000, seed: UInt64(round))])
            let new = TestImage.make(architecture: "arm64", layers: [shared, pseudoRandomBytes(1000, seed: UInt64(100 + round))])
            let oldArchive = directory.child("old-\(round).tar")
            let newArchive = directory.child("new-\(round).tar")
            try ArchiveBuilder.ociArchive(old).write(to: oldArchive)
            try ArchiveBuilder.ociArchive(new).write(to: newArchive)
            _ = try succeed(["import", "--tag", "team/old:\(round)", oldArchive])
            _ = try succeed(["rm", "team/old:\(round)"])
            // Alternate which one starts first.
            let first = round % 2 == 0
                ? try StowageBinary.start(["gc", "--grace", "0", "--layout", layout])
                : try StowageBinary.start(["import", "--tag", "team/new:\(round)", newArchive, "--layout", layout])
            let second = round % 2 == 0
                ? try StowageBinary.start(["import", "--tag", "team/new:\(round)", newArchive, "--layout", layout])
                : try StowageBinary.start(["gc", "--grace", "0", "--layout", layout])
            first.waitUntilExit()
            second.waitUntilExit()
            #expect(first.terminationStatus == 0 && second.terminationStatus == 0, "round \(round)")
            let verify = try stowage(["verify"])
            #expect(verify.status == 0, "round \(round): \(verify.stdout)")
            for blob in digests(of: new) { #expect(blobNames.contains(blob), "round \(round): blob \(blob) of the new image") }
            #expect(try succeed(["inspect", "--platforms", "team/new:\(round)"]).stdout == "linux/arm64\n")
        }
    }

    func digests(of image: TestImage) -> [String] {
        image.blobs.map { ContentHasher.digest(of: $0).hex }
    }

    // MARK: - Whole graphs

    static let amd64Manifest = "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
    static let amd64Layer = "bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a"

    struct IndexReport: Decodable { var digest: String }

    @Test func aYoungIndexKeepsItsOlderChildrenThroughGC() throws {
        _ = try succeed(["import", "--tag", "a:1", Fixtures.path("x86_64.tar")])
        usleep(3_500_000)  // the image's blobs are now older than the grace period below
        let created = try succeed(["index", "create", "--json", "--tag", "b:1", "a:1"])
        let index = try JSONDecoder().decode(IndexReport.self, from: Data(created.stdout.utf8)).digest
        _ = try succeed(["rm", "a:1"])
        _ = try succeed(["rm", "b:1"])
        _ = try succeed(["gc", "--grace", "2500ms"])
        // The young index kept everything it reaches, so naming it gives a whole image.
        _ = try succeed(["tag", index, "c:1"])
        let platforms = try succeed(["inspect", "--platforms", "c:1"])
        #expect(platforms.stdout == "linux/amd64\n")
        let verify = try stowage(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test func aDigestWhoseGraphIsIncompleteIsNeverNamed() throws {
        _ = try succeed(["import", "--tag", "a:1", Fixtures.path("x86_64.tar")])
        _ = try succeed(["rm", "a:1"])
        // What a gc of another version, or a hand, may leave: the manifest without a layer.
        #expect(unlink("\(layout)/blobs/sha256/\(Self.amd64Layer)") == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))
        for command in [["tag", Self.amd64Manifest, "c:1"], ["index", "create", "--tag", "d:1", Self.amd64Manifest]] {
            let result = try stowage(command)
            #expect(result.status != 0, "\(command)")
            #expect(result.stderr.contains("is not whole"), "\(result.stderr)")
            #expect(result.stderr.contains("layer sha256:\(Self.amd64Layer)"), "\(result.stderr)")
            #expect(result.stderr.contains("import or pull the image again"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json")) == before, "nothing was named")
        // Importing the image again brings the layer back, and the digest can be named.
        _ = try succeed(["import", Fixtures.path("x86_64.tar")])
        _ = try succeed(["tag", Self.amd64Manifest, "c:1"])
        #expect(try stowage(["verify"]).status == 0)
    }

    func modified(_ hex: String) throws -> Date {
        try FileManager.default.attributesOfItem(atPath: "\(layout)/blobs/sha256/\(hex)")[.modificationDate] as! Date
    }

    @Test func blobsAWriterReliesOnAreRefreshed() throws {
        let shared = pseudoRandomBytes(30_000, seed: 31)
        let sharedHex = ContentHasher.digest(of: shared).hex
        let first = directory.child("first.tar")
        let second = directory.child("second.tar")
        try ArchiveBuilder.ociArchive(TestImage.make(layers: [shared, pseudoRandomBytes(100, seed: 32)])).write(to: first)
        try ArchiveBuilder.ociArchive(TestImage.make(layers: [shared, pseudoRandomBytes(100, seed: 33)])).write(to: second)
        _ = try succeed(["import", "--tag", "a:1", first])
        let imported = try modified(sharedHex)
        usleep(50_000)
        // The second import finds the shared layer present and skips it: it must refresh it.
        _ = try succeed(["import", "--tag", "b:1", second])
        let deduplicated = try modified(sharedHex)
        #expect(deduplicated > imported, "the import refreshed the blob it deduplicated")

        // A copy between layouts that finds the blob present refreshes it too.
        let other = directory.child("other")
        let seed = try StowageBinary.run(["import", "--layout", other, "--tag", "a:1", first])
        #expect(seed.status == 0, "\(seed.stderr)")
        let before = try FileManager.default.attributesOfItem(atPath: "\(other)/blobs/sha256/\(sharedHex)")[.modificationDate] as! Date
        usleep(50_000)
        let copy = try StowageBinary.run(["copy", "oci:\(layout):b:1", "oci:\(other):b:1"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let after = try FileManager.default.attributesOfItem(atPath: "\(other)/blobs/sha256/\(sharedHex)")[.modificationDate] as! Date
        #expect(after > before, "the copy refreshed the blob it found present")
    }
}
