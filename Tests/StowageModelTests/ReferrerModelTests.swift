import StowageModel
import Testing

@Suite struct ReferrerModelTests {
    let digest = try! Digest("sha256:" + String(repeating: "ab", count: 32))

    @Test func cosignTagsNameTheirSubject() throws {
        let tag = CosignTag(subject: digest, kind: .signature)
        #expect(tag.description == "sha256-\(digest.hex).sig")
        #expect(CosignTag(tag: tag.description) == tag)
        #expect(CosignTag(name: "registry:5000/team/app:\(tag)") == tag)
        #expect(CosignTag(name: "sha256-\(digest.hex).att")?.kind == .attestation)
        #expect(CosignTag(name: "team/app:sha256-\(digest.hex).sbom")?.kind == .sbom)
        #expect(CosignTag(name: "team/app:sha256-\(digest.hex)") == nil, "the fallback tag is no cosign tag")
        #expect(CosignTag(name: "team/app:sha256-\(digest.hex.dropLast()).sig") == nil)
        #expect(CosignTag(name: "team/app:v1.sig") == nil)
        #expect(CosignTag.fallbackSubject("sha256-\(digest.hex)") == digest)
        #expect(CosignTag.repositoryPart(of: "registry:5000/team/app:v1") == "registry:5000/team/app")
        #expect(CosignTag.repositoryPart(of: "v1") == nil)
    }

    @Test func policiesFilterByArtifactType() {
        #expect(ReferrerPolicy.all.admits(artifactType: nil))
        #expect(!ReferrerPolicy.none.admits(artifactType: "application/spdx+json"))
        let sboms = ReferrerPolicy(artifactTypes: ["application/spdx+json"])
        #expect(sboms.admits(artifactType: "application/spdx+json"))
        #expect(!sboms.admits(artifactType: nil))
    }

    @Test func artifactDocumentsReferenceTheirBlobsAndSubject() throws {
        let blob = "sha256:" + String(repeating: "cd", count: 32)
        let rc = Array(#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","artifactType":"x/y","blobs":[{"mediaType":"a/b","digest":"\#(blob)","size":3}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":9}}"#.utf8)
        let document = try ContentDocument(rc, mediaType: .ociArtifactManifest, what: "test")
        #expect(document.requiredReferences.map(\.descriptor.digest.string) == [blob])
        #expect(document.subject?.digest == digest)
        #expect(document.artifactType == "x/y")
        #expect(ContentDocument.mayReferenceContent(Array(#"{"layers":[]}"#.utf8)))
        #expect(!ContentDocument.mayReferenceContent(Array("tar bytes".utf8)))
        #expect(!ContentDocument.mayReferenceContent(Array(#"{"name":"x"}"#.utf8)))
    }
}
