import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An in-process HTTP/1.1 reverse proxy on 127.0.0.1 in front of a plain-HTTP upstream (a
/// `RegistryServer` in `.http` mode), injecting faults chosen per request by `rule`.
///
/// Requests and responses are streamed both ways with backpressure (no body is ever held whole)
/// and forwarded unchanged: the client's `Host` header goes to the upstream as it is, so the
/// registry's `Location` headers point back at the proxy. Each client connection gets its own
/// upstream connection, opened at its first forwarded request.
///
/// ```swift
/// let proxy = try FaultProxy(upstream: registry.host)
/// let patches = AtomicCounter()
/// proxy.rule = { request in
///     request.method == "PATCH" && patches.increment() == 1 ? .dropAfterRequestBytes(100_000) : .forward
/// }
/// // push to "\(proxy.host)/team/app:v1", then look at proxy.records
/// ```
public final class FaultProxy: @unchecked Sendable {
    /// A request as the rule sees it (the head only; the body is still on its way).
    public struct Request: Sendable {
        /// The position of the request among all requests the proxy received, from 0.
        public var index: Int
        /// `GET`, `HEAD`, `POST`, `PATCH`, `PUT`, …
        public var method: String
        /// The request target as sent, with its query (`/v2/team/app/blobs/uploads/…?_state=…`).
        public var uri: String
        /// The header fields as sent, in order.
        public var headers: [(name: String, value: String)]

        /// The path part of `uri` (without the query).
        public var path: String {
            uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
        }

        /// The first value of the header `name` (case-insensitive), if present.
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    /// What the proxy does with one request.
    public enum Action: Sendable {
        /// Forwards the request and the response unchanged.
        case forward
        /// Answers by itself (after reading and discarding the request body) without contacting
        /// the upstream, e.g. `.respond(status: 503)` or
        /// `.respond(status: 429, headers: [("Retry-After", "1")])`. `Content-Length` is added.
        case respond(status: Int, headers: [(String, String)] = [], body: String = "")
        /// Forwards the request head and the first `N` bytes of the request body, then closes the
        /// client connection abruptly (TCP reset) and closes the upstream connection, so the
        /// upstream sees a truncated request: a connection dropped mid-upload. When the whole body
        /// is `N` bytes or less, the request is forwarded entire and the connection is dropped when
        /// the upstream's response head arrives, before any of it reaches the client (a lost
        /// response: the upstream did the work, the client cannot know).
        case dropAfterRequestBytes(Int)
        /// Closes the client connection abruptly as soon as the request head arrives; nothing is
        /// forwarded.
        case disconnect
        /// Waits this many seconds, then forwards.
        case delay(TimeInterval)
        /// Forwards at this many bytes per second of body, both ways (a slow link).
        case slow(bytesPerSecond: Int)

        var label: String {
            switch self {
            case .forward: "forward"
            case .respond(let status, _, _): "respond \(status)"
            case .dropAfterRequestBytes(let count): "drop after \(count) request bytes"
            case .disconnect: "disconnect"
            case .delay(let seconds): "delay \(seconds) s"
            case .slow(let rate): "slow \(rate) B/s"
            }
        }
    }

    /// How a request ended.
    public enum Outcome: String, Sendable {
        /// Still being handled.
        case inProgress
        /// The upstream's response was relayed completely.
        case completed
        /// The proxy answered by itself (`.respond`).
        case answeredByProxy
        /// The proxy dropped the connection on purpose (`.dropAfterRequestBytes`, `.disconnect`).
        case dropped
        /// The upstream could not be reached or closed the connection before the response ended.
        case upstreamFailed
        /// The client closed the connection before the response ended.
        case clientClosed
    }

    /// What happened to one request.
    public struct Record: Sendable, CustomStringConvertible {
        /// The request's `Request.index`.
        public var index: Int
        /// The request method.
        public var method: String
        /// The request target.
        public var uri: String
        /// The action the rule chose.
        public var action: Action
        /// The final status returned to the client (the upstream's, or the proxy's own answer);
        /// nil when the client got no response.
        public var status: Int?
        /// The final status the upstream answered, even when it was not relayed; nil if none.
        public var upstreamStatus: Int?
        /// Request body bytes received from the client.
        public var requestBodyBytes: Int
        /// Request body bytes forwarded to the upstream.
        public var forwardedBodyBytes: Int
        /// Response body bytes relayed to the client.
        public var responseBodyBytes: Int
        /// How it ended.
        public var outcome: Outcome

        /// The path part of `uri`.
        public var path: String {
            uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
        }

        /// One line: index, method, target, action, status, outcome and byte counts.
        public var description: String {
            "#\(index) \(method) \(uri) [\(action.label)] → \(status.map(String.init) ?? "no response") \(outcome.rawValue)"
                + " (body in \(requestBodyBytes), forwarded \(forwardedBodyBytes), out \(responseBodyBytes))"
        }
    }

    /// Chooses the action for a request. Called on the proxy's threads; must be thread-safe.
    public typealias Rule = @Sendable (Request) -> Action

    /// The upstream, `HOST:PORT`.
    public let upstream: String
    /// The proxy's port on 127.0.0.1.
    public let port: Int

    let core: ProxyCore
    private let channel: Channel

    /// Starts a proxy to `upstream` (`host:port` of a plain-HTTP server) on 127.0.0.1, port 0.
    public init(upstream: String, rule: @escaping Rule = { _ in .forward }) throws {
        guard let colon = upstream.lastIndex(of: ":"), let upstreamPort = Int(upstream[upstream.index(after: colon)...])
        else { throw HarnessError("upstream must be HOST:PORT, not \(upstream)") }
        self.upstream = upstream
        var upstreamHost = String(upstream[..<colon])
        if upstreamHost == "localhost" { upstreamHost = "127.0.0.1" }
        let core = ProxyCore(upstreamHost: upstreamHost, upstreamPort: upstreamPort, rule: rule)
        self.core = core
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                core.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    var encoder = HTTPResponseEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: false,
                        withEncoderConfiguration: encoder, withDecoderLimitConfiguration: .init())
                    let session = ProxySession(core: core, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(ClientSideHandler(session: session))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    deinit {
        shutDown(wait: false)
    }

    /// `127.0.0.1:PORT`, the registry part of references that go through the proxy.
    public var host: String { "127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT`.
    public var url: String { "http://\(host)" }

    /// The rule choosing each request's action; `.forward` for everything by default.
    /// Changeable at any time, also while requests are running (it applies to later requests).
    public var rule: Rule {
        get { core.state.current.rule }
        set { core.state.withLock { $0.rule = newValue } }
    }

    /// Every request received so far, in arrival order.
    public var records: [Record] { core.state.current.records }

    /// Forgets the records (indexes keep counting).
    public func resetRecords() {
        core.state.withLock { $0.records.removeAll() }
    }

    /// Stops listening and closes every connection.
    public func stop() {
        shutDown(wait: true)
    }

    private func shutDown(wait: Bool) {
        let first = core.state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        let closing = channel.close()
        for connection in core.connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        if wait { try? closing.wait() }
    }
}

/// The proxy state shared by every connection.
final class ProxyCore: Sendable {
    struct State {
        var rule: FaultProxy.Rule
        var records: [FaultProxy.Record] = []
        var nextIndex = 0
        var stopped = false
    }

    let upstreamHost: String
    let upstreamPort: Int
    let state: Locked<State>
    let connections = Locked([ObjectIdentifier: Channel]())

    init(upstreamHost: String, upstreamPort: Int, rule: @escaping FaultProxy.Rule) {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        state = Locked(State(rule: rule))
    }

    func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [connections] _ in connections.withLock { _ = $0.removeValue(forKey: id) } }
    }

    /// Numbers a new request, asks the rule and records it.
    func begin(_ head: HTTPRequestHead) -> (index: Int, action: FaultProxy.Action) {
        let (index, rule) = state.withLock { state -> (Int, FaultProxy.Rule) in
            defer { state.nextIndex += 1 }
            return (state.nextIndex, state.rule)
        }
        let request = FaultProxy.Request(
            index: index, method: head.method.rawValue, uri: head.uri,
            headers: head.headers.map { (name: $0.name, value: $0.value) })
        let action = rule(request)
        let record = FaultProxy.Record(
            index: index, method: request.method, uri: head.uri, action: action, status: nil, upstreamStatus: nil,
            requestBodyBytes: 0, forwardedBodyBytes: 0, responseBodyBytes: 0, outcome: .inProgress)
        state.withLock { $0.records.append(record) }
        return (index, action)
    }

    func update(_ index: Int, _ change: (inout FaultProxy.Record) -> Void) {
        state.withLock { state in
            // Records are appended in index order; search from the end (recent requests).
            if let position = state.records.lastIndex(where: { $0.index == index }) {
                change(&state.records[position])
            }
        }
    }
}

/// A FIFO of message parts written to one side, with optional pacing (slow link) and holding
/// (delay). While parts are queued, the other side is not read (backpressure).
final class Pump<Part> {
    enum Item {
        case part(Part)
        case action(() -> Void)
    }

    private var queue = CircularBuffer<Item>()
    private var pacing = false
    private var running = false
    private var again = false
    private let eventLoop: EventLoop
    private let bodySize: (Part) -> Int
    private let splitBody: (Part, Int) -> (Part, Part)

    /// Body bytes per second, nil for full speed.
    var bytesPerSecond: Int?
    /// Holds every part until cleared (a delayed request).
    var held = false
    /// Whether the target can take a write now.
    var canWrite: () -> Bool = { false }
    /// Writes one part (no flush).
    var write: (Part) -> Void = { _ in }
    /// Flushes the target.
    var flush: () -> Void = {}
    /// Called whenever the queue becomes (or stays) empty.
    var drained: () -> Void = {}

    init(eventLoop: EventLoop, bodySize: @escaping (Part) -> Int, splitBody: @escaping (Part, Int) -> (Part, Part)) {
        self.eventLoop = eventLoop
        self.bodySize = bodySize
        self.splitBody = splitBody
    }

    var isDrained: Bool { queue.isEmpty && !pacing }

    func push(_ part: Part) {
        queue.append(.part(part))
        run()
    }

    /// Runs `action` once every part queued before it has been written.
    func push(action: @escaping () -> Void) {
        queue.append(.action(action))
        run()
    }

    func clear() {
        queue.removeAll()
    }

    func run() {
        if running {
            again = true
            return
        }
        running = true
        repeat {
            again = false
            var unflushed = false
            while !held, !pacing, let item = queue.first {
                if case .part = item, !canWrite() { break }
                queue.removeFirst()
                switch item {
                case .action(let action):
                    if unflushed {
                        flush()
                        unflushed = false
                    }
                    action()
                case .part(var part):
                    let size = bodySize(part)
                    if let rate = bytesPerSecond, rate > 0, size > 0 {
                        let slice = max(1, rate / 20)
                        var written = size
                        if size > slice {
                            let (first, rest) = splitBody(part, slice)
                            queue.prepend(.part(rest))
                            part = first
                            written = slice
                        }
                        write(part)
                        flush()
                        unflushed = false
                        pacing = true
                        let delay = TimeAmount.nanoseconds(Int64(Double(written) / Double(rate) * 1e9))
                        eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
                            guard let self else { return }
                            self.pacing = false
                            self.run()
                        }
                    } else {
                        write(part)
                        unflushed = true
                    }
                }
            }
            if unflushed { flush() }
        } while again
        running = false
        if isDrained { drained() }
    }
}

/// One client connection of the proxy and its upstream connection. Lives on one event loop.
final class ProxySession {
    private struct Exchange {
        var index: Int
        var action: FaultProxy.Action
        var keepAlive: Bool
        var requestDone = false
        var responseDone = false
        var responseHeadSent = false
        var responseKeepAlive = true
        var acceptedBody = 0
        /// Past the byte limit of `.dropAfterRequestBytes`: the rest of the body is discarded.
        var dropping = false
        /// The body ended within the byte limit: drop when the response head arrives.
        var dropOnResponse = false
        /// The upstream went away after answering: discard the rest of the request body.
        var discardRequest = false
    }

    private enum UpstreamState {
        case none
        case connecting
        case connected(ChannelHandlerContext)
    }

    private let core: ProxyCore
    private let eventLoop: EventLoop
    private var client: ChannelHandlerContext?
    private var upstream = UpstreamState.none
    private var exchange: Exchange?
    private var backlog: [HTTPServerRequestPart] = []
    private var closed = false
    private var clientReadPending = false
    private var upstreamReadPending = false
    private var lastUpstreamWrite: EventLoopFuture<Void>?
    private let toUpstream: Pump<HTTPClientRequestPart>
    private let toClient: Pump<HTTPServerResponsePart>

    init(core: ProxyCore, eventLoop: EventLoop) {
        self.core = core
        self.eventLoop = eventLoop
        toUpstream = Pump(
            eventLoop: eventLoop,
            bodySize: { part in if case .body(let data) = part { data.readableBytes } else { 0 } },
            splitBody: { part, count in
                guard case .body(.byteBuffer(var buffer)) = part, let first = buffer.readSlice(length: count) else {
                    return (part, .body(.byteBuffer(ByteBuffer())))
                }
                return (.body(.byteBuffer(first)), .body(.byteBuffer(buffer)))
            })
        toClient = Pump(
            eventLoop: eventLoop,
            bodySize: { part in if case .body(let data) = part { data.readableBytes } else { 0 } },
            splitBody: { part, count in
                guard case .body(.byteBuffer(var buffer)) = part, let first = buffer.readSlice(length: count) else {
                    return (part, .body(.byteBuffer(ByteBuffer())))
                }
                return (.body(.byteBuffer(first)), .body(.byteBuffer(buffer)))
            })
        toUpstream.canWrite = { [weak self] in
            guard let self, !self.closed, case .connected(let context) = self.upstream else { return false }
            return context.channel.isWritable
        }
        toUpstream.write = { [weak self] part in
            guard let self, case .connected(let context) = self.upstream else { return }
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(NIOAny(part), promise: promise)
            self.lastUpstreamWrite = promise.futureResult
            if case .body(let data) = part, let index = self.exchange?.index {
                let count = data.readableBytes
                self.core.update(index) { $0.forwardedBodyBytes += count }
            }
        }
        toUpstream.flush = { [weak self] in
            guard let self, case .connected(let context) = self.upstream else { return }
            context.flush()
        }
        toUpstream.drained = { [weak self] in self?.resumeClientReads() }
        toClient.canWrite = { [weak self] in
            guard let self, !self.closed, let client = self.client else { return false }
            return client.channel.isWritable
        }
        toClient.write = { [weak self] part in
            guard let self, let client = self.client else { return }
            client.write(NIOAny(part), promise: nil)
            if case .body(let data) = part, let index = self.exchange?.index {
                let count = data.readableBytes
                self.core.update(index) { $0.responseBodyBytes += count }
            }
        }
        toClient.flush = { [weak self] in self?.client?.flush() }
        toClient.drained = { [weak self] in self?.resumeUpstreamReads() }
    }

    // MARK: Client side

    func clientActive(_ context: ChannelHandlerContext) {
        client = context
    }

    var clientMayRead: Bool {
        !closed && backlog.isEmpty && toUpstream.isDrained
    }

    func clientWantsRead(_ context: ChannelHandlerContext) {
        if clientMayRead {
            context.read()
        } else {
            clientReadPending = true
        }
    }

    private func resumeClientReads() {
        guard clientReadPending, clientMayRead, let client else { return }
        clientReadPending = false
        client.read()
    }

    func clientRead(_ part: HTTPServerRequestPart) {
        guard !closed else { return }
        if let exchange, exchange.requestDone {
            backlog.append(part)  // a pipelined request: handled when this exchange is over
            return
        }
        switch part {
        case .head(let head):
            startExchange(head)
        case .body(let buffer):
            guard var exchange else { return }
            let count = buffer.readableBytes
            core.update(exchange.index) { $0.requestBodyBytes += count }
            switch exchange.action {
            case .respond, .disconnect:
                break
            case .dropAfterRequestBytes(let limit):
                guard !exchange.dropping else { break }
                let remaining = limit - exchange.acceptedBody
                if count <= remaining {
                    exchange.acceptedBody += count
                    self.exchange = exchange
                    toUpstream.push(.body(.byteBuffer(buffer)))
                } else {
                    exchange.acceptedBody = limit
                    exchange.dropping = true
                    self.exchange = exchange
                    if remaining > 0 {
                        toUpstream.push(.body(.byteBuffer(buffer.getSlice(at: buffer.readerIndex, length: remaining)!)))
                    }
                    toUpstream.push(action: { [weak self] in self?.drop() })
                }
            case .forward, .delay, .slow:
                guard !exchange.discardRequest else { break }
                toUpstream.push(.body(.byteBuffer(buffer)))
            }
        case .end(let trailers):
            guard var exchange else { return }
            exchange.requestDone = true
            self.exchange = exchange
            switch exchange.action {
            case .respond(let status, let headers, let body):
                answer(status: status, headers: headers, body: body)
            case .disconnect:
                break
            case .dropAfterRequestBytes:
                guard !exchange.dropping else { break }
                self.exchange?.dropOnResponse = true
                toUpstream.push(.end(trailers))
            case .forward, .delay, .slow:
                if exchange.discardRequest {
                    finishIfDone()
                } else {
                    toUpstream.push(.end(trailers))
                }
            }
        }
    }

    private func startExchange(_ head: HTTPRequestHead) {
        let (index, action) = core.begin(head)
        exchange = Exchange(index: index, action: action, keepAlive: head.isKeepAlive)
        toUpstream.bytesPerSecond = nil
        toClient.bytesPerSecond = nil
        switch action {
        case .disconnect:
            core.update(index) { $0.outcome = .dropped }
            abort()
            return
        case .respond:
            return
        case .slow(let rate):
            toUpstream.bytesPerSecond = max(1, rate)
            toClient.bytesPerSecond = max(1, rate)
        case .delay(let seconds):
            toUpstream.held = true
            eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(max(0, seconds) * 1e9))) { [weak self] in
                guard let self else { return }
                self.toUpstream.held = false
                self.toUpstream.run()
            }
        case .forward, .dropAfterRequestBytes:
            break
        }
        connectUpstreamIfNeeded()
        toUpstream.push(.head(head))
    }

    /// The proxy's own answer (`.respond`).
    private func answer(status: Int, headers: [(String, String)], body: String) {
        guard let exchange else { return }
        var fields = HTTPHeaders(headers)
        fields.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        if !fields.contains(name: "Content-Type") { fields.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        if !exchange.keepAlive { fields.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields)
        core.update(exchange.index) {
            $0.status = status
            $0.outcome = .answeredByProxy
            $0.responseBodyBytes = body.utf8.count
        }
        toClient.push(.head(head))
        if !body.isEmpty { toClient.push(.body(.byteBuffer(ByteBuffer(string: body)))) }
        toClient.push(.end(nil))
        toClient.push(action: { [weak self] in
            self?.exchange?.responseDone = true
            self?.finishIfDone()
        })
    }

    private func finishIfDone() {
        guard let current = exchange, current.requestDone, current.responseDone else { return }
        exchange = nil
        if !(current.keepAlive && current.responseKeepAlive) {
            closeClientGracefully()
            return
        }
        let pending = backlog
        backlog = []
        for part in pending { clientRead(part) }
        resumeClientReads()
    }

    func clientWritabilityChanged() {
        toClient.run()
    }

    func clientClosed() {
        guard !closed else {
            client = nil
            return
        }
        closed = true
        client = nil
        if let exchange, !exchange.responseDone {
            core.update(exchange.index) { if $0.outcome == .inProgress { $0.outcome = .clientClosed } }
        }
        closeUpstream()
        toUpstream.clear()
        toClient.clear()
    }

    // MARK: Upstream side

    private func connectUpstreamIfNeeded() {
        guard case .none = upstream else { return }
        upstream = .connecting
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var encoder = HTTPRequestEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder(configuration: encoder))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)))
                    try channel.pipeline.syncOperations.addHandler(UpstreamSideHandler(session: bound.value))
                }
            }
            .connect(host: core.upstreamHost, port: core.upstreamPort)
            .assumeIsolated()
            .whenFailure { [weak self] error in
                self?.upstreamConnectFailed(error)
            }
    }

    func upstreamActive(_ context: ChannelHandlerContext) {
        guard !closed else {
            context.close(promise: nil)
            return
        }
        upstream = .connected(context)
        toUpstream.run()
    }

    private func upstreamConnectFailed(_ error: Error) {
        upstream = .none
        guard !closed, let exchange else { return }
        core.update(exchange.index) { $0.outcome = .upstreamFailed }
        toUpstream.clear()
        badGateway("cannot reach the upstream \(core.upstreamHost):\(core.upstreamPort): \(error)")
    }

    /// Answers 502 and closes the client connection (the upstream failed before answering).
    private func badGateway(_ message: String) {
        guard let exchange, !exchange.responseHeadSent else {
            abort()
            return
        }
        self.exchange?.responseHeadSent = true
        var fields = HTTPHeaders()
        fields.add(name: "Content-Length", value: String(message.utf8.count))
        fields.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        fields.add(name: "Connection", value: "close")
        core.update(exchange.index) { $0.status = 502 }
        toClient.push(.head(HTTPResponseHead(version: .http1_1, status: .badGateway, headers: fields)))
        toClient.push(.body(.byteBuffer(ByteBuffer(string: message))))
        toClient.push(.end(nil))
        toClient.push(action: { [weak self] in self?.closeClientGracefully() })
    }

    var upstreamMayRead: Bool { !closed && toClient.isDrained }

    func upstreamWantsRead(_ context: ChannelHandlerContext) {
        if upstreamMayRead || !isCurrentUpstream(context) {
            context.read()
        } else {
            upstreamReadPending = true
        }
    }

    private func resumeUpstreamReads() {
        guard upstreamReadPending, upstreamMayRead, case .connected(let context) = upstream else { return }
        upstreamReadPending = false
        context.read()
    }

    func upstreamWritabilityChanged() {
        toUpstream.run()
    }

    /// Whether `context` is the current upstream connection (not one closed earlier).
    private func isCurrentUpstream(_ context: ChannelHandlerContext) -> Bool {
        if case .connected(let current) = upstream { return current === context }
        return false
    }

    func upstreamRead(_ part: HTTPClientResponsePart, from context: ChannelHandlerContext) {
        guard !closed, isCurrentUpstream(context), let exchange else { return }
        switch part {
        case .head(let head):
            let code = Int(head.status.code)
            if (100..<200).contains(code) && code != 101 {
                if !exchange.dropOnResponse { toClient.push(.head(head)) }
                return
            }
            core.update(exchange.index) { $0.upstreamStatus = code }
            if exchange.dropOnResponse {
                drop()
                return
            }
            self.exchange?.responseHeadSent = true
            self.exchange?.responseKeepAlive = head.isKeepAlive
            core.update(exchange.index) { $0.status = code }
            toClient.push(.head(head))
        case .body(let buffer):
            toClient.push(.body(.byteBuffer(buffer)))
        case .end(let trailers):
            toClient.push(.end(trailers))
            toClient.push(action: { [weak self] in self?.responseFinished() })
        }
    }

    private func responseFinished() {
        guard let exchange else { return }
        core.update(exchange.index) { if $0.outcome == .inProgress { $0.outcome = .completed } }
        self.exchange?.responseDone = true
        if !exchange.responseKeepAlive { closeUpstream() }
        finishIfDone()
    }

    func upstreamClosed(_ context: ChannelHandlerContext) {
        guard isCurrentUpstream(context) else { return }  // an older connection, closed on purpose
        upstream = .none
        upstreamReadPending = false
        guard !closed, let exchange else { return }
        if exchange.responseDone {
            // Answered already; the client may still be sending a body nobody will read.
            if !exchange.requestDone {
                self.exchange?.discardRequest = true
                toUpstream.clear()
                resumeClientReads()
            }
            return
        }
        // The response was not complete yet: wait for what is queued for the client, then fail.
        toUpstream.clear()
        toClient.push(action: { [weak self] in
            guard let self, let exchange = self.exchange, !exchange.responseDone else { return }
            self.core.update(exchange.index) { if $0.outcome == .inProgress { $0.outcome = .upstreamFailed } }
            self.badGateway("the upstream closed the connection")
        })
    }

    private func closeUpstream() {
        let previous = upstream
        upstream = .none
        if case .connected(let context) = previous {
            context.close(promise: nil)
        }
    }

    // MARK: Ending

    /// `.dropAfterRequestBytes`: reset the client, close the upstream once what was forwarded is
    /// written.
    private func drop() {
        guard !closed else { return }
        if let exchange { core.update(exchange.index) { $0.outcome = .dropped } }
        // Forget the upstream first: closing it may call back into this session at once.
        let previous = upstream
        upstream = .none
        if case .connected(let context) = previous {
            context.flush()
            let channel = context.channel
            (lastUpstreamWrite ?? eventLoop.makeSucceededVoidFuture()).whenComplete { _ in channel.close(promise: nil) }
        }
        abort()
    }

    /// Closes the client connection with a TCP reset.
    private func abort() {
        closed = true
        toUpstream.clear()
        toClient.clear()
        closeUpstream()
        guard let client else { return }
        if let options = client.channel as? SocketOptionProvider {
            _ = options.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        client.close(promise: nil)
    }

    private func closeClientGracefully() {
        closed = true
        closeUpstream()
        guard let client else { return }
        client.flush()
        client.close(promise: nil)
    }
}

