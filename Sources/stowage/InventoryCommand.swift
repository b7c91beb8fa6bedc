import ArgumentParser
import StowageCopy
import StowageLayout
import StowageModel
import StowageRegistry

struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Write what the layout, or a registry, holds as JSON, for a delta export.",
        discussion: """
            The inventory lists every blob (manifests and indexes included) with its size, and \
            every name with its digest and media type. For a layout: the blobs index.json reaches, \
            the ones gc keeps. For registry repositories (docker://HOST[:PORT]/REPO, several \
            allowed): every tag's manifest or index, fetched and digest-checked, and the manifests \
            of each index; configs and layers are taken from their descriptors; names are \
            HOST/REPO:TAG, and a SOURCE with :TAG or @DIGEST lists only that image. Carry the file \
            to the other side and run `stowage export --exclude-present FILE` there: the archive \
            then holds only the blobs the inventory lacks. The JSON is versioned (schemaVersion 1) \
            and canonical: blobs sorted by digest, names by name, one a line, so the same content \
            gives the same bytes. Nothing is written to the layout.
            """)

    @OptionGroup var layout: LayoutOptions
    @OptionGroup var registry: RegistryOptionGroup

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp(
        "Write the inventory to FILE (replaced whole, never half-written) instead of stdout.", valueName: "FILE"))
    var output: String?

    @Argument(help: ArgumentHelp(
        "Registry repositories, docker://HOST[:PORT]/REPO[:TAG|@DIGEST] (default: the layout).", valueName: "SOURCE"))
    var sources: [String] = []

    func validate() throws {
        for source in sources where !source.hasPrefix("docker://") {
            throw ValidationError("'\(source)' is not a registry repository; write docker://HOST[:PORT]/REPO (the layout is given with --layout)")
        }
        if output?.isEmpty == true { throw ValidationError("-o FILE must name a file") }
    }

    func run() async throws {
        let inventory: Inventory
        if sources.isEmpty {
            inventory = try layout.open().inventory()
        } else {
            let references = try sources.map { try RegistryReference(parsing: $0) }
            (inventory, _) = try await TransferSession.with(options: try registry.options(), verb: "listing") { session, _ in
                try await RegistryInventory(session: session).inventory(of: references)
            }
        }
        guard let output else {
            Output.raw(inventory.jsonBytes)
            return
        }
        try inventory.write(to: output)
        Output.line(
            "inventory of \(inventory.sources.joined(separator: ", ")): \(inventory.blobs.count) blobs (\(Output.size(inventory.totalBytes))), "
                + "\(inventory.names.count) names -> \(output)")
    }
}
