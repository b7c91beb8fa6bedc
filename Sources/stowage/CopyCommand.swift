import ArgumentParser
import Foundation
import StowageCopy
import StowageModel

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy an image between layouts, archives and registries.",
        discussion: """
            SRC and DST use the transports of skopeo and buildah: oci:DIR[:REF], \
            oci-archive:FILE[:REF], docker-archive:FILE[:REF] (source only) and \
            docker://HOST/REPO[:TAG|@DIGEST]. Bytes are copied as stored: digests stay. \
            As in skopeo, a destination oci:DIR:REF names the image exactly REF (no :latest \
            added) and nothing else, and without REF the image is added unnamed; the names \
            inside a source archive only pick its image. Signatures, SBOMs and attestations of \
            the image travel with it (--no-referrers leaves them behind). A docker:// DST \
            without a tag is :latest, as in skopeo. The registry options apply to both sides; \
            --src-* and --dest-* override them for one side only. Every platform of an \
            index is copied, so --all changes nothing.
            """)

    @OptionGroup var registry: RegistryOptionGroup
    @OptionGroup var sourceRegistry: CopySideOptions<CopySource>
    @OptionGroup var destinationRegistry: CopySideOptions<CopyDestination>

    @Flag(name: .long, help: "Copy every platform of an index (skopeo's --all). Stowage always does: accepted and ignored.")
    var all = false
    @Flag(name: .customLong("preserve-digests"), help: "Keep every digest (skopeo's --preserve-digests). Stowage always does, as copy filters no platform: accepted and ignored.")
    var preserveDigests = false
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var progress: ProgressOptions

    @Argument(help: ArgumentHelp("Where the image is.", valueName: "SRC"))
    var source: String

    @Argument(help: ArgumentHelp("Where it goes.", valueName: "DST"))
    var destination: String

    func run() async throws {
        let from = try ImageLocation(parsing: source)
        let to = try ImageLocation(parsing: destination).asDestination
        let shared = try registry.options()
        // Without --src-* or --dest-*, one registry as both ends keeps one client.
        let sourceOptions = sourceRegistry.isSet || destinationRegistry.isSet ? try sourceRegistry.apply(to: shared) : nil
        let (image, _) = try await TransferSession.with(
            options: try destinationRegistry.apply(to: shared), sourceOptions: sourceOptions, verb: "copying", progress: progress.mode()
        ) { session, progress in
            var copier = ImageCopier(session: session, progress: progress)
            copier.referrers = referrers.policy
            return try await copier.copy(from: from, to: to)
        }
        Output.line("copied \(from) -> \(to) (\(image.digest))")
    }
}