/// The proxy's handler on a client connection.
final class ClientSideHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let session: ProxySession

    init(session: ProxySession) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session.clientActive(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.clientRead(unwrapInboundIn(data))
    }

    func read(context: ChannelHandlerContext) {
        session.clientWantsRead(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.clientWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.clientClosed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.clientClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// The proxy's handler on an upstream connection.
final class UpstreamSideHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let session: ProxySession

    init(session: ProxySession) {
        self.session = session
    }

    func channelActive(context: ChannelHandlerContext) {
        session.upstreamActive(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.upstreamRead(unwrapInboundIn(data), from: context)
    }

    func read(context: ChannelHandlerContext) {
        session.upstreamWantsRead(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.upstreamClosed(context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

extension FaultProxy {
    /// One fault of each kind, each the first time its request comes: a chunk (the second
    /// PATCH) dropped mid-body, a final blob PUT dropped, a 503 to an upload POST, a 429
    /// with `Retry-After` to a blob HEAD, a 500 to a manifest PUT, and with `ping`, a 502
    /// to `GET /v2/`. A client that retries and resumes gets through them all.
    public static func oneFaultOfEachKind(ping: Bool = true) -> Rule {
        let faults = Locked<[String: Int]>([:])
        @Sendable func once(_ key: String) -> Bool {
            faults.withLock { seen in
                seen[key, default: 0] += 1
                return seen[key] == 1
            }
        }
        return { request in
            if request.method == "PATCH", once("patch-2") == false, once("patch-drop") {
                return .dropAfterRequestBytes(30_000)
            }
            if request.method == "PUT", request.uri.contains("digest="), once("put-drop") { return .dropAfterRequestBytes(10) }
            if request.method == "POST", once("post-503") { return .respond(status: 503) }
            if request.method == "HEAD", request.path.contains("/blobs/"), once("head-429") {
                return .respond(status: 429, headers: [("Retry-After", "1")])
            }
            if request.method == "PUT", request.path.contains("/manifests/"), once("manifest-500") { return .respond(status: 500) }
            if ping, request.method == "GET", request.path == "/v2/", once("ping-502") { return .respond(status: 502) }
            return .forward
        }
    }
}
