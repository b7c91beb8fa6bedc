import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StowageTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the registry test harness itself (a tool that failed, a server that did not start).
public struct HarnessError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, with whatever output helps to see why.
    public var description: String

    /// An error with the given description.
    public init(_ description: String) {
        self.description = description
    }
}

/// A value guarded by a lock, for the harness's state shared between test code and server threads.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// Wraps `value`.
    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    @discardableResult
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the current value.
    public var current: Value {
        withLock { $0 }
    }
}

/// A thread-safe counter, handy inside `FaultProxy` rules ("fail only the first PATCH").
public final class AtomicCounter: @unchecked Sendable {
    private let state = Locked(0)

    /// A counter starting at zero.
    public init() {}

    /// Adds one and returns the new value (so the first call returns 1).
    @discardableResult
    public func increment() -> Int {
        state.withLock { value in
            value += 1
            return value
        }
    }

    /// The current value.
    public var value: Int { state.current }
}

/// Free TCP ports on 127.0.0.1 for servers that cannot bind port 0 themselves.
public enum FreePort {
    /// Ports handed out by this process, never handed out twice (so parallel tests do not collide).
    private static let handedOut = Locked(Set<Int>())

    /// Binds port 0 on 127.0.0.1, reads the port the kernel chose, closes the socket and returns it.
    /// Another process may still take the port before it is used: callers retry on bind failure.
    public static func next() throws -> Int {
        for _ in 0..<50 {
            let port = try bindEphemeral()
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw HarnessError("no free port found on 127.0.0.1")
    }

    private static func bindEphemeral() throws -> Int {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw HarnessError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw HarnessError("bind(127.0.0.1:0) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HarnessError("getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
    public static func isAcceptingConnections(_ port: Int) -> Bool {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }
}

/// Runs a tool of the harness (openssl, htpasswd, curl) and fails with its output when it fails.
enum Tool {
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> CommandResult {
        let result = try Command.run(executable, arguments)
        guard result.status == 0 else {
            throw HarnessError(
                "\(executable) \(arguments.joined(separator: " ")) failed with status \(result.status): "
                    + result.stderr + result.stdout)
        }
        return result
    }
}

/// Makes a fresh private directory under the system temp dir.
func makeTemporaryDirectory(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(12))").path
    try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return path
}

/// Writes a text file.
func writeFile(_ path: String, _ text: String, permissions: Int = 0o644) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: permissions])
    else { throw HarnessError("cannot write \(path)") }
}

/// Base64url without padding, as JWTs use it.
func base64URL<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// The DER bytes of the first PEM block of `pem` (e.g. a certificate).
func derFromPEM(_ pem: String) throws -> [UInt8] {
    var inside = false
    var body = ""
    for line in pem.split(whereSeparator: \.isNewline) {
        if line.hasPrefix("-----BEGIN ") {
            inside = true
        } else if line.hasPrefix("-----END ") {
            break
        } else if inside {
            body += line.trimmingCharacters(in: .whitespaces)
        }
    }
    guard let data = Data(base64Encoded: body), !data.isEmpty else { throw HarnessError("not a PEM block") }
    return Array(data)
}

/// Starts an HTTP/1.1 server on a free loopback port whose connections are tracked in
/// `connections` (so that `stop()` can close them) and served by the handler `makeHandler` makes.
func startHTTPServer(
    connections: Locked<[ObjectIdentifier: Channel]>,
    _ makeHandler: @escaping @Sendable () -> any ChannelHandler
) throws -> Channel {
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 64)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            let id = ObjectIdentifier(channel)
            connections.withLock { $0[id] = channel }
            channel.closeFuture.whenComplete { _ in connections.withLock { _ = $0.removeValue(forKey: id) } }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(makeHandler())
            }
        }
    return try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
}

/// Writes a whole HTTP/1.1 reply to `head` (headers as given, `Content-Length` set by the
/// caller), and closes the connection afterwards unless the request asked to keep it.
func writeHTTPReply(_ context: ChannelHandlerContext, to head: HTTPRequestHead, status: Int, headers: HTTPHeaders, body: ByteBuffer) {
    var headers = headers
    if !head.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
    let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
    context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
    if body.readableBytes > 0 { context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil) }
    let keepAlive = head.isKeepAlive
    let channel = context.channel
    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
        if !keepAlive { channel.close(promise: nil) }
    }
}

