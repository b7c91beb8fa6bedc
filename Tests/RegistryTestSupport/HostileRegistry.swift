#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A deliberately misbehaving HTTP/1.1 server on 127.0.0.1 for the hostile-registry
/// suite: it answers each request as `handler` decides, including in ways no real
/// registry would (headers and then silence, one byte now and then, a body it never
/// reads). One thread per connection; every connection is closed after one exchange.
public final class HostileRegistry: @unchecked Sendable {
    /// A request as the handler sees it.
    public struct Request: Sendable {
        /// `GET`, `HEAD`, `POST`, …
        public var method: String
        /// The path with its query.
        public var uri: String
        /// The header fields, names lowercased.
        public var headers: [String: String]

        /// The path without the query.
        public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    /// What the server does with a request.
    public enum Behaviour: Sendable {
        /// A whole response (the request body is read first).
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// The status line, the headers and the first bytes of `body` (the request body is
        /// read first), then one more byte every `dripInterval` seconds, or nothing at all
        /// when it is nil, until the client goes away or the server stops.
        case stall(status: Int, headers: [(String, String)], body: [UInt8], sendFirst: Int, dripInterval: Double?)
        /// Never reads the request body and never answers: an upload that stops moving.
        case stopReading
    }

    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }
    /// The port it listens on.
    public let port: Int
    /// Every request received, in order.
    public var requests: [Request] { lock.withLock { received } }

    private let listener: Int32
    private let handler: @Sendable (Request) -> Behaviour
    private let lock = NSLock()
    private var received: [Request] = []
    private var stopped = false

    /// Starts listening on a free loopback port.
    public init(_ handler: @escaping @Sendable (Request) -> Behaviour) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw HarnessError("bind/listen failed: \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Stops accepting and ends every stalled exchange.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        while !isStopped {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        // The head.
        var headEnd: Int?
        while headEnd == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.first == 0x16 {
                // A TLS handshake (a client trying https first): answer as a plain-HTTP server would.
                send(fd, Array("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8))
                return
            }
            headEnd = Self.find([13, 10, 13, 10], in: buffer)
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let request = Request(method: String(requestLine[0]), uri: String(requestLine[1]), headers: headers)
        lock.withLock { received.append(request) }
        let behaviour = handler(request)
        if case .stopReading = behaviour {
            while !isStopped { usleep(100_000) }
            return
        }
        // The request body, read and dropped.
        var remaining = (Int(headers["content-length"] ?? "0") ?? 0) - (buffer.count - headEnd! - 4)
        while remaining > 0 {
            let n = recv(fd, &chunk, min(chunk.count, remaining), 0)
            if n <= 0 { return }
            remaining -= n
        }
        switch behaviour {
        case .respond(let status, let extra, let body):
            send(fd, Self.head(status: status, headers: extra, length: body.count) + body)
        case .stall(let status, let extra, let body, let sendFirst, let drip):
            guard send(fd, Self.head(status: status, headers: extra, length: body.count) + body.prefix(sendFirst)) else { return }
            var next = sendFirst
            while !isStopped {
                if let drip, next < body.count {
                    usleep(UInt32(drip * 1_000_000))
                    guard send(fd, [body[next]]) else { return }
                    next += 1
                } else {
                    usleep(100_000)
                    // A client that went away ends the exchange.
                    var probe: UInt8 = 0
                    if recv(fd, &probe, 1, Int32(MSG_DONTWAIT)) == 0 { return }
                }
            }
        case .stopReading:
            break
        }
    }

    @discardableResult
    private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private static func head(status: Int, headers: [(String, String)], length: Int) -> [UInt8] {
        var text = "HTTP/1.1 \(status) Status\r\nConnection: close\r\nContent-Length: \(length)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}
