import ArgumentParser
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's manifest or index, in the layout or in a registry.",
        discussion: """
            REF is a name (REPOSITORY:TAG) or digest (sha256:…, or its first 12 or more hex digits)
            in the layout, or docker://HOST[:PORT]/REPO[:TAG|@DIGEST] in a registry, reached with
            the same TLS and credential options as push. --platform shows the image of an index
            for that platform; --config shows an image's config. Everything read is digest-checked.
            """)

    @OptionGroup var options: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup

    @Flag(name: .long, help: "Print the exact stored bytes.")
    var raw = false

    @Flag(name: .long, help: "Print one os/arch[/variant] line per platform.")
    var platforms = false

    @Flag(name: .long, help: "Print the image's config instead of its manifest.")
    var config = false

    @Option(name: .long, help: ArgumentHelp("The image of an index for this platform.", valueName: "OS/ARCH[/VARIANT]"))
    var platform: String?

    @Option(name: .long, help: ArgumentHelp(
        "Print with a template: {{.Digest}}, {{.MediaType}}, {{.Size}}, {{.Name}}, and the document's own fields ({{.config.digest}}, {{json .layers}}).",
        valueName: "TEMPLATE"))
    var format: String?

    @Argument(help: ArgumentHelp("A name or digest in the layout, or docker://HOST/REPO[:TAG|@DIGEST].", valueName: "REF"), completion: .layoutReferences)
    var reference: String

    func validate() throws {
        if raw && platforms { throw ValidationError("--raw and --platforms cannot be combined") }
        if platforms && (config || platform != nil) { throw ValidationError("--platforms lists platforms; it cannot be combined with --config or --platform") }
        if format != nil && (raw || platforms) { throw ValidationError("--format cannot be combined with --raw or --platforms") }
    }

    func run() async throws {
        let wanted = try platform.map { try Platform(parsing: $0) }
        let part: DocumentInspection.Part = config ? .config : .document
        let shown: (descriptor: Descriptor, bytes: [UInt8])
        if reference.hasPrefix("docker://") {
            let remote = try RegistryReference(parsing: reference)
            shown = try await RegistryClient.withClient(host: remote.host, options: try registry.options()) { client in
                let fetched = try await client.fetchManifest(remote.repository, reference: remote.manifestReference, expected: remote.digest)
                let root = Descriptor(mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.bytes.count))
                let source = RegistryDocuments(client: client, repository: remote.repository)
                if platforms {
                    let list = try await DocumentInspection.platforms(root: root, rootBytes: fetched.bytes, from: source, what: reference)
                    return (root, Array(list.map { "\($0)\n" }.joined().utf8))
                }
                return try await DocumentInspection.select(
                    root: root, rootBytes: fetched.bytes, from: source, platform: wanted, part: part, what: reference)
            }
            if platforms {
                Output.raw(shown.bytes)
                return
            }
        } else {
            let layout = try options.open()
            let descriptor = try layout.resolve(reference)
            if platforms {
                try layout.platforms(of: descriptor).forEach { Output.line($0.description) }
                return
            }
            let bytes = try layout.blobs.readDocument(descriptor.digest, expectedSize: descriptor.size)
            shown = try await DocumentInspection.select(
                root: descriptor, rootBytes: bytes, from: LayoutDocuments(layout), platform: wanted, part: part, what: reference)
        }
        if raw {
            Output.raw(shown.bytes)
        } else if let format {
            Output.line(try Self.render(format, shown, name: reference, config: config))
        } else {
            Output.line(try JSONCoding.prettyPrinted(shown.bytes, what: "\(config ? "config" : "document") \(shown.descriptor.digest)"))
        }
    }

    /// `--format`: the document's own fields, and Name, Digest, MediaType and Size of what is shown.
    static func render(_ format: String, _ shown: (descriptor: Descriptor, bytes: [UInt8]), name: String, config: Bool) throws -> String {
        var fields: [String: JSONValue] = [:]
        if case .object(let document) = try JSONCoding.decode(JSONValue.self, from: shown.bytes, what: "\(config ? "config" : "document") \(shown.descriptor.digest)") {
            fields = document
        }
        fields["Name"] = .string(name)
        fields["Digest"] = .string(shown.descriptor.digest.string)
        fields["MediaType"] = .string(shown.descriptor.mediaType.rawValue)
        fields["Size"] = .int(shown.descriptor.size)
        return try FormatTemplate(format, fields: ["Digest", "MediaType", "Name", "Size"], documentFields: true).render(.object(fields))
    }
}
