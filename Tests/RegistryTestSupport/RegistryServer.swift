import Foundation
import StowageTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real registry for tests: Debian's `docker-registry` (distribution v2.8) serving on
/// 127.0.0.1 on a free port, with filesystem storage in a private temp directory.
///
/// ```swift
/// let registry = try RegistryServer.started(.basicAuth(user: "u", password: "p", tls: nil))
/// defer { registry.stop() }
/// // push to "\(registry.host)/team/app:v1"
/// ```
///
/// The registry process runs under a tiny `sh` watchdog that stops it when the test process
/// goes away (the watchdog's stdin is a pipe from this process), so a crashed test run does not
/// leave registries behind.
public final class RegistryServer: @unchecked Sendable {
    /// How the registry is secured.
    public enum Mode: Sendable {
        /// Plain HTTP, no authentication (clients need `--tls-verify=false`).
        case http
        /// HTTPS with a server certificate from `ca`; no authentication.
        case tls(TestCertificateAuthority)
        /// HTTPS that also requires a client certificate signed by `ca` (`http.tls.clientcas`);
        /// `ca` must have a client certificate.
        case mutualTLS(TestCertificateAuthority)
        /// htpasswd (bcrypt) Basic authentication for one user, over HTTPS when `tls` is given,
        /// else over plain HTTP (which distribution accepts).
        case basicAuth(user: String, password: String, tls: TestCertificateAuthority?)
        /// Token authentication against `tokens` (realm, service, issuer and rootcertbundle taken
        /// from it), over HTTPS when `tls` is given.
        case tokenAuth(TokenServer, tls: TestCertificateAuthority?)

        /// The certificate authority of the HTTPS modes.
        public var certificateAuthority: TestCertificateAuthority? {
            switch self {
            case .http: nil
            case .tls(let ca), .mutualTLS(let ca): ca
            case .basicAuth(_, _, let ca), .tokenAuth(_, let ca): ca
            }
        }

        /// Whether the registry speaks HTTPS.
        public var usesTLS: Bool { certificateAuthority != nil }
    }

    /// The executable, `/usr/bin/docker-registry` unless `$STOWAGE_DOCKER_REGISTRY` names another.
    public static var executable: String {
        ProcessInfo.processInfo.environment["STOWAGE_DOCKER_REGISTRY"] ?? "/usr/bin/docker-registry"
    }

    /// Whether the registry executable is installed (tests may skip without it).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    /// The mode the registry runs in.
    public let mode: Mode
    /// The private directory holding the configuration, storage, htpasswd file and log.
    public let directory: String
    /// The registry's blob and manifest storage (`storage.filesystem.rootdirectory`).
    public let storageDirectory: String
    /// The registry's log (stdout and stderr: warnings, errors and the access log).
    public let logFile: String
    /// The configuration file of the current (or last) start.
    public let configFile: String
    /// How long `start()` waits for `GET /v2/` to answer.
    public var startTimeout: TimeInterval = 20

    private let state = Locked(RunState())

    private struct RunState {
        var port: Int = 0
        var watchdog: Process?
        var stdinPipe: Pipe?
        var removed = false
    }

