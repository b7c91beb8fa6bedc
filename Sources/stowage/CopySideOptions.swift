import ArgumentParser
import StowageModel
import StowageRegistry

/// skopeo's per-side registry options of `copy`: `--src-*` apply to the source only,
/// `--dest-*` to the destination only, each over the shared registry options.
struct CopySideOptions: ParsableArguments {
    @Option(name: .customLong("src-tls-verify"), help: ArgumentHelp("--tls-verify for the source only.", valueName: "BOOL"), transform: SkopeoBool.parse)
    var sourceTLSVerify: Bool?

    @Option(name: .customLong("dest-tls-verify"), help: ArgumentHelp("--tls-verify for the destination only.", valueName: "BOOL"), transform: SkopeoBool.parse)
    var destinationTLSVerify: Bool?

    @Option(name: .customLong("src-creds"), help: ArgumentHelp("Credentials for the source registry.", valueName: "USER:PASS"))
    var sourceCreds: String?

    @Option(name: .customLong("dest-creds"), help: ArgumentHelp("Credentials for the destination registry.", valueName: "USER:PASS"))
    var destinationCreds: String?

    @Option(name: .customLong("src-authfile"), help: ArgumentHelp("The auth file for the source registry.", valueName: "FILE"))
    var sourceAuthFile: String?

    @Option(name: .customLong("dest-authfile"), help: ArgumentHelp("The auth file for the destination registry.", valueName: "FILE"))
    var destinationAuthFile: String?

    @Option(name: .customLong("src-cert-dir"), help: ArgumentHelp("The --cert-dir of the source registry.", valueName: "DIR"))
    var sourceCertDirectory: String?

    @Option(name: .customLong("dest-cert-dir"), help: ArgumentHelp("The --cert-dir of the destination registry.", valueName: "DIR"))
    var destinationCertDirectory: String?

    @Flag(name: .long, help: "Copy every platform of an index (skopeo's --all). Stowage always does: accepted and ignored.")
    var all = false

    /// The options of each side, from the shared `options`; `source` is nil when no
    /// `--src-*` or `--dest-*` option was given, so both sides share their clients.
    func apply(to options: RegistryOptions) throws -> (source: RegistryOptions?, destination: RegistryOptions) {
        let source = try Self.side(
            options, tlsVerify: sourceTLSVerify, creds: sourceCreds, authFile: sourceAuthFile, certDirectory: sourceCertDirectory, flag: "--src-creds")
        let destination = try Self.side(
            options, tlsVerify: destinationTLSVerify, creds: destinationCreds, authFile: destinationAuthFile,
            certDirectory: destinationCertDirectory, flag: "--dest-creds")
        let perSide = [sourceTLSVerify, destinationTLSVerify].contains { $0 != nil }
            || [sourceCreds, destinationCreds, sourceAuthFile, destinationAuthFile, sourceCertDirectory, destinationCertDirectory].contains { $0 != nil }
        return (perSide ? source : nil, destination)
    }

    private static func side(
        _ options: RegistryOptions, tlsVerify: Bool?, creds: String?, authFile: String?, certDirectory: String?, flag: String
    ) throws -> RegistryOptions {
        var options = options
        if let tlsVerify { options.tlsVerify = tlsVerify }
        if let creds {
            do { options.credentials = try Credential(parsing: creds) } catch { throw StowageError(.usage, "\(flag) must be USERNAME:PASSWORD") }
        }
        if let authFile { options.authFile = authFile }
        if let certDirectory { options.certDirectory = certDirectory }
        return options
    }
}
