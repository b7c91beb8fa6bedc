import Foundation
import StowageModel
import StowageTestSupport
import Testing

/// `stowage verify` on real layouts: every corruption found, with the right exit status and message.
@Suite struct VerifyCommandTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    // Digests of the fixtures (Fixtures/README.md).
    static let v1Manifest = "340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c"
    static let amd64Layer = "bf3e9a84b932696af8042492ae034c6d33a99f1d6e4189885155643f6be2837a"
    static let baseLayer = "7e0c4b90eaf6053ae6f7ca4cd3cc6af7dfe0fca9d6f27ef71e42e6dd796dc5f4"
    static let multiIndex = "9a32f6786e4077257c9dedaee03f54903261bc63c7679f67b05b3a70484655d1"
    static let arm64Manifest = "e7288e276dc3d37f7543e98ff1d662548a890d944542cf379977aa28c931912a"
    static let ppc64leManifest = "7bb7a1d9675f9f81c69561ed639c826ec9243dea4c3b5227cef0ffedc42285bd"
    static let ppc64leLayer = "60a94090f544e240fb0043dc5d0de4bab0acda5d0ae48da14213e2a0c39cd42e"

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout])
    }

    func blob(_ hex: String) -> String { "\(layout)/blobs/sha256/\(hex)" }

    /// team/app:v1.0.0 (a manifest) and team/app:multi (an index of three manifests).
    func importFixtures() throws {
        let result = try stowage(["import", Fixtures.path("named.tar"), Fixtures.path("multi.tar")])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func edit(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Exit status 1, problems on stdout, one line on stderr naming the first.
    func expectFailure(_ result: CommandResult, problems: Int, mentioning words: [String]) {
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("problem: ") }
        #expect(lines.count == problems, "\(result.stdout)")
        for word in words { #expect(result.stdout.contains(word), "stdout mentions \(word): \(result.stdout)") }
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("stowage: error: layout "), "\(result.stderr)")
        #expect(result.stderr.contains("failed verification with \(problems) problem"))
    }

    @Test func aCleanLayoutExitsZero() throws {
        try importFixtures()
        let result = try stowage(["verify"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("is intact: 2 images, 11 blobs checked"))
        #expect(result.stderr.isEmpty)
    }

    @Test func aFlippedByteInALayer() throws {
        try importFixtures()
        try edit(blob(Self.amd64Layer)) { $0[100] ^= 0x20 }
        let result = try stowage(["verify"])
        expectFailure(result, problems: 1, mentioning: [
            "layer sha256:\(Self.amd64Layer) of manifest sha256:\(Self.v1Manifest)",
            "reached from team/app:v1.0.0 and 1 other reference", "is corrupt: its content hashes to sha256:",
        ])
        // Sizes are right: --fast does not see it.
        #expect(try stowage(["verify", "--fast"]).status == 0)
    }

    @Test func aTruncatedBlob() throws {
        try importFixtures()
        _ = truncate(blob(Self.baseLayer), 50)
        let result = try stowage(["verify"])
        expectFailure(result, problems: 2, mentioning: [
            "layer sha256:\(Self.baseLayer)", "is 50 bytes, but its descriptor says 370", "is corrupt",
        ])
        expectFailure(try stowage(["verify", "--fast"]), problems: 1, mentioning: ["is 50 bytes"])
    }

    @Test func aMissingBlob() throws {
        try importFixtures()
        try FileManager.default.removeItem(atPath: blob(Self.ppc64leLayer))
        let result = try stowage(["verify"])
        expectFailure(result, problems: 1, mentioning: [
            "layer sha256:\(Self.ppc64leLayer) of manifest sha256:\(Self.ppc64leManifest) (reached from team/app:multi) is missing",
        ])
    }

    @Test func aMissingManifest() throws {
        try importFixtures()
        try FileManager.default.removeItem(atPath: blob(Self.arm64Manifest))
        let result = try stowage(["verify"])
        expectFailure(result, problems: 1, mentioning: [
            "manifest sha256:\(Self.arm64Manifest) of index sha256:\(Self.multiIndex) (reached from team/app:multi) is missing",
            "note: 2 blobs are not referenced",
        ])
        // The named image's manifest, straight from index.json.
        try FileManager.default.removeItem(atPath: blob(Self.v1Manifest))
        expectFailure(try stowage(["verify"]), problems: 2, mentioning: [
            "manifest sha256:\(Self.v1Manifest) of index.json (reached from team/app:v1.0.0 and 1 other reference) is missing",
        ])
    }

    @Test func aWrongSizeInADescriptor() throws {
        try importFixtures()
        let text = try String(contentsOfFile: "\(layout)/index.json", encoding: .utf8)
        let changed = text.replacingOccurrences(of: "\"size\":753", with: "\"size\":754")
        #expect(changed != text)
        try changed.write(toFile: "\(layout)/index.json", atomically: true, encoding: .utf8)
        expectFailure(try stowage(["verify", "--fast"]), problems: 1, mentioning: [
            "manifest sha256:\(Self.v1Manifest) of index.json (reached from team/app:v1.0.0) is 753 bytes, but its descriptor says 754",
        ])
    }

    @Test func anInvalidIndex() throws {
        try importFixtures()
        try "{\"schemaVersion\":2,\"manifests\":[{\"digest\":".write(toFile: "\(layout)/index.json", atomically: true, encoding: .utf8)
        let result = try stowage(["verify"])
        expectFailure(result, problems: 1, mentioning: ["index.json is not valid JSON", "note: 11 blobs are not referenced"])
    }

    @Test func aDuplicateReference() throws {
        try importFixtures()
        let text = try String(contentsOfFile: "\(layout)/index.json", encoding: .utf8)
        try text.replacingOccurrences(of: "team/app:multi", with: "team/app:v1.0.0")
            .write(toFile: "\(layout)/index.json", atomically: true, encoding: .utf8)
        let result = try stowage(["verify"])
        expectFailure(result, problems: 1, mentioning: [
            "reference team/app:v1.0.0 appears on 2 entries of index.json (sha256:\(Self.v1Manifest), sha256:\(Self.multiIndex))",
        ])
    }

    @Test func strayFilesUnderBlobs() throws {
        try importFixtures()
        try "x".write(toFile: blob("README"), atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(layout)/blobs/sha512", withIntermediateDirectories: true)
        expectFailure(try stowage(["verify"]), problems: 2, mentioning: [
            "blobs/sha256/README is not named by a valid sha256 digest", "blobs/sha512 holds blobs of the digest algorithm 'sha512'",
        ])
    }

    @Test func everyProblemAtOnceAsJSON() throws {
        try importFixtures()
        try edit(blob(Self.amd64Layer)) { $0[0] ^= 1 }
        try FileManager.default.removeItem(atPath: blob(Self.ppc64leLayer))
        _ = truncate(blob(Self.baseLayer), 1)
        try FileManager.default.removeItem(atPath: "\(layout)/oci-layout")
        let result = try stowage(["verify", "--json"])
        #expect(result.status == 1)
        struct Report: Decodable {
            struct Problem: Decodable { var kind: String; var blob: String?; var reference: String?; var references: [String]; var message: String }
            var clean: Bool
            var problems: [Problem]
            var blobsChecked: Int
            var hashed: Bool
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(!report.clean)
        #expect(report.hashed)
        // The layout's own files first, then each blob's problems together, blobs in digest order.
        #expect(report.problems.map(\.kind) == ["layoutFile", "missingBlob", "sizeMismatch", "digestMismatch", "digestMismatch"])
        let missing = try #require(report.problems.first { $0.kind == "missingBlob" })
        #expect(missing.blob == "sha256:\(Self.ppc64leLayer)")
        #expect(missing.reference == "team/app:multi")
        let base = report.problems.filter { $0.blob == "sha256:\(Self.baseLayer)" }
        #expect(base.count == 2)
        #expect(Set(base.flatMap(\.references)) == ["team/app:v1.0.0", "team/app:multi"])
        #expect(result.stderr.contains("failed verification with 5 problems"))
    }

    @Test func aLayoutThatDoesNotExist() throws {
        let result = try StowageBinary.run(["verify", "--layout", directory.child("nowhere")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("nowhere"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func verifyWritesNothing() throws {
        try importFixtures()
        try FileManager.default.removeItem(atPath: "\(layout)/.stowage")
        let before = try LayoutSnapshot(layout)
        #expect(try stowage(["verify"]).status == 0)
        try edit(blob(Self.amd64Layer)) { $0[0] ^= 1 }
        let broken = try LayoutSnapshot(layout)
        #expect(try stowage(["verify"]).status == 1)
        #expect(try LayoutSnapshot(layout) == broken)
        #expect(before != broken)
        #expect(!FileManager.default.fileExists(atPath: "\(layout)/.stowage"))
    }

    @Test func aDescriptorThatMislabelsItsDocument() throws {
        try importFixtures()
        // Another tool wrote an entry that calls the image manifest an index.
        try edit("\(layout)/index.json") { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let entry = #""digest":"sha256:\#(Self.v1Manifest)","mediaType":"application/vnd.oci.image.manifest.v1+json""#
            let mislabelled = #""digest":"sha256:\#(Self.v1Manifest)","mediaType":"application/vnd.oci.image.index.v1+json""#
            #expect(text.contains(entry), "\(text)")
            bytes = Array(text.replacingOccurrences(of: entry, with: mislabelled).utf8)
        }
        let result = try stowage(["verify"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("sha256:\(Self.v1Manifest)"), "\(result.stdout)")
        #expect(result.stdout.contains("labelled application/vnd.oci.image.index.v1+json"), "\(result.stdout)")
        #expect(result.stdout.contains("application/vnd.oci.image.manifest.v1+json"), "\(result.stdout)")
        // gc cannot tell what the entry reaches, so it removes nothing.
        let gc = try stowage(["gc", "--grace", "0"])
        #expect(gc.status != 0)
        #expect(gc.stderr.contains("gc removed nothing"), "\(gc.stderr)")
    }
}
