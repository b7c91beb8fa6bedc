import StowageModel
import Testing

/// An expected parse of a valid reference.
struct ValidReference: Sendable, CustomTestStringConvertible {
    var input: String
    var domain: String?
    var path: String
    var tag: String?
    var digest: String?
    var testDescription: String { input.count > 60 ? String(input.prefix(57)) + "…" : input }

    init(_ input: String, domain: String? = nil, path: String, tag: String? = nil, digest: String? = nil) {
        self.input = input
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }
}

/// A test argument whose label stays readable when the input is long or has control characters.
struct Input: Sendable, CustomTestStringConvertible {
    var value: String
    var testDescription: String {
        let shown = value.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return shown.count > 60 ? "\(shown.prefix(50))… (\(value.count) chars)" : "\"\(shown)\""
    }
    init(_ value: String) { self.value = value }
}

let digestText = "sha256:" + abcSHA256

@Suite("Reference")
struct ReferenceTests {
    static let valid: [ValidReference] = [
        ValidReference("app", path: "app"),
        ValidReference("0app", path: "0app"),
        ValidReference("app:latest", path: "app", tag: "latest"),
        ValidReference("team/app:v1.0.0", path: "team/app", tag: "v1.0.0"),
        ValidReference("a/b/c/d/e", path: "a/b/c/d/e"),
        ValidReference("localhost:5000/a/b:tag", domain: "localhost:5000", path: "a/b", tag: "tag"),
        ValidReference("localhost/app", domain: "localhost", path: "app"),
        ValidReference("localhost:5000", path: "localhost", tag: "5000"),  // as in docker: a tag, not a port
        ValidReference("my-registry:5000/app", domain: "my-registry:5000", path: "app"),
        ValidReference("registry.example.com/x@" + digestText, domain: "registry.example.com", path: "x", digest: digestText),
        ValidReference("registry.example.com:443/ns/x:1@" + digestText, domain: "registry.example.com:443", path: "ns/x", tag: "1", digest: digestText),
        ValidReference("Registry.Example.COM/ns/app:Tag_1", domain: "Registry.Example.COM", path: "ns/app", tag: "Tag_1"),
        ValidReference("a/b:t@" + digestText, path: "a/b", tag: "t", digest: digestText),
        ValidReference("app@" + digestText, path: "app", digest: digestText),
        ValidReference("[::1]:5000/app:1", domain: "[::1]:5000", path: "app", tag: "1"),
        ValidReference("[fe80::1]/app", domain: "[fe80::1]", path: "app"),
        ValidReference("[2001:db8::1]:443/a/b:c", domain: "[2001:db8::1]:443", path: "a/b", tag: "c"),
        ValidReference("a__b", path: "a__b"),
        ValidReference("a_b.c-d", path: "a_b.c-d"),
        ValidReference("a-----b", path: "a-----b"),
        ValidReference("example.com", path: "example.com"),  // one component: a repository, not a host
        ValidReference("app:_tag", path: "app", tag: "_tag"),
        ValidReference("app:V1.2-rc.3_x", path: "app", tag: "V1.2-rc.3_x"),
        ValidReference("app:" + String(repeating: "t", count: 128), path: "app", tag: String(repeating: "t", count: 128)),
        ValidReference(String(repeating: "a", count: 255), path: String(repeating: "a", count: 255)),
        ValidReference(
            "example.com/" + String(repeating: "a", count: 243) + ":t", domain: "example.com",
            path: String(repeating: "a", count: 243), tag: "t"),
    ]

    @Test("valid references parse into their parts", arguments: valid)
    func validReference(_ case_: ValidReference) throws {
        let reference = try Reference(parsing: case_.input)
        #expect(reference.domain == case_.domain)
        #expect(reference.path == case_.path)
        #expect(reference.tag == case_.tag)
        #expect(reference.digest?.string == case_.digest)
        #expect(reference.repository == (case_.domain.map { "\($0)/\(case_.path)" } ?? case_.path))
        #expect(reference.description == case_.input, "a reference prints back as written")
        #expect(try Reference(parsing: reference.description) == reference)
    }

    static let invalid: [Input] = [
        "", "Team/app", "APP", "team/App", "app:", ":tag", ":", "app:-bad", "app:.bad", "app:ta g", "app tag",
        "app:" + String(repeating: "t", count: 129),
        "a//b", "a/", "/a", "/", "-a", "a-", "_a", "a_", ".a", "a.", "a..b", "a___b", "a_-b", "a.-b",
        "app@sha256:abc", "app@", "app@" + digestText.uppercased(), "app@sha512:" + abcSHA256 + abcSHA256,
        "app@md5:d41d8cd98f00b204e9800998ecf8427e", "app@" + abcSHA256, "app@" + digestText + "@" + digestText,
        String(repeating: "a", count: 256),
        "example.com/" + String(repeating: "a", count: 244),  // 256 with the host
        String(repeating: "a/", count: 128) + "a",  // 257
        "example.com:abc/app", "example.com:123456/app", "example.com:/app", "-example.com/app", "example-.com/app",
        "ex ample.com/app", "example..com/app", "[::1/app", "[zz::1]:5000/app", "[]/app", "[::1]x/app", "[::1]:/app",
        "app:tag:tag2", "app\n", "app\0", "ä/app", "team/äpp", "app:täg",
        "a/b/../c", "../app", "./app",
    ].map(Input.init)

