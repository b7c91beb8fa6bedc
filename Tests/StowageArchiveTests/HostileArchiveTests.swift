import Foundation
import StowageArchive
import StowageLayout
import StowageModel
import StowageTestSupport
import Testing

/// Every hostile archive is refused with an error naming the archive and the
/// entry, and the layout is left exactly as it was.
@Suite struct HostileArchiveTests {
    /// A hostile case: how to write the archive, and what the error must mention.
    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var mentions: [String]
        var write: @Sendable (String) throws -> Void
    }

    static let base = TestImage.make(layers: [pseudoRandomBytes(4096, seed: 1), pseudoRandomBytes(2048, seed: 2)])
    static let layerPath = "blobs/sha256/\(ContentHasher.digest(of: base.layers[1]).hex)"
    static let manifestPath = "blobs/sha256/\(base.descriptor.digest.hex)"

    static func valid() -> ArchiveBuilder { .ociArchive(base, refName: "team/app:v1") }

    static func writing(_ change: @escaping @Sendable (inout ArchiveBuilder) -> Void) -> @Sendable (String) throws -> Void {
        { path in
            var builder = valid()
            change(&builder)
            try builder.write(to: path)
        }
    }

    static func index(_ json: String) -> [UInt8] { Array(json.utf8) }

    static let cases: [Case] = [
        Case(description: "truncated tar", mentions: ["truncated"]) { path in
            try valid().write(to: path)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(size / 3))
            try handle.close()
        },
        Case(description: "blob bytes that do not match their name", mentions: [layerPath, "hashes to"],
             write: writing { $0.replace(layerPath, with: pseudoRandomBytes(2048, seed: 99)) }),
        Case(description: "blob shorter than its descriptor", mentions: [layerPath],
             write: writing { $0.replace(layerPath, with: Array(base.layers[1].dropLast())) }),
        Case(description: "descriptor with a wrong size", mentions: ["index.json", "declares blob"], write: writing { builder in
            var descriptor = base.descriptor
            descriptor.size += 1
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [descriptor])))
        }),
        Case(description: "'..' path", mentions: ["../escape", "'..'"],
             write: writing { $0.entries.insert(.file("../escape", [1, 2, 3]), at: 0) }),
        Case(description: "'..' inside a blob path", mentions: ["blobs/../../escape"],
             write: writing { $0.entries.insert(.file("blobs/../../escape", [1]), at: 0) }),
        Case(description: "absolute path", mentions: ["/etc/cron.d/evil", "absolute"],
             write: writing { $0.entries.insert(.file("/etc/cron.d/evil", [1]), at: 0) }),
        Case(description: "symbolic link", mentions: ["blobs/sha256/link", "symbolic link"],
             write: writing { $0.entries.insert(.special("blobs/sha256/link", .symbolicLink(target: "/etc/passwd")), at: 0) }),
        Case(description: "hard link", mentions: ["hardlinked", "hard link"],
             write: writing { $0.entries.append(.special("hardlinked", .hardLink(target: layerPath))) }),
        Case(description: "character device", mentions: ["blobs/sha256/dev", "device"],
             write: writing { $0.entries.insert(.special("blobs/sha256/dev", .characterDevice), at: 0) }),
        Case(description: "fifo", mentions: ["pipe", "fifo"],
             write: writing { $0.entries.insert(.special("pipe", .fifo), at: 0) }),
        Case(description: "invalid JSON in index.json", mentions: ["index.json", "not valid JSON"],
             write: writing { $0.replace("index.json", with: index("{\"schemaVersion\":2,\"manifests\":[")) }),
        Case(description: "invalid JSON in a manifest", mentions: ["not valid JSON"], write: writing { builder in
            let garbage = Array("{not json".utf8)
            builder.addBlob(garbage)
            let descriptor = Descriptor(mediaType: .ociManifest, digest: ContentHasher.digest(of: garbage), size: Int64(garbage.count))
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [descriptor])))
        }),
        Case(description: "index.json without manifests' digests", mentions: ["index.json", "digest"],
             write: writing { $0.replace("index.json", with: index(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3}]}"#)) }),
        Case(description: "missing oci-layout", mentions: ["oci-layout"], write: writing { $0.remove("oci-layout") }),
        Case(description: "unsupported layout version", mentions: ["oci-layout", "2.0.0"],
             write: writing { $0.replace("oci-layout", with: index(#"{"imageLayoutVersion":"2.0.0"}"#)) }),
        Case(description: "manifest referencing a missing blob", mentions: [ContentHasher.digest(of: base.layers[1]).string, "lacks 1 blob that the layout does not have either"],
             write: writing { $0.remove(layerPath) }),
        Case(description: "entry with a bad digest algorithm", mentions: ["blobs/sha512/", "sha512"],
             write: writing { $0.entries.insert(.file("blobs/sha512/" + String(repeating: "a", count: 128), [1]), at: 0) }),
        Case(description: "entry with uppercase hex", mentions: ["blobs/sha256/" + String(repeating: "A", count: 64)],
             write: writing { $0.entries.insert(.file("blobs/sha256/" + String(repeating: "A", count: 64), [1]), at: 0) }),
        Case(description: "entry with short hex", mentions: ["blobs/sha256/abc"],
             write: writing { $0.entries.insert(.file("blobs/sha256/abc", [1]), at: 0) }),
        Case(description: "descriptor with a bad digest algorithm", mentions: ["index.json", "md5"], write: writing { builder in
            builder.replace("index.json", with: index(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"md5:d41d8cd98f00b204e9800998ecf8427e","size":3}]}"#))
        }),
        Case(description: "descriptor with bad hex", mentions: ["index.json", "sha256:xyz"], write: writing { builder in
            builder.replace("index.json", with: index(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:xyz","size":3}]}"#))
        }),
        Case(description: "duplicate entry", mentions: ["oci-layout", "twice"],
             write: writing { $0.entries.append(.file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))) }),
        Case(description: "zero-byte file", mentions: ["empty"]) { path in
            _ = FileManager.default.createFile(atPath: path, contents: Data())
        },
        Case(description: "not a tar at all", mentions: ["tar"]) { path in
            _ = FileManager.default.createFile(atPath: path, contents: Data(pseudoRandomBytes(10_000, seed: 5)))
        },
        Case(description: "tar without index.json or manifest.json", mentions: ["neither"]) { path in
            try ArchiveBuilder(entries: [.file("hello.txt", Array("hi".utf8))]).write(to: path)
        },
        Case(description: "index.json that lists no images", mentions: ["lists no images"],
             write: writing { $0.replace("index.json", with: index(#"{"schemaVersion":2,"manifests":[]}"#)) }),
        Case(description: "invalid ref.name", mentions: ["ref.name"], write: writing { builder in
            var descriptor = base.descriptor
            descriptor.refName = "bad name\nwith newline"
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [descriptor])))
        }),
        Case(description: "manifest labelled as an index in index.json",
             mentions: [base.descriptor.digest.string, MediaType.ociIndex.rawValue, MediaType.ociManifest.rawValue],
             write: writing { builder in
            var descriptor = base.descriptor
            descriptor.mediaType = .ociIndex
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [descriptor])))
        }),
        Case(description: "index labelled as a manifest", mentions: ["labelled \(MediaType.ociManifest.rawValue)", MediaType.ociIndex.rawValue],
             write: writing { builder in
            let inner = try! JSONCoding.encode(Index(manifests: [base.descriptor]))
            builder.addBlob(inner)
            let descriptor = Descriptor(mediaType: .ociManifest, digest: ContentHasher.digest(of: inner), size: Int64(inner.count))
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [descriptor])))
        }),
        Case(description: "indexes nested 9 levels deep", mentions: ["nests indexes more than 8 levels deep"],
             write: writing { builder in
            var child = base.descriptor
            for _ in 0..<9 {
                let bytes = try! JSONCoding.encode(Index(manifests: [child]))
                builder.addBlob(bytes)
                child = Descriptor(mediaType: .ociIndex, digest: ContentHasher.digest(of: bytes), size: Int64(bytes.count))
            }
            builder.replace("index.json", with: try! JSONCoding.encode(Index(manifests: [child])))
        }),
        Case(description: "docker-archive layer that is a symlink", mentions: ["layer.tar", "symbolic link"]) { path in
            let config = base.config
            let configName = "\(ContentHasher.digest(of: config).hex).json"
            let manifest = #"[{"Config":"\#(configName)","RepoTags":["team/app:d"],"Layers":["abc/layer.tar"]}]"#
            try ArchiveBuilder(entries: [
                .file(configName, config), .special("abc/layer.tar", .symbolicLink(target: "../other.tar")),
                .file("manifest.json", Array(manifest.utf8)),
            ]).write(to: path)
        },
        Case(description: "docker-archive naming a missing layer", mentions: ["missing.tar", "not in the archive"]) { path in
            let configName = "\(ContentHasher.digest(of: base.config).hex).json"
            let manifest = #"[{"Config":"\#(configName)","RepoTags":["team/app:d"],"Layers":["missing.tar"]}]"#
            try ArchiveBuilder(entries: [.file(configName, base.config), .file("manifest.json", Array(manifest.utf8))]).write(to: path)
        },
        Case(description: "docker-archive with a bad RepoTag", mentions: ["RepoTags", "Bad/Name"]) { path in
            let configName = "\(ContentHasher.digest(of: base.config).hex).json"
            let manifest = #"[{"Config":"\#(configName)","RepoTags":["Bad/Name:x"],"Layers":[]}]"#
            try ArchiveBuilder(entries: [.file(configName, base.config), .file("manifest.json", Array(manifest.utf8))]).write(to: path)
        },
    ]

    @Test(arguments: cases)
    func rejectsAndLeavesLayoutUnchanged(_ hostile: Case) throws {
        let directory = TemporaryDirectory()
        let layout = try Layout.create(directory.child("layout"))
        // A layout with content, so "unchanged" means something.
        let existing = TestImage.make(architecture: "arm64", layers: [pseudoRandomBytes(1000, seed: 42)])
        let good = directory.child("good.tar")
        try ArchiveBuilder.ociArchive(existing, refName: "team/existing:v1").write(to: good)
        try ArchiveImporter(layout: layout).importArchive(good)
        let before = try LayoutSnapshot(layout.root)

        let archive = directory.child("hostile.tar")
        try hostile.write(archive)
        let error = try #require(throws: StowageError.self) {
            try ArchiveImporter(layout: layout).importArchive(archive)
        }
        #expect(error.description.contains(archive), "error names the archive: \(error)")
        for mention in hostile.mentions {
            #expect(error.description.contains(mention), "error mentions '\(mention)': \(error)")
        }
        #expect(!error.description.contains("\n"), "one line: \(error)")
        #expect(try LayoutSnapshot(layout.root) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.temporaryDirectory).isEmpty)
    }

    @Test func zstdAndGzipTruncationIsDetected() throws {
        for compression in [TarWriter.Compression.gzip, .zstd] {
            let directory = TemporaryDirectory()
            let layout = try Layout.create(directory.child("layout"))
            let image = TestImage.make(layers: [pseudoRandomBytes(200_000, seed: 7)])
            let archive = directory.child("a.tar.\(compression)")
            try ArchiveBuilder.ociArchive(image).write(to: archive, compression: compression)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: archive))
            try handle.truncate(atOffset: 100_000)
            try handle.close()
            let before = try LayoutSnapshot(layout.root)
            #expect(throws: StowageError.self) { try ArchiveImporter(layout: layout).importArchive(archive) }
            #expect(try LayoutSnapshot(layout.root) == before)
        }
    }
}
