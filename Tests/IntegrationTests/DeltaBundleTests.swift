import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// Delta bundles across the air gap: the far side's inventory, an export of only what
/// it lacks, and an import there that takes the rest from its layout (issue #12).
@Suite struct DeltaBundleTests {
    let directory = TemporaryDirectory()
    /// The connected side, holding v1 and v2.
    var near: String { directory.child("near") }
    /// The air-gapped side, holding v1.
    var far: String { directory.child("far") }

    /// v1: `team/app:v1` and `team/tool:v1`, sharing a base layer; v2 adds `team/app:v2`,
    /// whose top layer changed.
    struct Images {
        let base = pseudoRandomBytes(96 * 1024, seed: 1)
        let appV1: TestImage
        let tool: TestImage
        let appV2: TestImage

        init() {
            appV1 = TestImage.make(layers: [base, pseudoRandomBytes(40 * 1024, seed: 2)])
            tool = TestImage.make(architecture: "arm64", layers: [base, pseudoRandomBytes(30 * 1024, seed: 3)])
            appV2 = TestImage.make(layers: [base, pseudoRandomBytes(41 * 1024, seed: 4)])
        }

        /// Blobs of `image` that no v1 image has: the config, the new layer, the manifest.
        func newBlobs(of image: TestImage) -> Set<String> {
            Set([image.config, image.layers[1], image.manifest].map { ContentHasher.digest(of: $0).hex })
        }
    }

    let images = Images()

