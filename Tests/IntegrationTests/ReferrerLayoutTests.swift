import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Signatures, SBOMs and attestations in layouts and archives, through the real binary:
/// listed, hidden from `ls`, carried by export and import, collected by gc, and still
/// readable by real skopeo and umoci.
@Suite struct ReferrerLayoutTests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    @discardableResult
    func stowage(_ arguments: [String], in layout: String? = nil) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout ?? self.layout])
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    /// The referrers a layout holds for `reference`, by digest.
    func referrers(_ reference: String, in layout: String? = nil, _ extra: [String] = []) throws -> [ReferrerSummary] {
        let result = try stowage(["referrers", reference, "--json"] + extra, in: layout)
        return try JSONDecoder().decode([ReferrerSummary].self, from: Data(result.stdout.utf8))
    }

    /// Stores an artifact in a layout, unnamed (a referrer by subject) or under `name`.
    static func add(_ artifact: TestArtifact, to root: String, name: String? = nil) throws {
        let layout = try Layout.open(root)
        for blob in artifact.allBlobs { try layout.blobs.write(blob) }
        try layout.updateIndex(purpose: "test") { index in
            if let name { index.setReference(try RefName(stored: name), to: artifact.descriptor) } else { index.addUnnamed(artifact.descriptor) }
        }
    }

    /// A single image and a multi-platform index from real fixtures, with: an SBOM of the
    /// image and a signature of that SBOM (by subject), a cosign signature tag of the
    /// image, an SBOM of the index, and an SBOM of the index's arm64 child.
    struct Sample {
        var image: Descriptor
        var index: Descriptor
        var arm64: Descriptor
        var sbom: TestArtifact
        var sbomSignature: TestArtifact
        var cosign: TestArtifact
        var cosignName: String
        var indexSBOM: TestArtifact
        var childSBOM: TestArtifact
        var signer = CosignSigner()
    }

    func prepare() throws -> Sample {
        // An image that is not also a child of the index, so that unnaming it makes it garbage.
        try stowage(["import", "--tag", "team/app:v1.0.0", Fixtures.path("s390x.tar")])
        try stowage(["import", Fixtures.path("multi.tar")])
        let layout = try Layout.open(self.layout)
        let image = try layout.resolve("team/app:v1.0.0")
        let index = try layout.resolve("team/app:multi")
        guard case .index(let multi) = try ContentDocument(layout.blobs.readDocument(index.digest), mediaType: index.mediaType, what: "test") else {
            throw StowageError(.invalidJSON, "multi.tar is not an index")
        }
        let arm64 = try #require(multi.manifests.first { $0.platform?.architecture == "arm64" })
        let signer = CosignSigner()
        let sbom = TestArtifact.sbom(of: image, seed: 1)
        let sbomSignature = TestArtifact.referrer(
            of: sbom.descriptor, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
            layers: [("application/vnd.dev.sigstore.bundle.v0.3+json", Array(#"{"sig":"of the sbom"}"#.utf8))])
        let cosign = try signer.sign(image.digest, repository: "team/app")
        let cosignName = "team/app:\(CosignTag(subject: image.digest, kind: .signature))"
        let indexSBOM = TestArtifact.sbom(of: index, seed: 2)
        let childSBOM = TestArtifact.sbom(of: arm64, seed: 3)
        for artifact in [sbom, sbomSignature, indexSBOM, childSBOM] { try Self.add(artifact, to: self.layout) }
        try Self.add(cosign, to: self.layout, name: cosignName)
        var plain = image
        plain.annotations = nil
        return Sample(
            image: plain, index: index, arm64: arm64, sbom: sbom, sbomSignature: sbomSignature, cosign: cosign,
            cosignName: cosignName, indexSBOM: indexSBOM, childSBOM: childSBOM, signer: signer)
    }

    @Test func referrersAreListedAndHiddenFromLs() throws {
        let sample = try prepare()
        let listed = try referrers("team/app:v1.0.0")
        #expect(Set(listed.map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string, sample.cosign.digest.string])
        #expect(listed.first { $0.digest == sample.cosign.digest.string }?.link == .cosignTag)
        #expect(listed.first { $0.digest == sample.sbom.digest.string }?.artifactType == "application/spdx+json")
        let sboms = try referrers("team/app:v1.0.0", ["--artifact-type", "application/spdx+json"])
        #expect(sboms.map(\.digest) == [sample.sbom.digest.string, sample.sbomSignature.digest.string])
        let table = try stowage(["referrers", "team/app:v1.0.0"]).stdout
        #expect(table.contains("cosign-tag \(sample.cosignName)"))
        #expect(table.contains("application/spdx+json"))

        let ls = try stowage(["ls"]).stdout
        #expect(!ls.contains(sample.sbom.digest.string))
        #expect(ls.contains(sample.cosignName))
        let all = try stowage(["ls", "--all"]).stdout
        #expect(all.contains(sample.sbom.digest.string))
        #expect(all.contains("<referrer of"))
        #expect(try stowage(["verify"]).stdout.contains("is intact"))
    }

    @Test func exportCarriesReferrersAndImportKeepsThem() throws {
        let sample = try prepare()
        let archive = directory.child("app.tar")
        try stowage(["export", "-o", archive, "team/app:v1.0.0", "team/app:multi"])
        let second = directory.child("second")
        let imported = try stowage(["import", archive], in: second).stdout
        #expect(imported.contains("referrer of \(sample.image.digest)"))
        #expect(Set(try referrers("team/app:v1.0.0", in: second).map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string, sample.cosign.digest.string])
        let ofIndex = try referrers("team/app:multi", in: second)
        #expect(Set(ofIndex.map(\.digest)) == [sample.indexSBOM.digest.string, sample.childSBOM.digest.string])
        #expect(ofIndex.first { $0.digest == sample.childSBOM.digest.string }?.subject == sample.arm64.digest.string)
        #expect(try referrers(sample.arm64.digest.string, in: second).map(\.digest) == [sample.childSBOM.digest.string])
        #expect(try stowage(["verify"], in: second).status == 0)

        // Filtered and left behind.
        let filtered = directory.child("sboms.tar")
        try stowage(["export", "-o", filtered, "--referrers-artifact-type", "application/spdx+json", "team/app:v1.0.0"])
        let third = directory.child("third")
        try stowage(["import", filtered], in: third)
        #expect(Set(try referrers("team/app:v1.0.0", in: third).map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string])
        let bare = directory.child("bare.tar")
        try stowage(["export", "-o", bare, "--no-referrers", "team/app:v1.0.0"])
        let fourth = directory.child("fourth")
        try stowage(["import", bare], in: fourth)
        #expect(try referrers("team/app:v1.0.0", in: fourth).isEmpty)
        // And on import: --no-referrers takes the image alone.
        let fifth = directory.child("fifth")
        try stowage(["import", "--no-referrers", archive], in: fifth)
        #expect(try referrers("team/app:v1.0.0", in: fifth).isEmpty)
        #expect(try stowage(["ls", "--all", "--json"], in: fifth).stdout.contains(sample.sbom.digest.string) == false)
    }

    @Test func exportOfOnePlatformKeepsItsReferrersAndTheIndexs() throws {
        let sample = try prepare()
        let archive = directory.child("arm64.tar")
        try stowage(["export", "-o", archive, "--platform", "linux/arm64", "team/app:multi"])
        let second = directory.child("second")
        try stowage(["import", archive], in: second)
        let layout = try Layout.open(second)
        let digests = Set(try layout.readIndex().manifests.map(\.digest))
        #expect(digests.contains(sample.arm64.digest))
        #expect(digests.contains(sample.childSBOM.digest))
        #expect(digests.contains(sample.indexSBOM.digest))
        #expect(!digests.contains(sample.sbom.digest))
        // The index's SBOM came without its subject: verify passes and warns.
        let verify = try stowage(["verify"], in: second).stdout
        #expect(verify.contains("warning: subject \(sample.index.digest)"), "\(verify)")
        #expect(verify.contains("is intact"))
    }

    @Test func gcCollectsReferrersWithTheirSubject() throws {
        let sample = try prepare()
        try stowage(["gc", "--grace", "0"])
        #expect(try referrers("team/app:v1.0.0").count == 3)
        try stowage(["rm", "team/app:v1.0.0"])
        let output = try stowage(["gc", "--grace", "0"]).stdout
        #expect(output.contains("removed referrer \(sample.cosignName)"))
        #expect(output.contains("removed referrer \(sample.sbom.digest)"))
        #expect(output.contains("3 referrer entries of index.json"), "\(output)")
        let layout = try Layout.open(self.layout)
        for artifact in [sample.sbom, sample.sbomSignature, sample.cosign] {
            for blob in artifact.allBlobs where blob != TestArtifact.emptyConfig {
                #expect(try !layout.blobs.contains(ContentHasher.digest(of: blob)))
            }
        }
        #expect(try layout.blobs.contains(sample.indexSBOM.digest))
        #expect(try stowage(["verify"]).status == 0)
    }

    @Test func copyBetweenLayoutsAndArchivesCarriesReferrers() throws {
        let sample = try prepare()
        let copied = directory.child("copied")
        let copy = try StowageBinary.run(["copy", "oci:\(layout):team/app:v1.0.0", "oci:\(copied):mirror/app:v1"])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(Set(try referrers("mirror/app:v1", in: copied).map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string, sample.cosign.digest.string])
        #expect(try stowage(["verify"], in: copied).status == 0)

        let archive = directory.child("copied.tar")
        let toArchive = try StowageBinary.run(["copy", "oci:\(layout):team/app:v1.0.0", "oci-archive:\(archive):mirror/app:v2"])
        #expect(toArchive.status == 0, "\(toArchive.stderr)")
        let unpacked = directory.child("unpacked")
        try stowage(["import", archive], in: unpacked)
        #expect(try referrers("mirror/app:v2", in: unpacked).count == 3)

        let bare = directory.child("bare")
        let noReferrers = try StowageBinary.run(["copy", "--no-referrers", "oci:\(layout):team/app:v1.0.0", "oci:\(bare):mirror/app:v1"])
        #expect(noReferrers.status == 0, "\(noReferrers.stderr)")
        #expect(try referrers("mirror/app:v1", in: bare).isEmpty)
        // From an archive: the referrers it holds come along, and do not count as images to choose from.
        let fromArchive = directory.child("from-archive")
        let copyBack = try StowageBinary.run(["copy", "oci-archive:\(archive)", "oci:\(fromArchive):back/app:v1"])
        #expect(copyBack.status == 0, "\(copyBack.stderr)")
        #expect(try referrers("back/app:v1", in: fromArchive).count == 3)
    }

    @Test func skopeoAndUmociStillReadALayoutWithReferrers() throws {
        _ = try prepare()
        for reference in ["team/app:v1.0.0", "team/app:multi"] {
            let inspect = try Command.run("skopeo", ["inspect", "--raw", "oci:\(layout):\(reference)"])
            #expect(inspect.status == 0, "skopeo inspect \(reference): \(inspect.stderr)")
        }
        let umoci = try Command.run("umoci", ["ls", "--layout", layout])
        #expect(umoci.status == 0, "umoci ls: \(umoci.stderr)")
        #expect(umoci.stdout.contains("team/app:v1.0.0"))
        let copy = try Command.run("skopeo", ["copy", "--all", "oci:\(layout):team/app:multi", "oci:\(directory.child("copy")):multi"])
        #expect(copy.status == 0, "skopeo copy: \(copy.stderr)")
    }

    @Test func archivesWithFallbackTagIndexesImportTheirReferrers() throws {
        // regctl writes the referrers of an image as an index tagged sha256-<hex>.
        let image = TestImage.make(layers: [pseudoRandomBytes(300, seed: 5)])
        let sbom = TestArtifact.sbom(of: image.descriptor, seed: 9)
        var tagIndex = Index(manifests: [sbom.descriptor])
        tagIndex.mediaType = .ociIndex
        let tagIndexBytes = try JSONCoding.encode(tagIndex)
        var builder = ArchiveBuilder.ociArchive(image, refName: "team/regctl:v1")
        for blob in sbom.allBlobs + [tagIndexBytes] { builder.addBlob(blob) }
        var index = Index(manifests: [image.descriptor])
        index.manifests[0].refName = "team/regctl:v1"
        var tagEntry = Descriptor(mediaType: .ociIndex, digest: ContentHasher.digest(of: tagIndexBytes), size: Int64(tagIndexBytes.count))
        tagEntry.refName = "team/regctl:\(CosignTag.fallbackTag(for: image.descriptor.digest))"
        index.manifests.append(tagEntry)
        builder.replace("index.json", with: try JSONCoding.encode(index))
        let archive = directory.child("regctl.tar")
        try builder.write(to: archive)
        try stowage(["import", archive])
        #expect(try referrers("team/regctl:v1").map(\.digest) == [sbom.digest.string])
        #expect(try referrers("team/regctl:v1").first?.link == .subject)
        #expect(!(try stowage(["ls"]).stdout.contains("sha256-")))
    }
}
