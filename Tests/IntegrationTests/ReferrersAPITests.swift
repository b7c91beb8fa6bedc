import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Pulling referrers from a registry with the OCI 1.1 Referrers API (paged, filtered),
/// and from one that answers it with 404 (fallback tag and cosign tags), against the
/// in-process `ReferrersRegistry`: Debian's distribution 2.8 has no Referrers API.
@Suite struct ReferrersAPITests {
    let directory = TemporaryDirectory()
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout, "--tls-verify=false"], environment: ["STOWAGE_RETRY_DELAY": "0.05"])
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    func referrers(_ reference: String) throws -> [ReferrerSummary] {
        let result = try StowageBinary.run(["referrers", reference, "--json", "--layout", layout])
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode([ReferrerSummary].self, from: Data(result.stdout.utf8))
    }

    /// An image with two SBOMs of different types and a signature of the first, in `team/app`.
    struct Served {
        let registry: ReferrersRegistry
        let image = TestImage.make(layers: [pseudoRandomBytes(700, seed: 21)])
        let spdx: TestArtifact
        let cyclone: TestArtifact
        let signature: TestArtifact

        init() throws {
            registry = try ReferrersRegistry()
            spdx = TestArtifact.sbom(of: image.descriptor, seed: 1)
            cyclone = TestArtifact.referrer(
                of: image.descriptor, artifactType: "application/vnd.cyclonedx+json",
                layers: [("application/vnd.cyclonedx+json", Array(#"{"bomFormat":"CycloneDX"}"#.utf8))])
            signature = TestArtifact.referrer(
                of: spdx.descriptor, artifactType: "application/vnd.example.signature",
                layers: [("application/vnd.example.signature.v1", Array("signature of the spdx sbom".utf8))])
            for blob in image.blobs.dropLast() { registry.putBlob(blob) }
            registry.putManifest(image.manifest, mediaType: MediaType.ociManifest.rawValue, repository: "team/app", tag: "v1")
            for artifact in [spdx, cyclone, signature] {
                for blob in artifact.blobs { registry.putBlob(blob) }
                registry.putManifest(artifact.manifest, mediaType: artifact.mediaType.rawValue, repository: "team/app")
            }
        }

        var referrerRequests: [ReferrersRegistry.Request] { registry.requests.filter { $0.uri.contains("/referrers/") } }
        var tagHeads: [ReferrersRegistry.Request] {
            registry.requests.filter { $0.method == "HEAD" && $0.uri.contains("/manifests/sha256-") }
        }
    }

    @Test func referrersComeThroughThePagedReferrersAPI() throws {
        let served = try Served()
        defer { served.registry.stop() }
        served.registry.pageSize = 1
        _ = try stowage(["pull", "\(served.registry.host)/team/app:v1"])
        let name = "\(served.registry.host)/team/app:v1"
        let found = try referrers(name)
        #expect(Set(found.map(\.digest)) == Set([served.spdx, served.cyclone, served.signature].map(\.digest.string)))
        #expect(found.allSatisfy { $0.link == .subject })
        // Two pages for the image's two referrers, then one for each referrer (they may be subjects too).
        #expect(served.referrerRequests.contains { $0.uri.contains("page=1") })
        #expect(served.referrerRequests.count == 5)
        #expect(served.tagHeads.isEmpty, "no fallback or cosign tags where the Referrers API answers")
        #expect(try StowageBinary.run(["verify", "--layout", layout]).status == 0)
    }

    @Test func anArtifactTypeFilterIsHonouredEvenWhereTheRegistryIgnoresIt() throws {
        let served = try Served()
        defer { served.registry.stop() }
        served.registry.filtersArtifactType = false
        _ = try stowage(["pull", "--referrers-artifact-type", "application/spdx+json", "\(served.registry.host)/team/app:v1"])
        let found = try referrers("\(served.registry.host)/team/app:v1")
        #expect(Set(found.map(\.digest)) == [served.spdx.digest.string, served.signature.digest.string])
        #expect(served.referrerRequests.first?.uri.contains("artifactType=application%2Fspdx%2Bjson") == true)
    }

    @Test func withoutTheAPIFallbackAndCosignTagsAreUsed() throws {
        let served = try Served()
        defer { served.registry.stop() }
        served.registry.referrersAPI = false
        // The fallback tag lists the SPDX SBOM; a cosign signature has its tag.
        var fallback = Index(manifests: [served.spdx.descriptor])
        fallback.mediaType = .ociIndex
        served.registry.putManifest(
            try JSONCoding.encode(fallback), mediaType: MediaType.ociIndex.rawValue, repository: "team/app",
            tag: CosignTag.fallbackTag(for: served.image.descriptor.digest))
        let cosign = try CosignSigner().sign(served.image.descriptor.digest, repository: "team/app")
        for blob in cosign.blobs { served.registry.putBlob(blob) }
        let cosignTag = CosignTag(subject: served.image.descriptor.digest, kind: .signature).description
        served.registry.putManifest(cosign.manifest, mediaType: MediaType.ociManifest.rawValue, repository: "team/app", tag: cosignTag)

        let pull = try stowage(["pull", "--json", "\(served.registry.host)/team/app:v1"])
        let found = try referrers("\(served.registry.host)/team/app:v1")
        #expect(Set(found.map(\.digest)) == [served.spdx.digest.string, cosign.digest.string])
        #expect(found.first { $0.link == .cosignTag }?.reference == "\(served.registry.host)/team/app:\(cosignTag)")
        // The missing API is asked about once; then 4 HEADs per subject (the image, the SBOM).
        #expect(served.referrerRequests.count == 1)
        #expect(served.tagHeads.count == 8)
        #expect(pull.stdout.contains("\"referrerRequests\" : 9"))
    }

    @Test func copyFromARegistryCarriesReferrers() throws {
        let served = try Served()
        defer { served.registry.stop() }
        let result = try StowageBinary.run([
            "copy", "--tls-verify=false", "docker://\(served.registry.host)/team/app:v1", "oci:\(layout):team/app:v1",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try referrers("team/app:v1").count == 3)
    }

    @Test func pushToARegistryWithTheAPIWritesNoFallbackTag() throws {
        let served = try Served()
        defer { served.registry.stop() }
        _ = try stowage(["pull", "\(served.registry.host)/team/app:v1"])
        _ = try stowage(["push", "\(served.registry.host)/team/app:v1", "\(served.registry.host)/copy/app:v1"])
        let puts = served.registry.requests.filter { $0.method == "PUT" && $0.uri.contains("/copy/app/manifests/") }
        // The image by tag, then each referrer by digest: the registry answers OCI-Subject, so no fallback tag.
        #expect(puts.count == 4)
        #expect(!puts.contains { $0.uri.contains("/manifests/sha256-") })
        // And the copy lists them through its Referrers API.
        let again = directory.child("again")
        let pull = try StowageBinary.run(["pull", "--tls-verify=false", "--layout", again, "\(served.registry.host)/copy/app:v1"])
        #expect(pull.status == 0, "\(pull.stderr)")
        let listed = try StowageBinary.run(["referrers", "--json", "--layout", again, "\(served.registry.host)/copy/app:v1"])
        #expect(try JSONDecoder().decode([ReferrerSummary].self, from: Data(listed.stdout.utf8)).count == 3)
    }

    @Test func noReferrersAsksNothing() throws {
        let served = try Served()
        defer { served.registry.stop() }
        _ = try stowage(["pull", "--no-referrers", "\(served.registry.host)/team/app:v1"])
        #expect(try referrers("\(served.registry.host)/team/app:v1").isEmpty)
        #expect(served.referrerRequests.isEmpty)
    }
}