    @discardableResult
    func stowage(_ arguments: [String], layout: String, expect status: Int32? = 0) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout], environment: ["STOWAGE_RETRY_DELAY": "0.05"])
        if let status {
            #expect(result.status == status, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return result
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Writes an oci-archive of `images` and imports it into `layout`.
    func importArchive(_ name: String, _ entries: [(image: TestImage, refName: String?)], into layout: String) throws {
        let path = directory.child("\(name).tar")
        try ArchiveBuilder.ociArchive(entries).write(to: path)
        try stowage(["import", path], layout: layout)
    }

    /// The far side holds v1; the near side holds v1 and v2.
    func makeBothSides() throws {
        let v1: [(image: TestImage, refName: String?)] = [(images.appV1, "team/app:v1"), (images.tool, "team/tool:v1")]
        try importArchive("v1", v1, into: far)
        try importArchive("v1", v1, into: near)
        try importArchive("v2", [(images.appV2, "team/app:v2")], into: near)
    }

    /// `stowage inventory -o FILE` of the far side.
    func farInventory() throws -> String {
        let path = directory.child("far-inventory.json")
        try stowage(["inventory", "-o", path], layout: far)
        return path
    }

    /// The `blobs/sha256/<hex>` entries of a tar file, read by GNU tar.
    func blobEntries(_ archive: String) throws -> Set<String> {
        let listing = try Command.run("tar", ["-tf", archive])
        #expect(listing.status == 0, "\(listing.stderr)")
        return Set(listing.stdout.split(separator: "\n").filter { $0.hasPrefix("blobs/sha256/") && $0.count > 13 }
            .map { String($0.dropFirst("blobs/sha256/".count)) })
    }

    // MARK: - Inventory

    @Test func aLayoutsInventoryIsCanonicalJSONAndStable() throws {
        try makeBothSides()
        let first = try stowage(["inventory"], layout: far).stdoutBytes
        let second = try stowage(["inventory"], layout: far).stdoutBytes
        #expect(first == second, "byte-identical across runs")
        let file = try farInventory()
        #expect(try bytes(file) == first, "-o FILE writes what stdout shows")

        // The exact document: blobs sorted by digest, names by name, one a line.
        let blobs = Set((images.appV1.blobs + images.tool.blobs).map { ContentHasher.digest(of: $0) }).sorted()
        let sizes = Dictionary((images.appV1.blobs + images.tool.blobs).map { (ContentHasher.digest(of: $0), $0.count) }) { a, _ in a }
        var expected = #"{"schemaVersion":1,"sources":["oci:\#(far)"],"# + "\n\"blobs\":["
        expected += blobs.map { "\n{\"digest\":\"\($0)\",\"size\":\(sizes[$0]!)}" }.joined(separator: ",")
        expected += "\n],\n\"names\":["
        expected += "\n{\"name\":\"team/app:v1\",\"digest\":\"\(images.appV1.descriptor.digest)\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"},"
        expected += "\n{\"name\":\"team/tool:v1\",\"digest\":\"\(images.tool.descriptor.digest)\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}"
        expected += "\n]}\n"
        #expect(String(decoding: first, as: UTF8.self) == expected)
        #expect(blobs.count == 7, "one shared base layer, two configs, two top layers, two manifests")
        // Any JSON reader takes it.
        let parsed = try JSONSerialization.jsonObject(with: Data(first)) as? [String: Any]
        #expect(parsed?["schemaVersion"] as? Int == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(far)/inventory.json"), "nothing is written into the layout")
    }

    @Test func anUnreachableBlobIsNotInTheInventory() throws {
        try makeBothSides()
        try stowage(["rm", "team/tool:v1"], layout: far)
        let inventory = try stowage(["inventory"], layout: far).stdout
        #expect(!inventory.contains(images.tool.descriptor.digest.string), "gc would take it, so it is not counted on")
        #expect(inventory.contains(ContentHasher.digest(of: images.base).string))
        #expect(!inventory.contains("team/tool:v1"))
    }

    // MARK: - Export

    struct ExportReport: Decodable {
        var blobs: Int
        var bytes: Int64
        var blobsLeftOut: Int?
        var bytesLeftOut: Int64?
        struct Image: Decodable { var reference: String? }
        var images: [Image]
    }

    @Test func aDeltaHoldsExactlyTheBlobsTheInventoryLacks() throws {
        try makeBothSides()
        let inventory = try farInventory()
        let delta = directory.child("delta.tar")
        let again = directory.child("delta-again.tar")
        let result = try stowage(["export", "--exclude-present", inventory, "-o", delta, "--json"], layout: near)
        try stowage(["export", "--exclude-present", inventory, "-o", again], layout: near)
        #expect(try bytes(delta) == bytes(again), "byte-identical when run twice")

        #expect(try blobEntries(delta) == images.newBlobs(of: images.appV2))
        let report = try JSONDecoder().decode(ExportReport.self, from: Data(result.stdout.utf8))
        #expect(report.blobs == 3)
        #expect(report.bytes == Int64([images.appV2.config, images.appV2.layers[1], images.appV2.manifest].reduce(0) { $0 + $1.count }))
        #expect(report.blobsLeftOut == 7)
        let v1Bytes = Set((images.appV1.blobs + images.tool.blobs).map { $0 }).reduce(0) { $0 + $1.count }
        #expect(report.bytesLeftOut == Int64(v1Bytes))
        // index.json still names every image, whole.
        #expect(Set(report.images.compactMap(\.reference)) == ["team/app:v1", "team/app:v2", "team/tool:v1"])

        let text = try stowage(["export", "--exclude-present", inventory, "-o", directory.child("text.tar")], layout: near).stdout
        #expect(text.contains("left out 7 blobs"), "\(text)")
        #expect(text.contains(inventory))

        // A full export carries everything; a normal export's report says nothing of exclusions.
        let full = try stowage(["export", "-o", directory.child("full.tar"), "--json"], layout: near)
        let fullReport = try JSONDecoder().decode(ExportReport.self, from: Data(full.stdout.utf8))
        #expect(fullReport.blobs == 10 && fullReport.blobsLeftOut == nil)
        #expect(try blobEntries(directory.child("full.tar")).count == 10)
    }

    @Test func aDeltaOfSomeReferencesLeavesOutOnlyWhatTheyReach() throws {
        try makeBothSides()
        let inventory = try farInventory()
        let delta = directory.child("app-v2.tar")
        let result = try stowage(["export", "--exclude-present", inventory, "-o", delta, "--json", "team/app:v2"], layout: near)
        let report = try JSONDecoder().decode(ExportReport.self, from: Data(result.stdout.utf8))
        #expect(report.blobs == 3 && report.blobsLeftOut == 1, "only the base layer is shared")
        #expect(try blobEntries(delta) == images.newBlobs(of: images.appV2))
    }

    // MARK: - Import

    @Test func theDeltaCompletesTheFarSideAndSkopeoReadsIt() throws {
        try makeBothSides()
        let delta = directory.child("delta.tar")
        try stowage(["export", "--exclude-present", try farInventory(), "-o", delta], layout: near)
        let imported = try stowage(["import", delta, "--json"], layout: far)
        struct Report: Decodable { var blobsAdded: Int; var blobsNotInArchive: Int }
        let reports = try JSONDecoder().decode([Report].self, from: Data(imported.stdout.utf8))
        #expect(reports.first?.blobsAdded == 3)
        #expect(reports.first?.blobsNotInArchive == 7)
        try stowage(["verify"], layout: far)
        // Both sides now hold the same names and bytes.
        #expect(try stowage(["ls", "--json"], layout: far).stdout == stowage(["ls", "--json"], layout: near).stdout)
        #expect(try stowage(["inspect", "--raw", "team/app:v2"], layout: far).stdoutBytes == images.appV2.manifest)
        let inspect = try Command.run("skopeo", ["inspect", "oci:\(far):team/app:v2"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains(images.appV2.descriptor.digest.string))

        // And on to the site's registry.
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let copy = try Command.run(
            "skopeo", ["copy", "--preserve-digests", "--dest-tls-verify=false", "oci:\(far):team/app:v2", "docker://\(registry.host)/team/app:v2"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let raw = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/app:v2"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(raw.stdoutBytes == images.appV2.manifest)
    }

    @Test func aLayoutLackingBlobsRefusesTheDeltaAndStaysAsItWas() throws {
        try makeBothSides()
        let delta = directory.child("delta.tar")
        try stowage(["export", "--exclude-present", try farInventory(), "-o", delta, "team/app:v2"], layout: near)
        // A layout that holds only an unrelated image lacks the base layer.
        let other = directory.child("other")
        try importArchive("unrelated", [(TestImage.make(layers: [pseudoRandomBytes(1000, seed: 9)]), "team/other:v1")], into: other)
        let before = try LayoutSnapshot(other)
        let indexBefore = try bytes("\(other)/index.json")
        let result = try stowage(["import", delta], layout: other, expect: 1)
        let base = ContentHasher.digest(of: images.base).string
        #expect(result.stderr.contains("\(delta) lacks 1 blob that the layout does not have either: \(base)"), "\(result.stderr)")
        #expect(result.stderr.contains("import the full export or the missing images first"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(try bytes("\(other)/index.json") == indexBefore, "index.json is byte-identical")
        #expect(try LayoutSnapshot(other) == before, "no blob, name or temporary file was left")
        try stowage(["verify"], layout: other)
    }

    @Test func everyMissingDigestIsListed() throws {
        try makeBothSides()
        let delta = directory.child("delta.tar")
        try stowage(["export", "--exclude-present", try farInventory(), "-o", delta], layout: near)
        let empty = directory.child("empty")
        let result = try stowage(["import", delta], layout: empty, expect: 1)
        // What the archive leaves out and is not here: the base layer (under app:v2's
        // manifest, which travelled) and the two v1 manifests (whose children stay unknown).
        let missing = [ContentHasher.digest(of: images.base), images.appV1.descriptor.digest, images.tool.descriptor.digest].sorted()
        #expect(result.stderr.contains("lacks 3 blobs that the layout does not have either: \(missing.map(\.string).joined(separator: ", "));"),
                "\(result.stderr)")
        let listed = try JSONSerialization.jsonObject(with: Data(try stowage(["ls", "--json"], layout: empty).stdout.utf8)) as? [Any]
        #expect(listed?.isEmpty == true, "no name was added")
        try stowage(["verify"], layout: empty)
    }

    @Test func aMissingFallbackTagIndexIsListedLikeAnyBlob() throws {
        // regctl's fallback tag sha256-<hex> names an index of referrers; the archive leaves it out.
        let absent = TestArtifact.sbom(of: images.appV1.descriptor).manifest
        var entry = Descriptor(mediaType: .ociIndex, digest: ContentHasher.digest(of: absent), size: Int64(absent.count))
        entry.refName = "team/app:sha256-\(images.appV1.descriptor.digest.hex)"
        let archive = directory.child("fallback.tar")
        try ArchiveBuilder(entries: [
            .file("index.json", try JSONCoding.encode(Index(manifests: [entry]))),
            .file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
        ]).write(to: archive)
        let result = try stowage(["import", archive], layout: directory.child("empty"), expect: 1)
        #expect(result.stderr.contains("lacks 1 blob that the layout does not have either: \(entry.digest)"), "\(result.stderr)")
    }

    // MARK: - Dry run

    struct PlanReport: Decodable {
        struct Image: Decodable { var references: [String]; var digest: String }
        struct Missing: Decodable { var digest: String; var size: Int64; var referencedBy: String }
        var images: [Image]
        var blobsAdded: Int
        var bytesAdded: Int64
        var blobsSkipped: Int
        var dryRun: Bool?
        var missing: [Missing]?
    }

    @Test func aDryRunSaysWhatAnImportWouldDoAndChangesNothing() throws {
        try makeBothSides()
        let delta = directory.child("delta.tar")
        try stowage(["export", "--exclude-present", try farInventory(), "-o", delta], layout: near)
        let before = try LayoutSnapshot(far)
        let result = try stowage(["import", "--dry-run", "--json", delta], layout: far)
        let plan = try #require(try JSONDecoder().decode([PlanReport].self, from: Data(result.stdout.utf8)).first)
        #expect(plan.dryRun == true)
        #expect(plan.blobsAdded == 3)
        #expect(plan.bytesAdded == Int64([images.appV2.config, images.appV2.layers[1], images.appV2.manifest].reduce(0) { $0 + $1.count }))
        #expect(plan.blobsSkipped == 7)
        #expect(plan.missing?.isEmpty == true)
        #expect(Set(plan.images.flatMap(\.references)) == ["team/app:v1", "team/app:v2", "team/tool:v1"])
        let text = try stowage(["import", "--dry-run", delta], layout: far).stdout
        #expect(text.hasPrefix("would import \(delta) (oci-archive): 3 blobs to add"), "\(text)")
        let docker = try stowage(["import", "--dry-run", Fixtures.path("docker.tar")], layout: far, expect: 1)
        #expect(docker.stderr.contains("a dry run reads oci-archives only"), "\(docker.stderr)")
        #expect(try LayoutSnapshot(far) == before, "a dry run changes nothing")
        #expect(try stowage(["ls", "-q"], layout: far).stdout == "team/app:v1\nteam/tool:v1\n")
    }

    @Test func aDryRunListsWhatIsLackingAndFails() throws {
        try makeBothSides()
        let delta = directory.child("delta.tar")
        try stowage(["export", "--exclude-present", try farInventory(), "-o", delta, "team/app:v2"], layout: near)
        let nowhere = directory.child("not-yet")
        let result = try stowage(["import", "--dry-run", "--json", delta], layout: nowhere, expect: 1)
        let plan = try #require(try JSONDecoder().decode([PlanReport].self, from: Data(result.stdout.utf8)).first)
        let base = ContentHasher.digest(of: images.base).string
        #expect(plan.missing?.map(\.digest) == [base])
        #expect(plan.missing?.first?.size == Int64(images.base.count))
        #expect(plan.missing?.first?.referencedBy == "manifest \(images.appV2.descriptor.digest)")
        #expect(result.stderr.contains("lacks 1 blob that the layout does not have either: \(base)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: nowhere), "a dry run creates no layout")
        let text = try stowage(["import", "--dry-run", delta], layout: nowhere, expect: 1).stdout
        #expect(text.contains("lacks 1 blob that the layout does not have either:\n    \(base)"), "\(text)")
    }

    // MARK: - Hostile inventories

    @Test(arguments: [
        ("not JSON", "this is not json", ["is not an inventory"]),
        ("an array", "[]", ["is not an inventory", "not a JSON object"]),
        ("no version", #"{"blobs":[]}"#, ["schemaVersion"]),
        ("a future version", #"{"schemaVersion":2,"blobs":[]}"#, ["schemaVersion 2", "reads schemaVersion 1"]),
        ("a bad digest", #"{"schemaVersion":1,"blobs":[{"digest":"sha256:xyz","size":1}]}"#, ["blobs[0].digest", "sha256:xyz"]),
        ("an uppercase digest", #"{"schemaVersion":1,"blobs":[{"digest":"sha256:\#(String(repeating: "A", count: 64))","size":1}]}"#, ["blobs[0].digest"]),
        ("a negative size", #"{"schemaVersion":1,"blobs":[{"digest":"sha256:\#(String(repeating: "a", count: 64))","size":-5}]}"#, ["blobs[0].size", "-5", "negative"]),
        ("a fractional size", #"{"schemaVersion":1,"blobs":[{"digest":"sha256:\#(String(repeating: "a", count: 64))","size":1.5}]}"#, ["blobs[0].size"]),
        ("no blobs", #"{"schemaVersion":1}"#, ["'blobs' must be an array"]),
        ("two sizes", #"{"schemaVersion":1,"blobs":[{"digest":"sha256:\#(String(repeating: "a", count: 64))","size":1},{"digest":"sha256:\#(String(repeating: "a", count: 64))","size":2}]}"#, ["both 1 and 2 bytes"]),
    ])
    func aHostileInventoryIsRefusedAndNothingIsWritten(_ label: String, _ content: String, _ mentions: [String]) throws {
        try makeBothSides()
        let inventory = directory.child("hostile.json")
        try Data(content.utf8).write(to: URL(fileURLWithPath: inventory))
        let out = directory.child("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let result = try stowage(["export", "--exclude-present", inventory, "-o", "\(out)/delta.tar"], layout: near, expect: nil)
        #expect(result.status == 1, "\(label)")
        #expect(result.stderr.contains("inventory \(inventory)"), "\(label): names the file: \(result.stderr)")
        for mention in mentions { #expect(result.stderr.contains(mention), "\(label): \(result.stderr)") }
        #expect(result.stderr.split(separator: "\n").count == 1, "\(label)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty, "\(label): nothing was written")
    }

    @Test func aMissingInventoryFileIsNamed() throws {
        try makeBothSides()
        let absent = directory.child("absent.json")
        let result = try stowage(["export", "--exclude-present", absent, "-o", directory.child("x.tar")], layout: near, expect: 1)
        #expect(result.stderr.contains("inventory \(absent) does not exist"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.child("x.tar")))
    }

    // MARK: - Registry

    @Test func aRegistrysInventoryMatchesTheLayoutItWasSyncedFrom() throws {
        try makeBothSides()
        // A multi-platform index too, whose manifests the registry inventory fetches by digest.
        try stowage(["import", Fixtures.path("multi.tar")], layout: near)
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        try stowage(["sync", "--tls-verify=false", registry.host], layout: near)
        let fromRegistry = try stowage(
            ["inventory", "--tls-verify=false", "docker://\(registry.host)/team/app", "docker://\(registry.host)/team/tool"],
            layout: near)
        let fromLayout = try stowage(["inventory"], layout: near)
        struct Document: Decodable, Equatable {
            struct Blob: Decodable, Equatable { var digest: String; var size: Int64 }
            struct Name: Decodable, Equatable { var name: String; var digest: String; var mediaType: String }
            var schemaVersion: Int
            var sources: [String]
            var blobs: [Blob]
            var names: [Name]
        }
        let remote = try JSONDecoder().decode(Document.self, from: Data(fromRegistry.stdout.utf8))
        let local = try JSONDecoder().decode(Document.self, from: Data(fromLayout.stdout.utf8))
        #expect(remote.blobs == local.blobs, "the same blobs, with the same sizes")
        #expect(remote.names.count == 4)
        #expect(remote.names.contains { $0.name == "\(registry.host)/team/app:multi" && $0.mediaType.contains("index") })
        #expect(remote.names == local.names.map { Document.Name(name: "\(registry.host)/\($0.name)", digest: $0.digest, mediaType: $0.mediaType) })
        #expect(remote.sources == ["docker://\(registry.host)/team/app", "docker://\(registry.host)/team/tool"])

        // An export against the registry's inventory has nothing left to carry.
        let inventory = directory.child("registry.json")
        try stowage(["inventory", "--tls-verify=false", "-o", inventory, "docker://\(registry.host)/team/app", "docker://\(registry.host)/team/tool"],
                    layout: near)
        let delta = directory.child("nothing.tar")
        try stowage(["export", "--exclude-present", inventory, "-o", delta], layout: near)
        #expect(try blobEntries(delta).isEmpty)

        // One tag only, and a repository the registry does not have.
        let one = try stowage(["inventory", "--tls-verify=false", "docker://\(registry.host)/team/app:v2"], layout: near).stdout
        #expect(one.contains("\(registry.host)/team/app:v2") && !one.contains("team/app:v1"))
        let unknown = try stowage(["inventory", "--tls-verify=false", "docker://\(registry.host)/team/none"], layout: near, expect: 1)
        #expect(unknown.stderr.contains("has no repository team/none"), "\(unknown.stderr)")
        let notRegistry = try stowage(["inventory", "\(registry.host)/team/app"], layout: near, expect: nil)
        #expect(notRegistry.status != 0 && notRegistry.stderr.contains("docker://"), "\(notRegistry.stderr)")
    }

    @Test func aRegistryInventoryTakesTheRegistryOptions() throws {
        try makeBothSides()
        let registry = try RegistryServer.started(.basicAuth(user: "site", password: "s3cret", tls: nil))
        defer { registry.stop() }
        try stowage(["push", "--tls-verify=false", "--creds", "site:s3cret", "team/app:v2", "\(registry.host)/team/app:v2"], layout: near)
        let anonymous = try stowage(["inventory", "--tls-verify=false", "docker://\(registry.host)/team/app"], layout: near, expect: 1)
        #expect(anonymous.stderr.contains(registry.host) && anonymous.stderr.contains("--creds"), "\(anonymous.stderr)")
        let inventory = try stowage(
            ["inventory", "--tls-verify=false", "--creds", "site:s3cret", "docker://\(registry.host)/team/app"], layout: near).stdout
        #expect(inventory.contains("\"name\":\"\(registry.host)/team/app:v2\",\"digest\":\"\(images.appV2.descriptor.digest)\""))
        #expect(!inventory.contains("s3cret"))
    }

    @Test func tagsAreListedPageByPage() throws {
        try makeBothSides()
        let registry = try ReferrersRegistry()
        defer { registry.stop() }
        registry.pageSize = 2
        let tags = ["a", "b", "c", "d", "e"]
        try stowage(["push", "--tls-verify=false", "team/app:v2"] + tags.map { "\(registry.host)/team/app:\($0)" }, layout: near)
        registry.resetRequests()
        let inventory = try stowage(["inventory", "--tls-verify=false", "docker://\(registry.host)/team/app"], layout: near).stdout
        for tag in tags { #expect(inventory.contains("\"name\":\"\(registry.host)/team/app:\(tag)\""), "\(tag)") }
        let pages = registry.requests.filter { $0.uri.contains("/tags/list") }.map(\.uri)
        #expect(pages == ["/v2/team/app/tags/list?n=1000", "/v2/team/app/tags/list?last=b&n=2", "/v2/team/app/tags/list?last=d&n=2"])
        // Configs and layers come from their descriptors: no blob is fetched.
        #expect(!registry.requests.contains { $0.uri.contains("/blobs/") })
    }
}
