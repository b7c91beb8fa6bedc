import Foundation
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Referrers (signatures, SBOMs, attestations) stay while their subject is reachable
/// from a named image, go with it, and never keep it alive themselves.
@Suite struct ReferrerRetentionTests {
    /// A named image with an SBOM (by subject), a signature of that SBOM (by subject),
    /// and a cosign signature tag; plus an unrelated named image.
    struct Sample {
        let fixture: IntegrityLayout
        let image = integrityImage(1)
        let other = integrityImage(2, architecture: "arm64")
        let sbom: TestArtifact
        let sbomSignature: TestArtifact
        let cosign: TestArtifact
        let cosignName: String

        init() throws {
            fixture = try IntegrityLayout()
            let subject = try fixture.store(image)
            try fixture.name(subject, "team/app:v1")
            try fixture.name(try fixture.store(other), "team/other:v1")
            sbom = TestArtifact.sbom(of: image.descriptor)
            sbomSignature = TestArtifact.referrer(
                of: sbom.descriptor, artifactType: "application/vnd.example.signature",
                layers: [("application/vnd.example.signature.v1", Array("sig of sbom".utf8))])
            cosign = try CosignSigner().sign(image.descriptor.digest, repository: "team/app")
            cosignName = "team/app:\(CosignTag(subject: image.descriptor.digest, kind: .signature))"
            for artifact in [sbom, sbomSignature] { try fixture.addUnnamed(try store(artifact)) }
            try fixture.name(try store(cosign), cosignName)
        }

        func store(_ artifact: TestArtifact) throws -> Descriptor {
            for blob in artifact.allBlobs { try fixture.layout.blobs.write(blob) }
            var descriptor = artifact.descriptor
            descriptor.artifactType = nil
            return descriptor
        }

        var referrerBlobs: Set<String> {
            Set((sbom.allBlobs + sbomSignature.allBlobs + cosign.allBlobs).map { ContentHasher.digest(of: $0).hex })
        }

        func collect(grace: Double = 0, dryRun: Bool = false) throws -> GCReport {
            try GarbageCollector(layout: fixture.layout, grace: grace, dryRun: dryRun).collect()
        }
    }

    @Test func referrersStayWhileTheirSubjectIsNamedAndGoWithIt() throws {
        let sample = try Sample()
        var report = try sample.collect()
        #expect(report.removedBlobs.isEmpty)
        #expect(report.removedReferrers.isEmpty)
        #expect(sample.referrerBlobs.isSubset(of: sample.fixture.blobNames()))

        _ = try sample.fixture.layout.removeReference("team/app:v1")
        // A dry run names what would go and changes nothing.
        let indexBefore = try sample.fixture.layout.readIndexBytes()
        report = try sample.collect(dryRun: true)
        #expect(Set(report.removedReferrers.map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string, sample.cosign.digest.string])
        #expect(try sample.fixture.layout.readIndexBytes() == indexBefore)

        report = try sample.collect()
        let removed = Set(report.removedBlobs.compactMap { $0.digest.map { String($0.dropFirst(7)) } })
        let imageOnly = Set(digests(of: sample.image).map(\.hex))
        #expect(removed == sample.referrerBlobs.union(imageOnly))
        #expect(report.removedReferrers.first { $0.link == .cosignTag }?.reference == sample.cosignName)
        let left = try sample.fixture.layout.readIndex().manifests
        #expect(left.map(\.refName) == ["team/other:v1"])
        #expect(try LayoutVerifier(root: sample.fixture.root).verify().clean)
    }

    @Test func aReferrerDoesNotKeepItsSubjectAlive() throws {
        let sample = try Sample()
        _ = try sample.fixture.layout.removeReference("team/app:v1")
        // Naming the SBOM keeps the SBOM (and its signature), not the image it describes.
        try sample.fixture.name(sample.sbom.descriptor, "team/app:sbom")
        let report = try sample.collect()
        let removed = Set(report.removedBlobs.compactMap { $0.digest.map { String($0.dropFirst(7)) } })
        #expect(removed.isSuperset(of: Set(digests(of: sample.image).map(\.hex))))
        #expect(try sample.fixture.layout.blobs.contains(sample.sbomSignature.digest))
        #expect(try sample.fixture.layout.readIndex().manifests.contains { $0.digest == sample.sbomSignature.digest })
        #expect(!sample.fixture.blobNames().contains(sample.cosign.digest.hex))
        let report2 = try LayoutVerifier(root: sample.fixture.root).verify()
        #expect(report2.clean)
        #expect(report2.warnings.contains { $0.contains(sample.image.descriptor.digest.string) })
    }

