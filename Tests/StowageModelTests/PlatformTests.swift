import Foundation
import StowageModel
import Testing

@Suite("Platform")
struct PlatformTests {
    @Test(
        "parses OS/ARCH[/VARIANT] and prints it back",
        arguments: [
            ("linux/amd64", "linux", "amd64", nil),
            ("linux/arm64/v8", "linux", "arm64", "v8"),
            ("linux/arm/v7", "linux", "arm", "v7"),
            ("windows/amd64", "windows", "amd64", nil),
            ("linux/ppc64le", "linux", "ppc64le", nil),
            ("Linux/X86_64", "Linux", "X86_64", nil),
            ("linux/amd64/v3", "linux", "amd64", "v3"),
            ("wasi/wasm.x-1", "wasi", "wasm.x-1", nil),
        ] as [(String, String, String, String?)])
    func parse(_ input: String, _ os: String, _ architecture: String, _ variant: String?) throws {
        let platform = try Platform(parsing: input)
        #expect(platform.os == os)
        #expect(platform.architecture == architecture)
        #expect(platform.variant == variant)
        #expect(platform.osVersion == nil)
        #expect(platform.osFeatures == nil)
        #expect(platform.unknownFields.isEmpty)
        #expect(platform.description == input)
        #expect(platform == Platform(os: os, architecture: architecture, variant: variant))
    }

    @Test(
        "refuses anything else with .invalidPlatform",
        arguments: [
            "", "linux", "linux/", "/amd64", "/", "//", "a/b/c/d", "linux/amd 64", " linux/amd64", "linux/amd64 ",
            "linux//v8", "linux/amd64/", "linüx/amd64", "linux/amd64\n", "linux\\amd64", "linux:amd64", "linux/arm64/v8/x",
        ])
    func invalid(_ input: String) throws {
        let error = try #require(stowageError { _ = try Platform(parsing: input) })
        #expect(error.code == .invalidPlatform)
        #expect(error.message.contains("OS/ARCH[/VARIANT]"))
        #expect(!error.message.contains("\n"))
    }

    @Test("the error quotes the input")
    func errorQuotesInput() throws {
        let error = try #require(stowageError { _ = try Platform(parsing: "linux/amd 64") })
        #expect(error.message.contains("'linux/amd 64'"))
    }

    @Test("description skips an empty variant")
    func descriptionSkipsEmpty() {
        #expect(Platform(os: "linux", architecture: "arm64", variant: "").description == "linux/arm64")
        #expect(Platform(os: "linux", architecture: "arm64", variant: "v8").description == "linux/arm64/v8")
        #expect(Platform(os: "linux", architecture: "arm64", variant: "v8", osVersion: "10.0").description == "linux/arm64/v8")
    }

    @Test("os.version and os.features use their dotted JSON keys")
    func dottedKeys() throws {
        let platform = Platform(os: "windows", architecture: "amd64", osVersion: "10.0.17763.1", osFeatures: ["win32k"])
        let text = String(decoding: try JSONCoding.encode(platform), as: UTF8.self)
        #expect(text == #"{"architecture":"amd64","os":"windows","os.features":["win32k"],"os.version":"10.0.17763.1"}"#)
        let decoded = try JSONCoding.decode(Platform.self, from: Array(text.utf8), what: "platform")
        #expect(decoded == platform)
        #expect(decoded.osVersion == "10.0.17763.1")
        #expect(decoded.osFeatures == ["win32k"])
        #expect(decoded.unknownFields.isEmpty, "dotted keys are known fields, not unknown ones")
    }

    @Test("os and architecture are required in JSON")
    func requiredFields() throws {
        let noOS = try #require(stowageError { _ = try JSONCoding.decode(Platform.self, from: Array(#"{"architecture":"amd64"}"#.utf8), what: "platform of x") })
        #expect(noOS.code == .invalidJSON)
        #expect(noOS.message.contains("'os'"))
        #expect(noOS.message.contains("platform of x"))
        let noArch = try #require(stowageError { _ = try JSONCoding.decode(Platform.self, from: Array(#"{"os":"linux"}"#.utf8), what: "p") })
        #expect(noArch.message.contains("'architecture'"))
    }
}