    /// Prepares a registry in `mode` (nothing runs until `start()`).
    public init(_ mode: Mode = .http) throws {
        self.mode = mode
        directory = try makeTemporaryDirectory("stowage-registry")
        storageDirectory = "\(directory)/storage"
        logFile = "\(directory)/registry.log"
        configFile = "\(directory)/config.yml"
        try FileManager.default.createDirectory(atPath: storageDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        if case .basicAuth(let user, let password, _) = mode {
            let line = try Tool.run("htpasswd", ["-Bbn", user, password]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try writeFile("\(directory)/htpasswd", line + "\n", permissions: 0o600)
        }
    }

    /// Prepares and starts a registry in `mode`.
    public static func started(_ mode: Mode = .http) throws -> RegistryServer {
        let server = try RegistryServer(mode)
        do {
            try server.start()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    deinit {
        stop()
    }

    /// The port on 127.0.0.1 (0 before the first start).
    public var port: Int { state.current.port }
    /// `127.0.0.1:PORT`, the registry part of image references.
    public var host: String { "127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    public var url: String { (mode.usesTLS ? "https://" : "http://") + host }
    /// Whether the registry process is running.
    public var isRunning: Bool { state.current.watchdog?.isRunning ?? false }
    /// The log's content so far.
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Starts the registry on a free port and waits until `GET /v2/` answers (any status), up to
    /// `startTimeout`; retries on another port when the chosen one was taken meanwhile.
    /// Throws with the registry's log when it does not come up.
    public func start() throws {
        guard !isRunning else { return }
        guard Self.isAvailable else { throw HarnessError("\(Self.executable) is not installed (apt-get install docker-registry)") }
        var lastError: Error?
        for _ in 0..<5 {
            let port = try FreePort.next()
            do {
                try launch(port: port)
                return
            } catch let error as PortTaken {
                lastError = error
                continue
            }
        }
        throw lastError ?? HarnessError("registry did not start")
    }

    /// Stops the registry process and starts it again on the same port with the same storage
    /// (e.g. to simulate a registry restart in the middle of a push; a `FaultProxy` in front keeps
    /// working). Throws if the port was taken meanwhile or the registry does not come up.
    public func restart() throws {
        let previous = port
        stopProcess()
        guard previous != 0 else {
            try start()
            return
        }
        try launch(port: previous)
    }

    private struct PortTaken: Error, CustomStringConvertible {
        var description: String
    }

    private func launch(port: Int) throws {
        try writeFile(configFile, configuration(port: port))
        let logStart = (try? FileManager.default.attributesOfItem(atPath: logFile)[.size] as? Int) ?? 0

        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The registry runs in the background (stdin /dev/null); the shell waits for EOF on its
        // stdin, which comes from stop() or from this process exiting, then stops the registry.
        watchdog.arguments = [
            "-c",
            #"""
            "$1" serve "$2" >>"$3" 2>&1 &
            child=$!
            echo "$child" >"$4"
            read -r _ignored || true
            kill -TERM "$child" 2>/dev/null
            i=0
            while kill -0 "$child" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
            kill -KILL "$child" 2>/dev/null
            wait "$child" 2>/dev/null
            exit 0
            """#,
            "stowage-registry-watchdog", Self.executable, configFile, logFile, "\(directory)/registry.pid",
        ]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("REGISTRY_") }
        environment["OTEL_SDK_DISABLED"] = "true"
        watchdog.environment = environment
        let pipe = Pipe()
        watchdog.standardInput = pipe
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
        state.withLock {
            $0.port = port
            $0.watchdog = watchdog
            $0.stdinPipe = pipe
        }

        let deadline = Date().addingTimeInterval(startTimeout)
        while Date() < deadline {
            if !watchdog.isRunning || registryExited() {
                let text = logSince(logStart)
                stopProcess()
                if text.contains("address already in use") { throw PortTaken(description: text) }
                throw HarnessError("docker-registry exited at start (\(mode.label), port \(port)); log:\n\(text)")
            }
            if FreePort.isAcceptingConnections(port), answersV2() {
                // Something answered: make sure it was this registry, not a process that took the port.
                usleep(20_000)
                if !registryExited() { return }
            }
            usleep(50_000)
        }
        let text = logSince(logStart)
        stopProcess()
        throw HarnessError(
            "docker-registry did not answer GET /v2/ on \(host) within \(Int(startTimeout)) s (\(mode.label)); log:\n\(text)")
    }

    /// Whether the registry process (child of the watchdog) has exited.
    private func registryExited() -> Bool {
        guard let text = try? String(contentsOfFile: "\(directory)/registry.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return false }  // not written yet
        #if os(Linux)
        // A registry that exited stays a zombie until the watchdog reaps it: read its state.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return true }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.first == "Z" || fields.first == "X"
        #else
        return kill(pid, 0) != 0 && errno == ESRCH
        #endif
    }

    /// `GET /v2/` with curl: true when any HTTP status came back.
    private func answersV2() -> Bool {
        var arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2"]
        if let ca = mode.certificateAuthority {
            arguments += ["--cacert", ca.caCertificate]
            if case .mutualTLS = mode, let cert = ca.clientCertificate, let key = ca.clientKey {
                arguments += ["--cert", cert, "--key", key]
            }
        }
        arguments.append("\(url)/v2/")
        guard let result = try? Command.runQuietly("curl", arguments) else { return false }
        return Int(result) ?? 0 > 0
    }

    private func logSince(_ offset: Int) -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "" }
        return String(decoding: data.dropFirst(min(offset, data.count)), as: UTF8.self)
    }

    /// Stops the registry (SIGTERM, then SIGKILL after 3 s) and removes its directory: storage,
    /// configuration and log. Safe to call more than once.
    public func stop() {
        stopProcess()
        let first = state.withLock { state in
            defer { state.removed = true }
            return !state.removed
        }
        if first { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Stops the registry process but keeps its files, so it can be started again on a new port
    /// with the same storage.
    public func stopProcess() {
        let (watchdog, pipe) = state.withLock { state -> (Process?, Pipe?) in
            defer {
                state.watchdog = nil
                state.stdinPipe = nil
            }
            return (state.watchdog, state.stdinPipe)
        }
        guard let watchdog else { return }
        if let text = try? String(contentsOfFile: "\(directory)/registry.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(pid, SIGTERM)
        }
        try? pipe?.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(5)
        while watchdog.isRunning && Date() < deadline { usleep(20_000) }
        if watchdog.isRunning {
            if let text = try? String(contentsOfFile: "\(directory)/registry.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                kill(pid, SIGKILL)
            }
            watchdog.terminate()
            watchdog.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: "\(directory)/registry.pid")
    }

    /// The YAML configuration for a start on `port`.
    func configuration(port: Int) -> String {
        var yaml = """
            version: 0.1
            log:
              level: warn
              formatter: text
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: \(storageDirectory)
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:\(port)
              secret: stowage-test-\(UUID().uuidString)

            """
        if let ca = mode.certificateAuthority {
            yaml += """
                  tls:
                    certificate: \(ca.serverCertificate)
                    key: \(ca.serverKey)

                """
            if case .mutualTLS = mode {
                yaml += """
                        clientcas:
                          - \(ca.caCertificate)

                    """
            }
        }
        switch mode {
        case .basicAuth:
            yaml += """
                auth:
                  htpasswd:
                    realm: stowage-test-registry
                    path: \(directory)/htpasswd

                """
        case .tokenAuth(let tokens, _):
            yaml += """
                auth:
                  token:
                    realm: \(tokens.realm)
                    service: \(tokens.service)
                    issuer: \(tokens.issuer)
                    rootcertbundle: \(tokens.certificate)

                """
        case .http, .tls, .mutualTLS:
            break
        }
        return yaml
    }
}

extension RegistryServer.Mode {
    /// A short name for messages.
    var label: String {
        switch self {
        case .http: "http"
        case .tls: "tls"
        case .mutualTLS: "mutual tls"
        case .basicAuth(_, _, let ca): ca == nil ? "basic auth over http" : "basic auth over tls"
        case .tokenAuth(_, let ca): ca == nil ? "token auth over http" : "token auth over tls"
        }
    }
}

extension Command {
    /// Runs a program and returns its stdout, nil on a non-zero exit.
    static func runQuietly(_ executable: String, _ arguments: [String]) throws -> String? {
        let result = try run(executable, arguments)
        return result.status == 0 ? result.stdout : nil
    }
}
