import StowageTestSupport

/// A suite whose tests run `stowage` on a layout of their own, with fast registry retries.
protocol LayoutSuite {
    /// The test's private directory; the layout is `layout` inside it.
    var directory: TemporaryDirectory { get }
}

extension LayoutSuite {
    /// `DIRECTORY/layout`.
    var layout: String { directory.child("layout") }

    /// The digest of the amd64 image of `Fixtures/x86_64.tar` (also in `named.tar`).
    static var amd64Digest: String { "sha256:340e505f4c5372b8bd12d7c7a57b66ae41091c3751836835c14d79e90ee15e2c" }

    /// Runs `stowage ARGUMENTS --layout LAYOUT`.
    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments + ["--layout", layout], environment: ["STOWAGE_RETRY_DELAY": "0.05"])
    }
}
