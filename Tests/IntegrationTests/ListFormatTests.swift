import Foundation
import StowageTestSupport
import Testing

/// `ls` shows what users mean by size (the image's blobs, not its manifest), and `ls` and
/// `inspect` print through `--format` templates.
@Suite struct ListFormatTests {
    let directory = TemporaryDirectory("format")
    var layout: String { directory.child("layout") }

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: ["STOWAGE_LAYOUT": layout])
    }

    func makeLayout() throws {
        for (file, platform) in Fixtures.perArchitecture.prefix(2) {
            let tag = "team/app:" + platform.split(separator: "/")[1]
            let result = try stowage(["import", Fixtures.path(file), "--tag", tag])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let index = try stowage(["index", "create", "--tag", "team/app:multi", "team/app:amd64", "team/app:arm64"])
        #expect(index.status == 0, "\(index.stderr)")
    }

    /// The sizes of every distinct blob file `digests` reach, from the layout itself.
    func blobBytes(_ digests: Set<String>) throws -> Int64 {
        try digests.reduce(0) { sum, digest in
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(layout)/blobs/sha256/\(digest.dropFirst(7))")
            return sum + ((attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }

    /// The digests an image is made of, from `inspect`.
    func parts(of reference: String) throws -> Set<String> {
        let manifest = try JSONSerialization.jsonObject(with: Data(try stowage(["inspect", "--raw", reference]).stdoutBytes)) as! [String: Any]
        let digest = try stowage(["digest", reference]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if let children = manifest["manifests"] as? [[String: Any]] {
            return try children.reduce(into: [digest]) { set, child in set.formUnion(try parts(of: child["digest"] as! String)) }
        }
        let config = (manifest["config"] as! [String: Any])["digest"] as! String
        let layers = (manifest["layers"] as! [[String: Any]]).map { $0["digest"] as! String }
        return Set([digest, config] + layers)
    }

    @Test func sizesAreTheImagesBlobsCountedOnce() throws {
        try makeLayout()
        let listed = try stowage(["ls", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdoutBytes)) as? [[String: Any]])
        for row in rows {
            let reference = row["reference"] as! String
            let expected = try blobBytes(try parts(of: reference))
            #expect((row["totalSize"] as? NSNumber)?.int64Value == expected, "\(reference): \(row)")
            // The manifest's own size stays in the JSON.
            let manifestBytes = try stowage(["inspect", "--raw", reference]).stdoutBytes.count
            #expect((row["size"] as? NSNumber)?.intValue == manifestBytes)
        }
        // The index counts the blobs its images share once: less than the sum of its images.
        let total = { (name: String) in rows.first { $0["reference"] as? String == name }?["totalSize"] as? NSNumber }
        let multi = try #require(total("team/app:multi")).int64Value
        let sum = try #require(total("team/app:amd64")).int64Value + (try #require(total("team/app:arm64")).int64Value)
        #expect(multi <= sum + 2048 && multi > sum / 2)

        // A second listing reads the totals from the cache and gives the same figures.
        #expect(FileManager.default.fileExists(atPath: "\(layout)/.stowage/cache/sizes"))
        let again = try stowage(["ls", "--json"])
        #expect(again.stdout == listed.stdout)
        // A damaged cache is ignored, not trusted.
        try Data("garbage\nnot-a-digest 12\n\(String(repeating: "0", count: 64)) x\n".utf8)
            .write(to: URL(fileURLWithPath: "\(layout)/.stowage/cache/sizes"))
        #expect(try stowage(["ls", "--json"]).stdout == listed.stdout)

        // The table shows the total, for people.
        let table = try stowage(["ls"])
        let amd64 = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("team/app:amd64") })
        #expect(amd64.contains(try stowage(["ls", "--format", "{{.Size}}", "team/app"]).stdout.split(separator: "\n")[0]))
    }

    @Test func listFormatTemplates() throws {
        try makeLayout()
        let names = try stowage(["ls", "--format", "{{.Repository}}\\t{{.Tag}}\\t{{ .Type }}", "team/app"])
        #expect(names.status == 0, "\(names.stderr)")
        #expect(names.stdout.split(separator: "\n").sorted() == [
            "team/app\tamd64\toci-manifest", "team/app\tarm64\toci-manifest", "team/app\tmulti\toci-index",
        ], "\(names.stdout)")
        let platforms = try stowage(["ls", "--format", "{{.Reference}} {{json .Platforms}} {{.Platforms}}", "team/app"])
        #expect(platforms.stdout.contains(#"team/app:multi ["linux/amd64","linux/arm64/v8"] [linux/amd64 linux/arm64/v8]"#), "\(platforms.stdout)")
        let digests = try stowage(["ls", "--format", "{{.Digest}}", "team/app"]).stdout.split(separator: "\n")
        #expect(digests.allSatisfy { $0.hasPrefix("sha256:") && $0.count == 71 })

        let typo = try stowage(["ls", "--format", "{{.Digset}}"])
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("no field .Digset; did you mean .Digest?"), "\(typo.stderr)")
        let unclosed = try stowage(["ls", "--format", "{{.Digest"])
        #expect(unclosed.status == 2 && unclosed.stderr.contains("has no '}}'"), "\(unclosed.stderr)")
        let notField = try stowage(["ls", "--format", "{{Digest}}"])
        #expect(notField.status == 2 && notField.stderr.contains("write {{.Field}}"), "\(notField.stderr)")
        let both = try stowage(["ls", "--json", "--format", "{{.Digest}}"])
        #expect(both.status != 0 && both.stderr.contains("cannot be combined"))
    }

    @Test func inspectFormatTemplates() throws {
        try makeLayout()
        let digest = try stowage(["digest", "team/app:amd64"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = try stowage(["inspect", "--format", "{{.Name}} {{.Digest}} {{.MediaType}} {{.schemaVersion}} {{len}}", "team/app:amd64"])
        #expect(shown.status == 2, "{{len}} is no field: \(shown.stdout)")
        let fields = try stowage(["inspect", "--format", "{{.Name}} {{.Digest}} {{.schemaVersion}} {{.config.mediaType}}", "team/app:amd64"])
        #expect(fields.stdout == "team/app:amd64 \(digest) 2 application/vnd.oci.image.config.v1+json\n", "\(fields.stdout) \(fields.stderr)")
        let layers = try stowage(["inspect", "--format", "{{json .layers}}", "team/app:amd64"])
        let parsed = try JSONSerialization.jsonObject(with: Data(layers.stdoutBytes)) as? [[String: Any]]
        #expect(parsed?.isEmpty == false, "\(layers.stdout)")
        let config = try stowage(["inspect", "--config", "--platform", "linux/arm64", "--format", "{{.os}}/{{.architecture}} {{.missing}}", "team/app:multi"])
        #expect(config.stdout == "linux/arm64 <no value>\n", "\(config.stdout) \(config.stderr)")
        let raw = try stowage(["inspect", "--raw", "--format", "{{.Digest}}", "team/app:amd64"])
        #expect(raw.status != 0 && raw.stderr.contains("cannot be combined"))
    }
}
