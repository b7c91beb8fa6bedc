import StowageCopy
import StowageModel
import Testing

@Suite struct IndexMergeTests {
    static func digest(_ n: Int) -> Digest {
        try! Digest(hex: String(repeating: String(n % 10), count: 64))
    }

    static func image(_ n: Int, _ platform: String?) -> Descriptor {
        Descriptor(mediaType: .ociManifest, digest: digest(n), size: Int64(100 + n), platform: platform.map { try! Platform(parsing: $0) })
    }

    static func attestation(_ n: Int, of image: Int) -> Descriptor {
        Descriptor(
            mediaType: .ociManifest, digest: digest(n), size: 50,
            annotations: ["vnd.docker.reference.digest": digest(image).string, "vnd.docker.reference.type": "attestation-manifest"],
            platform: Platform(os: "unknown", architecture: "unknown"))
    }

    @Test func keepsOrderAndSkipsRepeatedDigests() throws {
        var merge = IndexMerge()
        try merge.add(Self.image(1, "linux/amd64"), source: "a.tar", replace: false)
        try merge.add(Self.image(2, "linux/arm64/v8"), source: "b.tar", replace: false)
        try merge.add(Self.image(1, "linux/amd64"), source: "c.tar", replace: false)
        #expect(merge.descriptors.map(\.digest) == [Self.digest(1), Self.digest(2)])
        #expect(merge.skipped == [IndexMerge.Skip(source: "c.tar", digest: Self.digest(1).string, reason: "same image as a.tar")])
    }

    @Test func samePlatformTwiceIsAnErrorNamingBothSources() throws {
        var merge = IndexMerge()
        try merge.add(Self.image(1, "linux/amd64"), source: "a.tar", replace: false)
        let error = try #require(throws: StowageError.self) {
            try merge.add(Self.image(2, "linux/amd64"), source: "b.tar", replace: false)
        }
        #expect(error.code == .conflict)
        #expect(error.message.contains("a.tar") && error.message.contains("b.tar") && error.message.contains("--replace"))
        #expect(merge.descriptors.map(\.digest) == [Self.digest(1)])
    }

    @Test func replaceKeepsTheLastAtTheEnd() throws {
        var merge = IndexMerge()
        try merge.add(Self.image(1, "linux/amd64"), source: "a.tar", replace: true)
        try merge.add(Self.image(2, "linux/s390x"), source: "b.tar", replace: true)
        try merge.add(Self.image(3, "linux/amd64"), source: "c.tar", replace: true)
        #expect(merge.descriptors.map(\.digest) == [Self.digest(2), Self.digest(3)])
        #expect(merge.replaced.map(\.source) == ["a.tar"])
    }

    @Test(arguments: [
        ("linux/arm64", "linux/arm64/v8", true), ("linux/arm", "linux/arm/v7", true), ("linux/amd64", "linux/amd64/v1", true),
        ("linux/arm/v6", "linux/arm/v7", false), ("linux/amd64", "windows/amd64", false), ("linux/ppc64le", "linux/ppc64le", true),
    ])
    func defaultVariantsMatch(_ a: String, _ b: String, _ conflict: Bool) throws {
        var merge = IndexMerge()
        try merge.add(Self.image(1, a), source: "a", replace: false)
        if conflict {
            #expect(throws: StowageError.self) { try merge.add(Self.image(2, b), source: "b", replace: false) }
        } else {
            try merge.add(Self.image(2, b), source: "b", replace: false)
            #expect(merge.descriptors.count == 2)
        }
    }

    @Test func osVersionDistinguishesWindowsImages() throws {
        var merge = IndexMerge()
        var ltsc2019 = Self.image(1, "windows/amd64")
        ltsc2019.platform?.osVersion = "10.0.17763.1"
        var ltsc2022 = Self.image(2, "windows/amd64")
        ltsc2022.platform?.osVersion = "10.0.20348.1"
        try merge.add(ltsc2019, source: "a", replace: false)
        try merge.add(ltsc2022, source: "b", replace: false)
        #expect(merge.descriptors.count == 2)
    }

    @Test func attestationsStayWithTheirImageAndLeaveWithIt() throws {
        var merge = IndexMerge()
        try merge.add(Self.image(1, "linux/amd64"), source: "idx", replace: false)
        try merge.add(Self.attestation(5, of: 1), source: "idx", replace: false)
        try merge.add(Self.image(2, "linux/arm64"), source: "idx", replace: false)
        try merge.add(Self.attestation(6, of: 2), source: "idx", replace: false)
        #expect(merge.descriptors.count == 4, "unknown/unknown entries never conflict with each other")
        try merge.add(Self.image(3, "linux/amd64"), source: "new.tar", replace: true)
        #expect(merge.descriptors.map(\.digest) == [Self.digest(2), Self.digest(6), Self.digest(3)])
        #expect(merge.remove(platform: try Platform(parsing: "linux/arm64/v8")) == 1)
        #expect(merge.descriptors.map(\.digest) == [Self.digest(3)])
    }

    @Test func entriesOfTheAmendedIndexAreReplaceable() throws {
        var merge = IndexMerge(existing: [Self.image(1, "linux/amd64"), Self.image(2, "linux/arm64")], source: "existing index")
        try merge.add(Self.image(3, "linux/amd64"), source: "new.tar", replace: false)
        #expect(merge.descriptors.map(\.digest) == [Self.digest(2), Self.digest(3)])
        #expect(throws: StowageError.self) { try merge.add(Self.image(4, "linux/amd64"), source: "newer.tar", replace: false) }
    }
}
