import Foundation
import RegistryTestSupport
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// The air-gap trip of a signed image across two real `docker-registry` instances
/// (distribution 2.8, no Referrers API, so the fallback tag scheme is used): the
/// signature and SBOMs made here travel with the image through pull, export, import,
/// verify and sync, and verify with the public key at the far side.
@Suite struct SignatureRoundTripTests {
    let directory = TemporaryDirectory()
    let environment = ["STOWAGE_RETRY_DELAY": "0.05"]

    @discardableResult
    func stowage(_ arguments: [String], layout: String) throws -> CommandResult {
        let result = try StowageBinary.run(arguments + ["--layout", layout], environment: environment)
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    /// A manifest or blob through the registry's own API, with curl.
    func fetch(_ registry: RegistryServer, _ path: String, accept: String? = nil) throws -> (status: Int, body: [UInt8]) {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}"]
        if let accept { arguments += ["-H", "Accept: \(accept)"] }
        let result = try Command.run("curl", arguments + ["\(registry.url)/v2/\(path)"])
        var bytes = result.stdoutBytes
        let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        let status = Int(String(decoding: bytes[(newline + 1)...], as: UTF8.self)) ?? 0
        bytes.removeSubrange(newline...)
        return (status, bytes)
    }

    static let manifestTypes = [MediaType.ociManifest, .ociIndex, .dockerManifest, .dockerManifestList].map(\.rawValue).joined(separator: ",")

    struct Summary: Decodable {
        var blobsSent: Int
        var manifests: Int
        var referrers: Int
        var referrerRequests: Int
    }

    struct SyncReport: Decodable {
        struct Plan: Decodable {
            struct Item: Decodable { var reference: String; var referrers: [String]; var upToDate: Bool?; var missingReferrers: Int? }
            var items: [Item]
        }
        var plan: Plan
        var summary: Summary?
    }

