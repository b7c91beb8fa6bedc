import StowageModel
import Testing

@Suite("ImageConfig")
struct ImageConfigTests {
    @Test("reads the platform fields of a config and ignores the rest")
    func decode() throws {
        let json = #"""
        {"architecture":"arm64","os":"linux","variant":"v8","os.version":"5.15","os.features":["a","b"],
         "config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]},"history":[]}
        """#
        let config = try JSONCoding.decode(ImageConfig.self, from: Array(json.utf8), what: "config")
        #expect(config.architecture == "arm64")
        #expect(config.os == "linux")
        #expect(config.variant == "v8")
        #expect(config.osVersion == "5.15")
        #expect(config.osFeatures == ["a", "b"])
        #expect(config.platform == Platform(os: "linux", architecture: "arm64", variant: "v8", osVersion: "5.15", osFeatures: ["a", "b"]))
        #expect(config.platform.description == "linux/arm64/v8")
    }

    @Test("missing platform fields become empty strings")
    func missingFields() throws {
        let config = try JSONCoding.decode(ImageConfig.self, from: Array("{}".utf8), what: "config")
        #expect(config.architecture == "")
        #expect(config.os == "")
        #expect(config.variant == nil)
        #expect(config.platform.description == "")
    }

    @Test("a wrongly typed field is an .invalidJSON error naming the field")
    func wrongType() throws {
        let error = try #require(stowageError { _ = try JSONCoding.decode(ImageConfig.self, from: Array(#"{"os":5}"#.utf8), what: "config sha256:x") })
        #expect(error.code == .invalidJSON)
        #expect(error.message.contains("config sha256:x"))
        #expect(error.message.contains("'os'"))
    }
}
