import ArgumentParser
import StowageModel
import StowageRegistry

/// One end of a copy, as skopeo names its options: `src` or `dest`.
protocol CopySide {
    /// The option prefix, `src` or `dest`.
    static var prefix: String { get }
    /// "source" or "destination", for help and errors.
    static var noun: String { get }
}

/// The source of a copy: `--src-*`.
enum CopySource: CopySide {
    static let prefix = "src"
    static let noun = "source"
}

/// The destination of a copy: `--dest-*`.
enum CopyDestination: CopySide {
    static let prefix = "dest"
    static let noun = "destination"
}

/// skopeo's registry options for one end of a copy, over the shared ones.
struct CopySideOptions<Side: CopySide>: ParsableArguments {
    @Option(
        name: .customLong("\(Side.prefix)-tls-verify"),
        help: ArgumentHelp("--tls-verify for the \(Side.noun) only.", valueName: "BOOL"), transform: SkopeoBool.parse)
    var tlsVerify: Bool?

    @Option(name: .customLong("\(Side.prefix)-creds"), help: ArgumentHelp("Credentials for the \(Side.noun) registry.", valueName: "USER:PASS"))
    var creds: String?

    @Option(name: .customLong("\(Side.prefix)-authfile"), help: ArgumentHelp("The auth file for the \(Side.noun) registry.", valueName: "FILE"))
    var authFile: String?

    @Option(name: .customLong("\(Side.prefix)-cert-dir"), help: ArgumentHelp("--cert-dir for the \(Side.noun) registry only.", valueName: "DIR"))
    var certDirectory: String?

    /// Whether any option of this side was given.
    var isSet: Bool { tlsVerify != nil || creds != nil || authFile != nil || certDirectory != nil }

    /// `options` with this side's options over them.
    func apply(to options: RegistryOptions) throws -> RegistryOptions {
        var options = options
        if let tlsVerify { options.tlsVerify = tlsVerify }
        if let creds {
            do { options.credentials = try Credential(parsing: creds) } catch {
                throw StowageError(.usage, "--\(Side.prefix)-creds must be USERNAME:PASSWORD")
            }
        }
        if let authFile { options.authFile = authFile }
        if let certDirectory { options.certDirectory = certDirectory }
        return options
    }
}
