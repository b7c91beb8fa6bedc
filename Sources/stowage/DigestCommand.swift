import ArgumentParser
import StowageLayout
import StowageModel
import StowageRegistry

struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the digest of an image or index, in the layout or in a registry.",
        discussion: """
            REF is a name or digest in the layout, or docker://HOST[:PORT]/REPO[:TAG|@DIGEST]: one
            HEAD request, or a GET when the registry states no digest (the bytes are then hashed).
            """)

    @OptionGroup var options: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup

    @Argument(help: ArgumentHelp("A name or digest in the layout, or docker://HOST/REPO[:TAG|@DIGEST].", valueName: "REF"), completion: .layoutReferences)
    var reference: String

    func run() async throws {
        guard reference.hasPrefix("docker://") else {
            Output.line(try options.open().resolve(reference).digest.string)
            return
        }
        let remote = try RegistryReference(parsing: reference)
        let digest = try await RegistryClient.withClient(host: remote.host, options: try registry.options()) { client in
            if let digest = try await client.manifestDigest(remote.repository, reference: remote.manifestReference) {
                if let expected = remote.digest, digest != expected {
                    throw StowageError(.digestMismatch, "registry \(remote.host) answered \(reference) with digest \(digest)")
                }
                return digest
            }
            return try await client.fetchManifest(remote.repository, reference: remote.manifestReference, expected: remote.digest).digest
        }
        Output.line(digest.string)
    }
}