    @Test("invalid references are refused with .invalidReference", arguments: invalid)
    func invalidReference(_ input: Input) throws {
        let error = try #require(stowageError { _ = try Reference(parsing: input.value) })
        #expect(error.code == .invalidReference)
        #expect(error.message.hasPrefix("invalid reference '"))
        #expect(!error.message.contains("\n"))
    }

    @Test("the error names the faulty part")
    func errorMessages() throws {
        let empty = try #require(stowageError { _ = try Reference(parsing: "") })
        #expect(empty.message.contains("empty"))

        let tag = try #require(stowageError { _ = try Reference(parsing: "app:-bad") })
        #expect(tag.message.contains("tag '-bad'"))

        let host = try #require(stowageError { _ = try Reference(parsing: "example.com:99999999/app") })
        #expect(host.message.contains("registry host 'example.com:99999999'"))

        let digest = try #require(stowageError { _ = try Reference(parsing: "app@sha512:" + abcSHA256) })
        #expect(digest.message.contains("sha512"))

        let long = try #require(stowageError { _ = try Reference(parsing: String(repeating: "a", count: 300)) })
        #expect(long.message.contains("longer than 255"))

        let upper = try #require(stowageError { _ = try Reference(parsing: "Team/app") })
        #expect(upper.message.contains("Team/app"))
        #expect(upper.message.contains("lowercase"))
    }

    @Test("isValidTag", arguments: [
        ("latest", true), ("v1.0.0", true), ("_x", true), ("X", true), ("0", true),
        (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false),
        ("", false), ("-x", false), (".x", false), ("a b", false), ("a/b", false), ("a:b", false), ("é", false),
    ])
    func isValidTag(_ tag: String, _ valid: Bool) {
        #expect(Reference.isValidTag(tag) == valid)
    }

    @Test("withDefaultTag adds :latest only when there is neither tag nor digest")
    func withDefaultTag() throws {
        let bare = try Reference(parsing: "team/app").withDefaultTag
        #expect(bare.tag == "latest")
        #expect(bare.description == "team/app:latest")

        let tagged = try Reference(parsing: "team/app:v1").withDefaultTag
        #expect(tagged.tag == "v1")

        let digested = try Reference(parsing: "team/app@" + digestText).withDefaultTag
        #expect(digested.tag == nil)
        #expect(digested.description == "team/app@" + digestText)

        let withHost = try Reference(parsing: "localhost:5000/app").withDefaultTag
        #expect(withHost.description == "localhost:5000/app:latest")
    }

    @Test("the memberwise initializer builds the same value as parsing")
    func memberwise() throws {
        let built = Reference(domain: "localhost:5000", path: "a/b", tag: "t", digest: try Digest(digestText))
        #expect(built == (try Reference(parsing: "localhost:5000/a/b:t@" + digestText)))
        #expect(built.repository == "localhost:5000/a/b")
        #expect(Reference(path: "app").description == "app")
    }
}

@Suite("RefName")
struct RefNameTests {
    @Test(
        "the repository of a stored name",
        arguments: [
            ("team/app:v1", "team/app"), ("host:5000/team/app:v1", "host:5000/team/app"), ("host:5000/a", "host:5000/a"),
            ("team/app", "team/app"), ("latest", nil), ("v1.0", nil), ("app:v1", "app"),
        ] as [(String, String?)])
    func repository(_ name: String, _ expected: String?) {
        #expect(RefName.repository(of: name).map(String.init) == expected)
    }

    @Test(
        "RefName(userInput:) normalises to repository:tag",
        arguments: [
            ("app", "app:latest"),
            ("team/app", "team/app:latest"),
            ("team/app:v1.0.0", "team/app:v1.0.0"),
            ("localhost:5000/a", "localhost:5000/a:latest"),
            ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
            ("registry.example.com/x:1", "registry.example.com/x:1"),
            ("a--b", "a--b:latest"),
            ("A.example.com/team/app:V1_0", "A.example.com/team/app:V1_0"),
        ])
    func userInput(_ input: String, _ expected: String) throws {
        let name = try RefName(userInput: input)
        #expect(name.value == expected)
        #expect(name.description == expected)
    }

