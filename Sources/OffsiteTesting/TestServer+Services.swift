public import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension TestServer {
    /// A Redis server of its own (Debian's `redis-server`) on a free loopback port: nothing
    /// saved (`--save ""`, no append-only file), its working directory a scratch one removed
    /// by `stop()`. With `password`, clients must authenticate (`requirepass`).
    public static func redis(password: String? = nil) async throws -> RedisServer {
        try await RedisServer(password: password)
    }

    /// The Prometheus Pushgateway (Debian's `prometheus-pushgateway`) on a free loopback port,
    /// keeping pushed metrics in memory. Push to `url() + "/metrics/job/NAME"`.
    public static func pushgateway() async throws -> TestServer {
        let binary = ProcessRunner.which("prometheus-pushgateway") ?? ProcessRunner.which("pushgateway") ?? "prometheus-pushgateway"
        return try await TestServer(binary, install: "apt-get install prometheus-pushgateway") { port in
            // Debian's build persists pushes to /var/lib/prometheus/pushgateway.data by default,
            // so every test's server would start with the metrics earlier tests pushed.
            ["--web.listen-address=127.0.0.1:\(port)", "--log.level=warn", "--persistence.file="]
        }
    }

    /// The text the server exposes at `/metrics` (the Pushgateway: what was pushed, with its
    /// `job` and grouping labels, beside its own metrics).
    public func metricsText() throws -> String {
        let r = try LoopbackHTTP.request(port: port, path: "/metrics")
        guard r.status == 200 else { throw ProcessRunner.NotFound(description: "GET /metrics answered \(r.status): \(r.text.prefix(500))") }
        return r.text
    }
}

/// A Redis server made for one test (see `TestServer.redis(password:)`).
public final class RedisServer: @unchecked Sendable {
    public let server: TestServer
    public let host = "127.0.0.1"
    public let password: String?
    /// The server's working directory (where `SAVE` or `BGSAVE` would write `dump.rdb`).
    public let directory: String
    public var port: Int { server.port }

    public init(password: String? = nil) async throws {
        self.password = password
        let base = ProcessInfo.processInfo.environment["OFFSITE_TEST_TMP"] ?? NSTemporaryDirectory()
        directory = (base as NSString).appendingPathComponent("offsite-redis-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = directory
        do {
            server = try await TestServer("redis-server", install: "apt-get install redis-server") { port in
                ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]
                    + (password.map { ["--requirepass", $0] } ?? [])
            }
        } catch {
            removeTree(directory)
            throw error
        }
    }

    /// Runs `redis-cli` against the server with `args` (a command and its arguments, or
    /// options such as `--rdb FILE`), the password in `REDISCLI_AUTH` (never in the arguments);
    /// returns its output without the last newline. Throws when redis-cli fails or the server
    /// answers with an error.
    @discardableResult
    public func redisCLI(_ args: [String]) async throws -> String {
        let r = try await redisCLIResult(args)
        var out = r.stdoutString
        if out.hasSuffix("\n") { out.removeLast() }
        let error = ["ERR", "WRONGPASS", "NOAUTH", "WRONGTYPE", "(error)"].contains { out.hasPrefix($0) }
        guard r.status == 0, !error else {
            throw ProcessRunner.NotFound(
                description: "redis-cli \(args.joined(separator: " ")) failed (\(r.status)): \(out.prefix(500)) \(r.stderr.suffix(1000))")
        }
        return out
    }

    /// `redis-cli` as in `redisCLI(_:)`, authenticating with `password` (default: the
    /// server's; nil: none), its exit status and output as they are.
    public func redisCLIResult(_ args: [String], password: String?? = .none) async throws -> ProcessRunner.Result {
        guard let cli = ProcessRunner.which("redis-cli") else {
            throw ProcessRunner.NotFound(description: "redis-cli is not installed: apt-get install redis-tools (or run `make deps`)")
        }
        let auth: String? = password ?? self.password
        return try await ProcessRunner.run(
            cli, ["-h", host, "-p", String(port)] + args, environment: ["REDISCLI_AUTH": auth, "REDISCLI_HISTFILE": "/dev/null"])
    }

    /// Stops the server with `SHUTDOWN NOSAVE`, then signals: a server started by a test
    /// inherits the test thread's signal mask, SIGTERM and SIGINT blocked, and Redis (unlike
    /// PostgreSQL and Go programs) does not unblock them.
    public func stop() {
        if server.process.isRunning, let cli = ProcessRunner.which("redis-cli") {
            // Also run from deinit, so it waits here: SHUTDOWN answers at once.
            _ = try? ProcessRunner.runWaiting(
                cli, ["-h", host, "-p", String(port), "SHUTDOWN", "NOSAVE"],
                environment: ["REDISCLI_AUTH": password, "REDISCLI_HISTFILE": "/dev/null"], stdin: nil,
                currentDirectory: nil, audit: nil)
            for _ in 0..<80 where server.process.isRunning { usleep(25_000) }
        }
        server.stop()
        removeTree(directory)
    }

    deinit { stop() }
}

/// A minimal HTTP/1.0 client for servers on loopback (test targets have no HTTP client): one
/// request a connection, the whole answer read until the server closes.
public enum LoopbackHTTP {
    public struct Response: Sendable {
        public var status: Int
        /// Header names in lowercase.
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public static func request(
        port: Int, method: String = "GET", path: String, headers: [String: String] = [:], body: Data = Data(),
        timeout: Int = 30
    ) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProcessRunner.NotFound(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard TestServer.connectLoopback(fd, port: port) else {
            throw ProcessRunner.NotFound(description: "connecting to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var head = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        var request = Data((head + "\r\n").utf8)
        request.append(body)
        try request.withUnsafeBytes { buffer in
            var sent = 0
            while sent < buffer.count {
                let n = send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else {
                    throw ProcessRunner.NotFound(description: "sending to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
                }
                sent += n
            }
        }
        var answer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { break }
            guard n > 0 else {
                throw ProcessRunner.NotFound(description: "reading from 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
            }
            answer.append(contentsOf: chunk[0..<n])
        }
        guard let end = answer.range(of: Data("\r\n\r\n".utf8)) else {
            throw ProcessRunner.NotFound(
                description: "no HTTP answer from 127.0.0.1:\(port): \(String(decoding: answer.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: answer[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusWords = lines[0].split(separator: " ")
        guard statusWords.count >= 2, statusWords[0].hasPrefix("HTTP/"), let status = Int(statusWords[1]) else {
            throw ProcessRunner.NotFound(description: "not an HTTP status line: \(lines[0])")
        }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: fields, body: Data(answer[end.upperBound...]))
    }
}