    @Test func aYoungReferrerWaitsForItsSubject() throws {
        let sample = try Sample()
        _ = try sample.fixture.layout.removeReference("team/app:v1")
        let report = try sample.collect(grace: 3600)
        #expect(report.removedReferrers.isEmpty)
        #expect(try sample.fixture.layout.readIndex().manifests.count == 4)
    }

    @Test func referrersListsEveryLinkAndFilters() throws {
        let sample = try Sample()
        let all = try sample.fixture.layout.referrers(of: "team/app:v1")
        #expect(Set(all.map(\.digest)) == [sample.sbom.digest.string, sample.sbomSignature.digest.string, sample.cosign.digest.string])
        let sbom = try #require(all.first { $0.digest == sample.sbom.digest.string })
        #expect(sbom.link == .subject)
        #expect(sbom.artifactType == "application/spdx+json")
        #expect(sbom.subject == sample.image.descriptor.digest.string)
        #expect(sbom.annotations?["org.opencontainers.image.created"] != nil)
        #expect(all.first { $0.digest == sample.sbomSignature.digest.string }?.subject == sample.sbom.digest.string)
        #expect(all.first { $0.digest == sample.cosign.digest.string }?.link == .cosignTag)
        #expect(all.first { $0.digest == sample.cosign.digest.string }?.reference == sample.cosignName)

        let filtered = try sample.fixture.layout.referrers(of: "team/app:v1", artifactType: "application/spdx+json")
        #expect(filtered.map(\.digest) == [sample.sbom.digest.string, sample.sbomSignature.digest.string])
        #expect(try sample.fixture.layout.referrers(of: "team/other:v1").isEmpty)
    }

    @Test func lsHidesUnnamedReferrersUnlessAskedTo() throws {
        let sample = try Sample()
        let shown = try sample.fixture.layout.summaries()
        #expect(Set(shown.compactMap(\.reference)) == ["team/app:v1", "team/other:v1", sample.cosignName])
        #expect(shown.count == 3)
        #expect(shown.first { $0.reference == sample.cosignName }?.platforms == [], "a signature runs nowhere")
        let all = try sample.fixture.layout.summaries(includeReferrers: true)
        #expect(all.count == 5)
        #expect(all.filter { $0.reference == nil }.allSatisfy { $0.referrerOf != nil })
    }

    @Test func inIndexAttestationsAreListedAndKept() throws {
        let fixture = try IntegrityLayout()
        let image = integrityImage(3)
        let attestation = TestArtifact.referrer(
            of: nil, artifactType: "application/vnd.in-toto+json",
            layers: [("application/vnd.in-toto+json", Array(#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.utf8))])
        for blob in attestation.allBlobs { try fixture.layout.blobs.write(blob) }
        var entry = Descriptor(mediaType: .ociManifest, digest: attestation.digest, size: Int64(attestation.manifest.count),
                               platform: Platform(os: "unknown", architecture: "unknown"))
        entry.annotations = [InIndexAttestation.referenceDigestAnnotation: image.descriptor.digest.string,
                             InIndexAttestation.referenceTypeAnnotation: "attestation-manifest"]
        let index = try fixture.storeIndex([try fixture.store(image, platform: Platform(os: "linux", architecture: "amd64")), entry])
        try fixture.name(index, "team/app:v1")
        let listed = try fixture.layout.referrers(of: "team/app:v1")
        #expect(listed.map(\.link) == [.inIndexAttestation])
        #expect(listed.first?.subject == image.descriptor.digest.string)
        #expect(try GarbageCollector(layout: fixture.layout, grace: 0).collect().removedBlobs.isEmpty)
    }
}
