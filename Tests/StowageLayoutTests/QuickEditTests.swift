import Foundation
import StowageLayout
import StowageModel
import Testing

/// `tag` and `rm` splice `index.json` when it is Stowage's own writing: after every
/// step the bytes must be those of the general path (a full read and rewrite), and
/// the outcome (result or error) must be the same.
@Suite struct QuickEditTests {
    /// Two layouts with the same images and entries; the second never keeps the record
    /// that lets an edit take the quick path.
    struct Pair {
        let directory: String
        let quick: Layout
        let general: Layout
        let images: [Descriptor]

        init() throws {
            directory = try makeTemporaryDirectory()
            quick = try Layout.create("\(directory)/quick")
            general = try Layout.create("\(directory)/general")
            var images: [Descriptor] = []
            for i in 0..<4 {
                let image = try storeImage(in: quick, architecture: "arch\(i)", layer: "layer \(i)")
                _ = try storeImage(in: general, architecture: "arch\(i)", layer: "layer \(i)")
                images.append(image)
            }
            self.images = images
            for layout in [quick, general] {
                try layout.updateIndex(purpose: "setup") { index in
                    for i in 0..<30 { index.setReference(try RefName(stored: "team/repo\(i % 7):t\(i)"), to: images[i % 4]) }
                    index.addUnnamed(images[3])
                }
            }
            forceGeneralPath()
        }

        func forceGeneralPath() {
            try? FileManager.default.removeItem(atPath: "\(general.root)/.stowage/index.written")
        }

        var quickRecordExists: Bool { FileManager.default.fileExists(atPath: "\(quick.root)/.stowage/index.written") }
    }

    /// The four images of a layout, in the order they were stored (same digests in both layouts).
    static func images(of layout: Layout) -> [Descriptor] {
        (0..<4).map { i in
            try! storeImage(in: layout, architecture: "arch\(i)", layer: "layer \(i)")
        }
    }

    enum Step {
        case tag(String, [String])
        case rm([String])
        case add(Int, [String])
    }

    static func run(_ step: Step, on layout: Layout) -> Result<[Descriptor], StowageError> {
        Result {
            switch step {
            case .tag(let source, let names): return [try layout.tag(source, as: names.map { try RefName(userInput: $0) })]
            case .rm(let queries): return try layout.removeReferences(queries)
            case .add(let image, let names):
                try layout.addEntries([(QuickEditTests.images(of: layout)[image], try names.map { try RefName(userInput: $0) })], purpose: "add")
                return []
            }
        }.mapError { error in
            // The same words for either layout: its directory is left out.
            let stowageError = error as? StowageError ?? StowageError(.io, "\(error)")
            return StowageError(stowageError.code, stowageError.message.replacingOccurrences(of: layout.root, with: "LAYOUT"))
        }
    }

    @Test("random tags and removals give the general path's bytes, results and errors", arguments: 0..<12)
    func randomSteps(_ seed: Int) throws {
        let pair = try Pair()
        defer { removeTemporaryDirectory(pair.directory) }
        #expect(pair.quickRecordExists)
        var state = UInt64(seed + 1) &* 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(n))
        }
        func name() -> String { "team/repo\(next(8)):t\(next(34))" }
        func source() -> String {
            switch next(4) {
            case 0: pair.images[next(4)].digest.string
            case 1: String(pair.images[next(4)].digest.hex.prefix(12))
            default: name()
            }
        }
        for _ in 0..<25 {
            let step: Step = switch next(4) {
            case 0: .rm((0...next(2)).map { _ in next(5) == 0 ? pair.images[next(4)].digest.string : name() })
            case 1: .add(next(4), (0..<next(3)).map { _ in name() })
            default: .tag(source(), (0...next(2)).map { _ in name() })
            }
            let quick = Self.run(step, on: pair.quick)
            let general = Self.run(step, on: pair.general)
            pair.forceGeneralPath()
            #expect("\(quick)" == "\(general)", "\(step)")
            #expect(try contents(pair.quick.indexPath) == contents(pair.general.indexPath), "\(step)")
        }
    }

    @Test("an index.json another tool wrote is read and rewritten whole, never spliced")
    func foreignIndex() throws {
        let pair = try Pair()
        defer { removeTemporaryDirectory(pair.directory) }
        // The same content, pretty-printed and written in its place, as another tool would.
        let foreign = try JSONCoding.prettyPrinted(contents(pair.quick.indexPath), what: "index.json")
        try writeFile(pair.quick.indexPath + ".new", foreign)
        try FileManager.default.moveItem(atPath: pair.quick.indexPath, toPath: pair.quick.indexPath + ".old")
        try FileManager.default.moveItem(atPath: pair.quick.indexPath + ".new", toPath: pair.quick.indexPath)
        for layout in [pair.quick, pair.general] { try layout.tag("team/repo1:t1", as: try RefName(stored: "team/new:x")) }
        #expect(try contents(pair.quick.indexPath) == contents(pair.general.indexPath))
    }
}
