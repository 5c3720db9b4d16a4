import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The daemon's HTTP/1.1 endpoint: `GET /metrics` (Prometheus text format 0.0.4, computed per
/// request), `GET /healthz` (200 `ok`, or 503 and the reason), 404 for any other path and 405 for
/// other methods. Every response closes its connection; idle connections close after 30 s.
public final class MetricsServer: Sendable {
    /// The address bound (`port` is the real one when 0 was asked for).
    public let host: String
    public let port: Int
    private let channel: any Channel

    private init(host: String, port: Int, channel: any Channel) {
        self.host = host
        self.port = port
        self.channel = channel
    }

    /// Listens on `listen` (`host:port`, `:port` for every interface, `[v6]:port`).
    /// - Throws: `.invalidSettings` for a malformed address, `.io` when it cannot be bound.
    public static func start(
        listen: String, metrics: @escaping @Sendable () -> String,
        health: @escaping @Sendable () -> (healthy: Bool, reason: String)
    ) async throws(JobsError) -> MetricsServer {
        let (host, port) = try parse(listen)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(Handler(metrics: metrics, health: health))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            let bound = channel.localAddress?.port ?? port
            return MetricsServer(host: host, port: bound, channel: channel)
        } catch {
            throw JobsError(.io, "cannot listen on \(listen) for /metrics and /healthz: \(error)")
        }
    }

    /// Stops listening (responses in progress complete).
    public func stop() async {
        try? await channel.close()
    }

    static func parse(_ listen: String) throws(JobsError) -> (host: String, port: Int) {
        let bad = JobsError(.invalidSettings, "invalid listen address \"\(listen)\": use host:port, :port or [ipv6]:port")
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { throw bad }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        return (host, port)
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let metrics: @Sendable () -> String
        let health: @Sendable () -> (healthy: Bool, reason: String)
        private var head: HTTPRequestHead?

        init(metrics: @escaping @Sendable () -> String, health: @escaping @Sendable () -> (healthy: Bool, reason: String)) {
            self.metrics = metrics
            self.health = health
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let head else { return }
                self.head = nil
                respond(context: context, to: head)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            var status = HTTPResponseStatus.ok
            var type = "text/plain; charset=utf-8"
            var body: String
            if head.method != .GET && head.method != .HEAD {
                status = .methodNotAllowed
                body = "method not allowed\n"
            } else if path == "/metrics" {
                type = "text/plain; version=0.0.4; charset=utf-8"
                body = metrics()
            } else if path == "/healthz" {
                let h = health()
                status = h.healthy ? .ok : .serviceUnavailable
                body = h.reason + "\n"
            } else {
                status = .notFound
                body = "not found: use /metrics or /healthz\n"
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        }
    }
}
