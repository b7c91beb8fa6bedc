import ArgumentParser
import Foundation
import StowageLayout
import StowageModel
import StowageRegistry

/// The registry options, with the names skopeo and buildah use.
struct RegistryOptionGroup: ParsableArguments {
    @Option(
        name: .customLong("tls-verify"),
        help: ArgumentHelp(
            "Check certificates and require HTTPS; false also allows plain HTTP. As in skopeo, alone it means true, and =1/0, =t/f or =TRUE/FALSE work too (default: true).",
            valueName: "BOOL"),
        transform: SkopeoBool.parse)
    var tlsVerify: Bool = true

    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("A directory of *.crt CAs and client.cert/client.key.", valueName: "DIR"))
    var certDirectory: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("A PEM bundle of CAs to trust as well.", valueName: "FILE"))
    var caFile: String?

    @Option(name: .customLong("authfile"), help: ArgumentHelp("The auth file to read credentials from (docker config.json shape).", valueName: "FILE"))
    var authFile: String?

    @Option(name: .long, help: ArgumentHelp("Credentials for the registry.", valueName: "USER:PASS"))
    var creds: String?

    @Option(name: .customLong("retry-times"), help: ArgumentHelp("Retries of a failed request (default: 3).", valueName: "N"))
    var retryTimes: Int?

    @Option(name: .long, help: ArgumentHelp("Parallel blob transfers (default: 4).", valueName: "N"))
    var jobs: Int?

    @Option(name: .long, help: ArgumentHelp(
        "How long a manifest or token may take, and a blob may go without a byte; also caps the waits between retries of one request (default: 60s).",
        valueName: "DURATION"))
    var timeout: String?

    func options() throws -> RegistryOptions {
        var options = RegistryOptions()
        options.tlsVerify = tlsVerify
        options.certDirectory = certDirectory
        options.caFile = caFile
        options.authFile = authFile
        options.credentials = try creds.map(Credential.init(parsing:))
        if let retryTimes {
            guard retryTimes >= 0 else { throw StowageError(.usage, "--retry-times must be 0 or more") }
            options.retryTimes = retryTimes
        }
        if let jobs {
            guard (1...64).contains(jobs) else { throw StowageError(.usage, "--jobs must be between 1 and 64") }
            options.jobs = jobs
        }
        if let timeout {
            let seconds = try GracePeriod.parse(timeout)
            guard seconds > 0 else { throw StowageError(.usage, "--timeout must be longer than 0, such as 30s or 2m") }
            options.timeout = seconds
        }
        if let chunk = ProcessInfo.processInfo.environment["STOWAGE_CHUNK_SIZE"].flatMap(Int64.init), chunk > 0 {
            options.chunkSize = chunk
        }
        if let size = ProcessInfo.processInfo.environment["STOWAGE_TAG_PAGE_SIZE"].flatMap(Int.init), size > 0 {
            options.tagPageSize = size
        }
        if let delay = ProcessInfo.processInfo.environment["STOWAGE_RETRY_DELAY"].flatMap(Double.init), delay >= 0 {
            options.retryDelay = delay
        }
        return options
    }
}
