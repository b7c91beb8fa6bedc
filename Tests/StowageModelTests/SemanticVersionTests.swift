import StowageModel
import Testing

@Suite struct SemanticVersionTests {
    func version(_ tag: String) -> SemanticVersion? { SemanticVersion(tag: tag) }

    @Test func tagsThatReadAsVersions() {
        #expect(version("v1.2.3") == SemanticVersion(major: 1, minor: 2, patch: 3))
        #expect(version("1.2") == SemanticVersion(major: 1, minor: 2))
        #expect(version("V7") == SemanticVersion(major: 7))
        #expect(version("1.2.3-rc.1") == SemanticVersion(major: 1, minor: 2, patch: 3, prerelease: ["rc", "1"]))
        #expect(version("1.2.3+build.5") == SemanticVersion(major: 1, minor: 2, patch: 3))
        #expect(version("1.2.3-alpine")?.isPrerelease == true, "a variant reads as a pre-release, kept out of ranges")
        for tag in ["latest", "stable", "1.2.3.4", "v", "1..2", "1.2.", "-1.2", "1.2.3-", "1.2.3-rc..1", "1.x", "1234567890.0"] {
            #expect(version(tag) == nil, "\(tag) is not a version")
        }
    }

    @Test func orderIsSemverOrder() {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]
        let versions = ordered.map { version($0)! }
        #expect(versions == versions.sorted())
        #expect(versions.shuffled().sorted() == versions)
    }

    func range(_ text: String) throws -> SemanticVersionRange { try SemanticVersionRange(parsing: text) }

    func matches(_ text: String, _ tags: [String]) throws -> [String] {
        let range = try range(text)
        return tags.filter { version($0).map(range.contains) ?? false }
    }

    let tags = ["v0.9.0", "v1.0.0", "v1.2.0", "v1.2.5", "v1.3.0-rc.1", "v1.3.0", "v1.10.2", "v2.0.0-rc.1", "v2.0.0", "v2.1.0", "latest", "1.2.5-alpine"]

    @Test func comparatorsAndAlternatives() throws {
        #expect(try matches(">=1.2 <2", tags) == ["v1.2.0", "v1.2.5", "v1.3.0", "v1.10.2"])
        #expect(try matches(">1.2.0 <=1.3.0", tags) == ["v1.2.5", "v1.3.0"])
        #expect(try matches("^1.2", tags) == ["v1.2.0", "v1.2.5", "v1.3.0", "v1.10.2"])
        #expect(try matches("~1.2", tags) == ["v1.2.0", "v1.2.5"])
        #expect(try matches("1.2.x", tags) == ["v1.2.0", "v1.2.5"])
        #expect(try matches("1.2", tags) == ["v1.2.0", "v1.2.5"])
        #expect(try matches("1.2.5", tags) == ["v1.2.5"])
        #expect(try matches("<1 || >=2.1", tags) == ["v0.9.0", "v2.1.0"])
        #expect(try matches("*", tags) == ["v0.9.0", "v1.0.0", "v1.2.0", "v1.2.5", "v1.3.0", "v1.10.2", "v2.0.0", "v2.1.0"])
        #expect(try matches("^0.9", tags) == ["v0.9.0"])
    }

    @Test func preReleasesOnlyWhenTheRangeNamesOne() throws {
        #expect(try matches(">=1.3.0-rc.0 <1.4", tags) == ["v1.3.0-rc.1", "v1.3.0"])
        #expect(try !matches(">=1 <3", tags).contains("v2.0.0-rc.1"))
    }

    @Test func badRangesSayWhichPart() {
        for text in [">=1.2 <two", "=>1.2", "1.x.3", "", "||", ">=1.2 ||", "^", "~>1.2", ">=1.2.3.4"] {
            #expect(throws: StowageError.self, "\(text)") { try range(text) }
        }
        do {
            _ = try range(">=1.2 <two")
            Issue.record("accepted")
        } catch let error as StowageError {
            #expect(error.message.contains("'<two'"), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }
}
