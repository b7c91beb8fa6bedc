import Foundation
import StowageModel
import Testing

/// The inventory's JSON form: canonical, versioned, and checked field by field on the way in.
@Suite struct InventoryTests {
    let a = try! Digest("sha256:" + String(repeating: "a", count: 64))
    let b = try! Digest("sha256:" + String(repeating: "b", count: 64))

    @Test func theJSONFormIsSortedAndReadsBackTheSame() throws {
        let inventory = try Inventory(
            sources: ["oci:/z", "docker://h/r", "oci:/z"],
            blobs: [Inventory.Blob(digest: b, size: 2), Inventory.Blob(digest: a, size: 1), Inventory.Blob(digest: b, size: 2)],
            names: [
                Inventory.Name(name: "team/b:1", digest: b, mediaType: .ociManifest),
                Inventory.Name(name: "team/a:\"quoted\"", digest: a, mediaType: .ociIndex),
            ])
        let text = String(decoding: inventory.jsonBytes, as: UTF8.self)
        #expect(text == """
            {"schemaVersion":1,"sources":["docker://h/r","oci:/z"],
            "blobs":[
            {"digest":"\(a)","size":1},
            {"digest":"\(b)","size":2}
            ],
            "names":[
            {"name":"team/a:\\"quoted\\"","digest":"\(a)","mediaType":"application/vnd.oci.image.index.v1+json"},
            {"name":"team/b:1","digest":"\(b)","mediaType":"application/vnd.oci.image.manifest.v1+json"}
            ]}

            """)
        #expect(try Inventory.parse(inventory.jsonBytes, what: "inventory x") == inventory)
        let c = try Digest("sha256:" + String(repeating: "c", count: 64))
        #expect(inventory.holds(a, size: 1) && !inventory.holds(a, size: 2) && !inventory.holds(c, size: 1))
        #expect(inventory.totalBytes == 3)
    }

    @Test func anEmptyInventoryIsValid() throws {
        let empty = try Inventory(sources: [], blobs: [], names: [])
        #expect(String(decoding: empty.jsonBytes, as: UTF8.self) == "{\"schemaVersion\":1,\"sources\":[],\n\"blobs\":[],\n\"names\":[]}\n")
        #expect(try Inventory.parse(empty.jsonBytes, what: "inventory x") == empty)
        // Fields a later version 1 may add are ignored.
        #expect(try Inventory.parse(Array(#"{"schemaVersion":1,"blobs":[],"comment":"x"}"#.utf8), what: "x") == empty)
    }

    @Test func contradictionsAreRefused() {
        let sizes = stowageError { _ = try Inventory(sources: [], blobs: [.init(digest: a, size: 1), .init(digest: a, size: 2)], names: []) }
        #expect(sizes?.message.contains("both 1 and 2 bytes") == true)
        let names = stowageError {
            _ = try Inventory(sources: [], blobs: [], names: [.init(name: "x:1", digest: a, mediaType: .ociManifest), .init(name: "x:1", digest: b, mediaType: .ociManifest)])
        }
        #expect(names?.message.contains("x:1") == true)
        let name = stowageError {
            _ = try Inventory.parse(Array(#"{"schemaVersion":1,"blobs":[],"names":[{"name":"a\u001bb","digest":"\#(a)","mediaType":"m"}]}"#.utf8), what: "inventory f")
        }
        #expect(name?.message.contains("inventory f: names[0].name") == true)
        #expect(name?.message.contains("\u{1B}") == false)
    }
}
