import AsyncHTTPClient
import NIOCore
import StowageModel

extension RegistryClient {
    /// A transport failure in the user's terms: what happened, where, and what to do,
    /// with no library internals (error type names, TLS library stacks, build paths).
    func networkError(_ error: Error, doing what: String, url: String) -> StowageError {
        let place = Self.hostAndPort(of: url)
        return StowageError(.network, "registry \(host): \(what) failed: \(Self.explain(error, place: place, timeout: options.timeout))")
    }

    /// What a transport error means, as a phrase.
    static func explain(_ error: Error, place: String, timeout: Double) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .readTimeout: return "the registry at \(place) sent nothing for \(seconds(timeout)) (see --timeout)"
            case .writeTimeout: return "the registry at \(place) took no data for \(seconds(timeout)) (see --timeout)"
            case .deadlineExceeded: return "no answer from \(place) within \(seconds(timeout)) (see --timeout)"
            case .connectTimeout: return "could not connect to \(place) in time; is the registry reachable?"
            case .remoteConnectionClosed: return "\(place) closed the connection"
            default: break
            }
        }
        if error is NIOTooManyBytesError {
            return "the answer from \(place) is larger than Stowage accepts for it"
        }
        let text = String(describing: error)
        if text.contains("Connection refused") || text.contains("errno: 111") {
            return "connection refused by \(place); is a registry running there?"
        }
        if text.contains("WRONG_VERSION_NUMBER") {
            return "\(place) does not answer TLS (plain HTTP?); use --tls-verify=false for a trusted plain-HTTP registry"
        }
        if text.contains("Hostname") || text.contains("hostname") {
            return "the certificate of \(place) is not for that host name; pass --tls-verify=false only for a trusted registry"
        }
        if text.contains("certificate") || text.contains("CERTIFICATE") || text.contains("handshake") {
            return "the certificate of \(place) is signed by an unknown authority; pass --ca-file or --cert-dir, or --tls-verify=false for a trusted registry"
        }
        if text.contains("Connection reset") || text.contains("errno: 104") {
            return "\(place) reset the connection"
        }
        if text.contains("Name or service not known") || text.contains("nodename nor servname") {
            return "the host name of \(place) is not known"
        }
        return UserText.clean(text)
    }

    /// A short text for a transport error whose place is not known: `explain` for "the registry".
    static func describe(_ error: Error) -> String {
        explain(error, place: "the registry", timeout: RegistryOptions().timeout)
    }
}
