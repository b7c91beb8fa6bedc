import Foundation

/// The layout registry tests sync: the fixtures' 3-platform index `team/app:v1` and
/// `team/big:1`, an image whose random layers are large enough to go up in chunks.
public enum SyncLayout {
    /// Makes it at `layout`, the archive of `team/big:1` in `scratch`; `environment` for the binary.
    public static func make(at layout: String, bigLayers: [Int], scratch: TemporaryDirectory, environment: [String: String] = [:]) throws {
        let create = try StowageBinary.run([
            "index", "create", "--layout", layout, "--tag", "team/app:v1",
            Fixtures.path("x86_64.tar"), Fixtures.path("aarch64.tar"), Fixtures.path("ppc64le.tar"),
        ], environment: environment)
        guard create.status == 0 else { throw SyncLayoutError(description: "index create: \(create.stderr)") }
        let big = TestImage.make(layers: bigLayers.enumerated().map { pseudoRandomBytes($1, seed: UInt64(21 + $0)) })
        let archive = scratch.child("big.tar")
        try ArchiveBuilder.ociArchive(big, refName: "team/big:1").write(to: archive)
        let imported = try StowageBinary.run(["import", "--layout", layout, archive], environment: environment)
        guard imported.status == 0 else { throw SyncLayoutError(description: "import: \(imported.stderr)") }
    }

    /// The names `make` gives.
    public static let names = ["team/app:v1", "team/big:1"]
}

/// `SyncLayout.make` failed.
public struct SyncLayoutError: Error, CustomStringConvertible {
    public var description: String
}
