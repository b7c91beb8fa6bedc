import Testing

@testable import StowageRegistry

@Suite("WWW-Authenticate challenges")
struct AuthChallengeTests {
    @Test func basicWithRealm() throws {
        let challenge = try #require(AuthChallenge(header: #"Basic realm="Registry Realm""#))
        #expect(challenge.scheme == "basic")
        #expect(challenge.realm == "Registry Realm")
        #expect(challenge.service == nil)
        #expect(challenge.scope == nil)
        #expect(challenge.parameters == ["realm": "Registry Realm"])
    }

    @Test func bearerWithRealmServiceAndScope() throws {
        let header = #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
        let challenge = try #require(AuthChallenge(header: header))
        #expect(challenge.scheme == "bearer")
        #expect(challenge.realm == "https://auth.docker.io/token")
        #expect(challenge.service == "registry.docker.io")
        #expect(challenge.scope == "repository:library/alpine:pull")
        #expect(challenge.parameters.count == 3)
    }

    @Test func quotedValuesKeepCommasAndSpaces() throws {
        let header = #"Bearer realm="https://auth.example.com/token?a=1,b=2", scope="repository:team/app:pull,push repository:other:pull",service="svc""#
        let challenge = try #require(AuthChallenge(header: header))
        #expect(challenge.realm == "https://auth.example.com/token?a=1,b=2")
        #expect(challenge.scope == "repository:team/app:pull,push repository:other:pull")
        #expect(challenge.service == "svc")
    }

    @Test func multipleScopesInOneScopeString() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="r",scope="repository:a:pull repository:b/c:pull,push registry:catalog:*""#))
        let scopes = try #require(challenge.scope).split(separator: " ").map(String.init)
        #expect(scopes == ["repository:a:pull", "repository:b/c:pull,push", "registry:catalog:*"])
    }

    @Test func backslashEscapesInQuotedValues() throws {
        let challenge = try #require(AuthChallenge(header: #"Basic realm="say \"hi\" \\ there",service="a\,b""#))
        #expect(challenge.realm == #"say "hi" \ there"#)
        #expect(challenge.service == "a,b")
    }

    @Test func unquotedValuesEndAtCommasAndAreTrimmed() throws {
        let challenge = try #require(AuthChallenge(header: "Bearer realm=https://auth.example.com/token , service=registry.example.com,scope=repository:x:pull"))
        #expect(challenge.realm == "https://auth.example.com/token")
        #expect(challenge.service == "registry.example.com")
        #expect(challenge.scope == "repository:x:pull")
    }

    @Test func mixedQuotedAndUnquoted() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer service=svc,realm="https://a/t",error=insufficient_scope"#))
        #expect(challenge.parameters == ["service": "svc", "realm": "https://a/t", "error": "insufficient_scope"])
    }

    @Test(arguments: ["Bearer", "BEARER", "bEaReR", "bearer"])
    func schemeIsCaseInsensitive(scheme: String) throws {
        let challenge = try #require(AuthChallenge(header: #"\#(scheme) realm="r""#))
        #expect(challenge.scheme == "bearer")
        #expect(challenge.realm == "r")
    }

    @Test func keysAreLowercasedValuesAreNot() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer Realm="HTTPS://Auth/Token",SERVICE="MyService",ScOpE="repository:A:pull""#))
        #expect(challenge.realm == "HTTPS://Auth/Token")
        #expect(challenge.service == "MyService")
        #expect(challenge.scope == "repository:A:pull")
        #expect(challenge.parameters["Realm"] == nil)
    }

    @Test func leadingSpacesAreIgnored() throws {
        let challenge = try #require(AuthChallenge(header: #"   Basic realm="x""#))
        #expect(challenge.scheme == "basic")
        #expect(challenge.realm == "x")
    }

    @Test func schemeWithoutParameters() throws {
        let challenge = try #require(AuthChallenge(header: "Basic"))
        #expect(challenge.scheme == "basic")
        #expect(challenge.parameters.isEmpty)
        let trailing = try #require(AuthChallenge(header: "Bearer   "))
        #expect(trailing.scheme == "bearer")
        #expect(trailing.parameters.isEmpty)
    }

    @Test(arguments: ["", " ", "      "])
    func emptyHeadersAreNotChallenges(header: String) {
        #expect(AuthChallenge(header: header) == nil)
    }

    @Test func garbageParametersAreSkippedWithoutHanging() throws {
        // Keys without '=', empty keys, stray commas and an unterminated quote.
        let challenge = try #require(AuthChallenge(header: #"Bearer ,,, junk, =novalue, realm="r", flag,, service="unterminated"#))
        #expect(challenge.scheme == "bearer")
        #expect(challenge.realm == "r")
        #expect(challenge.parameters["junk"] == nil)
        #expect(challenge.parameters["flag"] == nil)
        #expect(challenge.parameters[""] == nil)
        #expect(challenge.service == "unterminated")
    }

    @Test func textAfterAClosingQuoteIsNotPartOfTheValue() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="r"junk,service="s""#))
        #expect(challenge.realm == "r")
        #expect(challenge.service == "s")
    }

    @Test func emptyQuotedAndUnquotedValues() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm="",service=,scope="x""#))
        #expect(challenge.realm == "")
        #expect(challenge.service == "")
        #expect(challenge.scope == "x")
    }

    @Test func parseParametersDirectly() {
        #expect(AuthChallenge.parseParameters(#"a="1", b=2 ,c="3,4""#) == ["a": "1", "b": "2", "c": "3,4"])
        #expect(AuthChallenge.parseParameters("").isEmpty)
        #expect(AuthChallenge.parseParameters(", , ,").isEmpty)
        // A trailing backslash inside an unterminated quote is kept literally.
        #expect(AuthChallenge.parseParameters(#"a="x\"#) == ["a": #"x\"#])
    }

    @Test func equality() {
        #expect(AuthChallenge(header: #"Basic realm="x""#) == AuthChallenge(header: #"BASIC REALM="x""#))
        #expect(AuthChallenge(header: #"Basic realm="x""#) != AuthChallenge(header: #"Basic realm="y""#))
    }

    /// RFC 7235 allows optional whitespace around '=' in an auth-param (`token BWS "=" BWS quoted-string`).
    @Test
    func whitespaceAroundEqualsSign() throws {
        let challenge = try #require(AuthChallenge(header: #"Bearer realm = "https://a/t", service= "s""#))
        #expect(challenge.realm == "https://a/t")
        #expect(challenge.service == "s")
    }
}