    @Test func aSignedImageTravelsThroughTwoRegistriesAndVerifiesAtTheFarSide() throws {
        let registryA = try RegistryServer.started(.http)
        let registryB = try RegistryServer.started(.http)
        defer {
            registryA.stop()
            registryB.stop()
        }
        let signer = CosignSigner()

        // The builder's side: a signed image with an SBOM and a signature of the SBOM, and an unsigned image.
        let source = directory.child("source")
        try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], layout: source)
        try stowage(["import", "--tag", "team/plain:v1", Fixtures.path("s390x.tar")], layout: source)
        let image = try Layout.open(source).resolve("team/app:v1")
        var subject = image
        subject.annotations = nil
        subject.platform = nil
        let signature = try signer.sign(image.digest, repository: "\(registryA.host)/team/app")
        let sbom = TestArtifact.sbom(of: subject, seed: 7)
        let sbomSignature = TestArtifact.referrer(
            of: sbom.descriptor, artifactType: "application/vnd.example.signature",
            layers: [("application/vnd.example.signature.v1", Array("signature of the sbom".utf8))])
        try ReferrerLayoutTests.add(signature, to: source, name: "team/app:\(CosignTag(subject: image.digest, kind: .signature))")
        try ReferrerLayoutTests.add(sbom, to: source)
        try ReferrerLayoutTests.add(sbomSignature, to: source)
        try stowage(["push", "--tls-verify=false", "team/app:v1", "\(registryA.host)/team/app:v1"], layout: source)
        try stowage(["push", "--tls-verify=false", "team/plain:v1", "\(registryA.host)/team/plain:v1"], layout: source)
        // Registry A has no Referrers API: the SBOM is listed under the fallback tag.
        let fallbackA = try fetch(registryA, "team/app/manifests/\(CosignTag.fallbackTag(for: image.digest))", accept: Self.manifestTypes)
        #expect(fallbackA.status == 200)
        #expect(try JSONCoding.decode(Index.self, from: fallbackA.body, what: "fallback").manifests.map(\.digest) == [sbom.digest])

        // 1. Pull the image only: its signature and SBOMs come along.
        let connected = directory.child("connected")
        let pull = try stowage(["pull", "--tls-verify=false", "--json", "\(registryA.host)/team/app:v1"], layout: connected)
        #expect(pull.stdout.contains("\"referrers\" : 3"), "\(pull.stdout)")
        let pulledName = "\(registryA.host)/team/app:v1"
        let listed = try JSONDecoder().decode(
            [ReferrerSummary].self, from: Data(try stowage(["referrers", "--json", pulledName], layout: connected).stdout.utf8))
        #expect(Set(listed.map(\.digest)) == Set([signature, sbom, sbomSignature].map(\.digest.string)))
        try stowage(["pull", "--tls-verify=false", "\(registryA.host)/team/plain:v1"], layout: connected)

        // 2. Export one reference (and the unsigned one); 3. import on the far side and verify.
        let archive = directory.child("carry.tar")
        try stowage(["export", "-o", archive, pulledName, "\(registryA.host)/team/plain:v1"], layout: connected)
        let site = directory.child("site")
        try stowage(["import", archive], layout: site)
        #expect(try stowage(["verify"], layout: site).stdout.contains("is intact"))

        // 4. Sync to registry B, with A stopped.
        registryA.stop()
        let dryRun = try stowage(["sync", "--tls-verify=false", "--dry-run", "--json", registryB.host], layout: site)
        let plan = try JSONDecoder().decode(SyncReport.self, from: Data(dryRun.stdout.utf8)).plan
        #expect(plan.items.count == 2, "referrers are not images of their own in the plan")
        let cosignTag = CosignTag(subject: image.digest, kind: .signature).description
        #expect(plan.items.first { $0.reference == pulledName }?.referrers.contains(cosignTag) == true)
        #expect(plan.items.first { $0.reference == pulledName }?.referrers.count == 3)
        #expect(plan.items.first { $0.reference == pulledName }?.missingReferrers == 3)
        try stowage(["sync", "--tls-verify=false", registryB.host], layout: site)

        // 5. At B: the signature, fetched through the registry API, verifies with the public
        // key and names the digest B serves for the image.
        let served = try fetch(registryB, "team/app/manifests/v1", accept: Self.manifestTypes)
        #expect(served.status == 200)
        let imageDigestAtB = ContentHasher.digest(of: served.body)
        #expect(imageDigestAtB == image.digest)
        let signatureAtB = try fetch(registryB, "team/app/manifests/\(CosignTag.fallbackTag(for: imageDigestAtB)).sig", accept: Self.manifestTypes)
        #expect(signatureAtB.status == 200)
        let signed = try CosignSigner.verifiedDigest(manifest: signatureAtB.body, publicKeyPEM: signer.publicKeyPEM) { digest in
            let blob = try fetch(registryB, "team/app/blobs/\(digest)")
            guard blob.status == 200, ContentHasher.digest(of: blob.body) == digest else {
                throw StowageError(.notFound, "registry B lacks blob \(digest)")
            }
            return blob.body
        }
        #expect(signed == imageDigestAtB)
        // The SBOM and its signature are listed under their fallback tags at B too.
        let fallbackB = try fetch(registryB, "team/app/manifests/\(CosignTag.fallbackTag(for: imageDigestAtB))", accept: Self.manifestTypes)
        #expect(try JSONCoding.decode(Index.self, from: fallbackB.body, what: "fallback").manifests.map(\.digest) == [sbom.digest])
        let sbomFallbackB = try fetch(registryB, "team/app/manifests/\(CosignTag.fallbackTag(for: sbom.digest))", accept: Self.manifestTypes)
        #expect(try JSONCoding.decode(Index.self, from: sbomFallbackB.body, what: "fallback").manifests.map(\.digest) == [sbomSignature.digest])

        // 6. The unsigned image has nothing to verify.
        let plain = try fetch(registryB, "team/plain/manifests/v1", accept: Self.manifestTypes)
        #expect(plain.status == 200)
        let plainDigest = ContentHasher.digest(of: plain.body)
        #expect(try fetch(registryB, "team/plain/manifests/\(CosignTag.fallbackTag(for: plainDigest)).sig", accept: Self.manifestTypes).status == 404)
        #expect(try fetch(registryB, "team/plain/manifests/\(CosignTag.fallbackTag(for: plainDigest))", accept: Self.manifestTypes).status == 404)

        // A second sync of the unchanged layout sends no blob and no manifest.
        let again = try stowage(["sync", "--tls-verify=false", "--json", registryB.host], layout: site)
        let summary = try #require(try JSONDecoder().decode(SyncReport.self, from: Data(again.stdout.utf8)).summary)
        #expect(summary.blobsSent == 0)
        #expect(summary.manifests == 0)
    }

    @Test func theFallbackTagIndexKeepsWhatOthersPutThere() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let first = directory.child("first")
        try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], layout: first)
        var subject = try Layout.open(first).resolve("team/app:v1")
        subject.annotations = nil
        subject.platform = nil
        let spdx = TestArtifact.sbom(of: subject, seed: 1)
        try ReferrerLayoutTests.add(spdx, to: first)
        try stowage(["push", "--tls-verify=false", "team/app:v1", "\(registry.host)/team/app:v1"], layout: first)
        // Another layout (another tool, another day) adds a second referrer of the same image.
        let second = directory.child("second")
        try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], layout: second)
        let attestation = TestArtifact.referrer(
            of: subject, artifactType: "application/vnd.in-toto+json",
            layers: [("application/vnd.in-toto+json", Array(#"{"_type":"https://in-toto.io/Statement/v1"}"#.utf8))])
        try ReferrerLayoutTests.add(attestation, to: second)
        try stowage(["push", "--tls-verify=false", "team/app:v1", "\(registry.host)/team/app:v1"], layout: second)
        let fallback = try fetch(registry, "team/app/manifests/\(CosignTag.fallbackTag(for: subject.digest))", accept: Self.manifestTypes)
        let listed = try JSONCoding.decode(Index.self, from: fallback.body, what: "fallback").manifests
        #expect(listed.map(\.digest) == [spdx.digest, attestation.digest])
        #expect(listed.map(\.artifactType) == ["application/spdx+json", "application/vnd.in-toto+json"])
        // skopeo still reads the image, and copies it out whole.
        let copy = try Command.run("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/team/app:v1", "oci:\(directory.child("back")):v1"])
        #expect(copy.status == 0, "\(copy.stderr)")
    }

    @Test func pushCarriesOnlyWhatThePolicyAdmits() throws {
        let registry = try RegistryServer.started(.http)
        defer { registry.stop() }
        let source = directory.child("source")
        try stowage(["import", "--tag", "team/app:v1", Fixtures.path("x86_64.tar")], layout: source)
        var subject = try Layout.open(source).resolve("team/app:v1")
        subject.annotations = nil
        subject.platform = nil
        let sbom = TestArtifact.sbom(of: subject, seed: 3)
        let signature = try CosignSigner().sign(subject.digest, repository: "team/app")
        let cosignTag = CosignTag(subject: subject.digest, kind: .signature).description
        try ReferrerLayoutTests.add(sbom, to: source)
        try ReferrerLayoutTests.add(signature, to: source, name: "team/app:\(cosignTag)")

        try stowage(["push", "--tls-verify=false", "--no-referrers", "team/app:v1", "\(registry.host)/bare/app:v1"], layout: source)
        #expect(try fetch(registry, "bare/app/manifests/\(cosignTag)", accept: Self.manifestTypes).status == 404)
        #expect(try fetch(registry, "bare/app/manifests/\(sbom.digest)", accept: Self.manifestTypes).status == 404)

        try stowage(["push", "--tls-verify=false", "--referrers-artifact-type", "application/spdx+json", "team/app:v1", "\(registry.host)/sbom/app:v1"], layout: source)
        #expect(try fetch(registry, "sbom/app/manifests/\(cosignTag)", accept: Self.manifestTypes).status == 404)
        #expect(try fetch(registry, "sbom/app/manifests/\(sbom.digest)", accept: Self.manifestTypes).status == 200)

        let all = try stowage(["push", "--tls-verify=false", "--json", "team/app:v1", "\(registry.host)/all/app:v1"], layout: source)
        #expect(all.stdout.contains("\"referrers\" : 2"), "\(all.stdout)")
        #expect(try fetch(registry, "all/app/manifests/\(cosignTag)", accept: Self.manifestTypes).status == 200)
        // Pushed again: up to date, nothing written.
        let again = try stowage(["push", "--tls-verify=false", "--json", "team/app:v1", "\(registry.host)/all/app:v1"], layout: source)
        #expect(again.stdout.contains("\"manifests\" : 0"), "\(again.stdout)")
        #expect(again.stdout.contains("\"upToDate\" : true"), "\(again.stdout)")
    }
}
