import ArgumentParser
import StowageLayout
import StowageModel

struct ReferrersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "referrers",
        abstract: "List an image's signatures, SBOMs and attestations.",
        discussion: """
            Lists what refers to REF in the layout: manifests whose OCI `subject` is REF, or
            for an index one of its images (stored as index.json entries without a name, as
            oras stores them), cosign tags
            REPO:sha256-<hex>.sig, .att and .sbom naming REF's digest, BuildKit attestations
            inside REF's index, and the referrers of those in turn (the signature of an SBOM).
            LINK says which: subject, cosign-tag or in-index-attestation.
            """)

    @OptionGroup var options: LayoutOptions

    @Option(name: .long, help: ArgumentHelp("Only referrers of this artifact type (and what refers to them).", valueName: "TYPE"))
    var artifactType: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Argument(help: ArgumentHelp("A name (REPOSITORY:TAG) or digest (sha256:…).", valueName: "REF"), completion: .layoutReferences)
    var reference: String

    func run() throws {
        let referrers = try options.open().referrers(of: reference, artifactType: artifactType)
        if json {
            try Output.json(referrers)
            return
        }
        let rows = [["DIGEST", "ARTIFACT TYPE", "SIZE", "LINK", "SUBJECT", "ANNOTATIONS"]]
            + referrers.map { referrer in
                [
                    referrer.digest, referrer.artifactType ?? "-", Output.size(referrer.size),
                    referrer.link.rawValue + (referrer.reference.map { " \($0)" } ?? ""), referrer.subject,
                    (referrer.annotations ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                        .joined(separator: ",").nonEmpty ?? "-",
                ]
            }
        Output.table(rows).forEach(Output.line)
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
