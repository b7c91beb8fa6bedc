import ArgumentParser
import StowageModel

/// `--no-referrers` and `--referrers-artifact-type T`, shared by every transport.
struct ReferrerOptions: ParsableArguments {
    @Flag(name: .customLong("no-referrers"), help: "Leave signatures, SBOMs and attestations behind (carried by default).")
    var noReferrers = false

    @Option(name: .customLong("referrers-artifact-type"), help: ArgumentHelp(
        "Carry only referrers of this artifact type (and what refers to them); repeatable.", valueName: "TYPE"))
    var artifactTypes: [String] = []

    func validate() throws {
        if noReferrers && !artifactTypes.isEmpty {
            throw ValidationError("--no-referrers and --referrers-artifact-type cannot be combined")
        }
    }

    /// The policy the flags ask for.
    var policy: ReferrerPolicy {
        ReferrerPolicy(carry: !noReferrers, artifactTypes: Set(artifactTypes))
    }
}
