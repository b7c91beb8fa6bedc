import StowageModel
import Testing

@testable import StowageRegistry

@Suite struct ReferrerHelpersTests {
    @Test func nextPageComesFromTheLinkHeader() {
        #expect(RegistryClient.nextLink(#"</v2/team/app/referrers/sha256:ab?n=10&last=x>; rel="next""#) == "/v2/team/app/referrers/sha256:ab?n=10&last=x")
        #expect(RegistryClient.nextLink(#"<https://other.example/page2>;rel="next""#) == "https://other.example/page2")
        #expect(RegistryClient.nextLink(#"</a>; rel="prev", </b>; rel="next""#) == "/b")
        #expect(RegistryClient.nextLink(#"</a>; rel="prev""#) == nil)
        #expect(RegistryClient.nextLink("garbage") == nil)
    }

    @Test func artifactTypesAreEscapedForTheQuery() {
        #expect(RegistryClient.queryEscaped("application/spdx+json") == "application%2Fspdx%2Bjson")
        #expect(RegistryClient.queryEscaped("a.b-c_d~e") == "a.b-c_d~e")
    }
}
