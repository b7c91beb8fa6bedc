import Foundation
import StowageTestSupport
import Testing

/// Help text is part of the product: each command's `--help` is compared with a
/// committed snapshot. After a deliberate change, regenerate them with
/// `STOWAGE_UPDATE_SNAPSHOTS=1 swift test --filter HelpSnapshotTests` and review the diff.
@Suite struct HelpSnapshotTests {
    static let commands: [[String]] = [
        [], ["import"], ["index", "create"], ["index", "add"], ["index", "remove"], ["ls"], ["inspect"], ["tag"], ["rm"],
        ["verify"], ["gc"], ["export"], ["inventory"], ["push"], ["sync"], ["pull"], ["copy"], ["referrers"], ["mirror"], ["digest"],
        ["version"], ["completion"],
    ]

    static var snapshotDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots").path
    }

    @Test(arguments: commands)
    func helpMatchesItsSnapshot(_ command: [String]) throws {
        let result = try StowageBinary.run(command + ["--help"], environment: ["COLUMNS": "100"])
        #expect(result.status == 0)
        let name = (["stowage"] + command).joined(separator: "-")
        let path = "\(Self.snapshotDirectory)/\(name).txt"
        if ProcessInfo.processInfo.environment["STOWAGE_UPDATE_SNAPSHOTS"] == "1" {
            try result.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        #expect(result.stdout == expected, "`stowage \(command.joined(separator: " ")) --help` changed; see \(path)")
    }
}