    @Test("RefName(userInput:) refuses digest references", arguments: ["app@" + digestText, "a/b:t@" + digestText, "localhost:5000/x@" + digestText])
    func userInputDigest(_ input: String) throws {
        let error = try #require(stowageError { _ = try RefName(userInput: input) })
        #expect(error.code == .invalidReference)
        #expect(error.message.contains("digest"))
        #expect(error.message.contains(input))
    }

    @Test("RefName(userInput:) refuses invalid references", arguments: ["", "Team/app", "app:", "a//b", "app name", "v1 .0"])
    func userInputInvalid(_ input: String) throws {
        let error = try #require(stowageError { _ = try RefName(userInput: input) })
        #expect(error.code == .invalidReference)
    }

    static let validStored: [Input] = [
        "v1.0.0", "latest", "1", "A", "team/app:v1", "team/app:v1.0.0", "localhost:5000/a/b:tag",
        "Registry.Example.com/ns/app:Tag", "app@" + digestText, "a+b", "a--b", "a-b_c.d:e@f+g/h",
        "a--b:latest", "a--b--c:1", "x+y@z:1",
        String(repeating: "a", count: 512),
    ].map(Input.init)

    @Test("RefName(stored:) accepts the OCI ref.name grammar, tag-only names included", arguments: validStored)
    func storedValid(_ input: Input) throws {
        let name = try RefName(stored: input.value)
        #expect(name.value == input.value)
        #expect(name.description == input.value)
    }

    static let invalidStored: [Input] = [
        "", " ", "a b", "a\nb", "latest\n", "\nlatest", "a\tb", "a\0b",
        "-a", ".a", "_a", ":a", "@a", "+a", "/a", "/team/app:v1",
        "a-", "a.", "a/", "a:", "a@", "a+",
        "a//b", "a::b", "a:/b", "a/:b", "a@@b", "a++b", "a+/b",
        "ä", "app:täg", "a\\b", "a*b", "a#b", "a%2fb",
        "a__b:latest", "a---b:latest", "a-----b:latest", "[::1]:5000/app:1",
        String(repeating: "a", count: 513),
    ].map(Input.init)

    @Test("RefName(stored:) refuses names outside the grammar", arguments: invalidStored)
    func storedInvalid(_ input: Input) throws {
        let error = try #require(stowageError { _ = try RefName(stored: input.value) })
        #expect(error.code == .invalidReference)
        #expect(error.message.contains("org.opencontainers.image.ref.name"))
        #expect(!error.message.contains("\n"))
    }

    @Test(
        "RefName(stored:) refuses doubled separators other than '--'",
        arguments: ["a..b", "a/.b", "a:-b", "a._b", "a@.b", "a+_b"])
    func storedDoubledSeparators(_ input: String) throws {
        #expect(throws: StowageError.self) { try RefName(stored: input) }
    }

    @Test(
        "every name RefName(userInput:) makes is accepted by RefName(stored:)",
        arguments: ["app", "team/app:v1", "localhost:5000/a/b:tag", "a--b", "a.b-c_d", "registry.example.com/x/y:1.0"])
    func userInputNamesAreStorable(_ input: String) throws {
        let name = try RefName(userInput: input)
        #expect(throws: Never.self) { try RefName(stored: name.value) }
    }

    /// Valid docker references that skopeo's `oci:` transport refuses ("Invalid image team/app:v1_").
    static let dockerButNotOCI = [
        "team/app:v1_", "team/app:v1-", "team/app:_x", "team/app:v1..2", "team__x/app:v1", "[::1]:5000/app:v1",
        "a---b:1", "team/app:v1__2", "team/app:v1.-2",
    ]

    @Test("RefName(userInput:) refuses docker references outside the OCI ref.name grammar, showing it", arguments: dockerButNotOCI)
    func userInputOutsideOCIGrammar(_ input: String) throws {
        #expect(throws: Never.self) { try Reference(parsing: input) }
        let error = try #require(stowageError { _ = try RefName(userInput: input) })
        #expect(error.code == .invalidReference)
        #expect(error.message.contains("'\(input)'"))
        #expect(error.message.contains(RefName.grammar))
        #expect(!error.message.contains("\n"))
    }

    @Test("RefName(stored:) refuses the same names, showing the grammar", arguments: dockerButNotOCI)
    func storedOutsideOCIGrammar(_ input: String) throws {
        let error = try #require(stowageError { _ = try RefName(stored: input) })
        #expect(error.message.contains(RefName.grammar))
        #expect(!error.message.contains("\n"))
    }

    @Test("RefName orders by value")
    func ordering() throws {
        let names = try ["team/app:v2", "latest", "team/app:v1"].map { try RefName(stored: $0) }
        #expect(names.sorted().map(\.value) == ["latest", "team/app:v1", "team/app:v2"])
        #expect(try RefName(stored: "app:latest") == (try RefName(userInput: "app")))
    }
}
