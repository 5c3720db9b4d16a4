import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
public import OffsiteStorage
import OffsiteSync

/// One HTTP request as the cloud backends build it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?

    public init(method: String, url: String, headers: [(String, String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete response: status, headers, and the whole body.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    public var bodyText: String { String(decoding: body.prefix(2000), as: UTF8.self) }
}

/// Sends requests with async-http-client: a bounded number of connections per host, no
/// redirects followed (a backend never sends data somewhere it was not configured to), and
/// restic's stuck-request rule: a request that makes no progress (no byte sent or received)
/// for `stuckTimeout` fails as `.transient`, so the retry layer sends it again.
///
/// Network failures become `StorageError`: timeouts, resets and refused connections are
/// `.transient`; a host name that does not resolve is `.io` (retrying will not help).
public final class HTTPTransport: Sendable {
    public struct Options: Sendable, Hashable {
        /// Connections per host (restic's `-o s3.connections`, default 5).
        public var connections = 5
        public var connectTimeout: Duration = .seconds(10)
        /// No progress for this long cancels the request (`--stuck-request-timeout`, 5 minutes).
        public var stuckTimeout: Duration = .seconds(300)
        /// `--limit-upload` and `--limit-download`, in KiB/s (nil: unlimited).
        public var uploadKiB: Int? = nil
        public var downloadKiB: Int? = nil
        /// PEM files whose certificates are the only trusted roots (`--cacert`; empty: the
        /// system's roots).
        public var rootCertificateFiles: [String] = []
        /// A PEM file holding the client's certificate (chain) and private key (`--tls-client-cert`).
        public var clientCertificateFile: String? = nil
        /// Do not verify the server's certificate (`--insecure-tls`).
        public var insecureTLS = false

        public init() {}
    }

    let client: HTTPClient
    public let options: Options
    let upload: RateLimiter?
    let download: RateLimiter?

    /// Clients live as long as the process (async-http-client requires an explicit shutdown,
    /// which a backend without a close call cannot promise); one per set of options.
    private static let clients = Mutex<[Options: HTTPTransport]>([:])

    /// Throws when a certificate file cannot be loaded (the error names the file and flag).
    public static func shared(_ options: Options) throws -> HTTPTransport {
        let tls = try tlsConfiguration(options)
        return cached(options, tls: tls)
    }

    /// A transport with the system's TLS settings, which has no file to load.
    public static func shared(connections: Int = Options().connections) -> HTTPTransport {
        var options = Options()
        options.connections = connections
        return cached(options, tls: nil)
    }

    private static func cached(_ options: Options, tls: TLSConfiguration?) -> HTTPTransport {
        clients.withLock { all in
            if let t = all[options] { return t }
            let t = HTTPTransport(options, tls: tls)
            all[options] = t
            return t
        }
    }

    /// The TLS settings for the options, or nil for the client's defaults (system roots,
    /// verification on, no client certificate).
    static func tlsConfiguration(_ options: Options) throws -> TLSConfiguration? {
        guard !options.rootCertificateFiles.isEmpty || options.clientCertificateFile != nil || options.insecureTLS else {
            return nil
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if !options.rootCertificateFiles.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in options.rootCertificateFiles {
                let certificates: [NIOSSLCertificate]
                do { certificates = try NIOSSLCertificate.fromPEMFile(file) } catch {
                    throw StorageError(.io, "cannot load root certificates from --cacert \(file): \(error)")
                }
                guard !certificates.isEmpty else {
                    throw StorageError(.io, "cannot load root certificates from --cacert \(file): no PEM certificate in it")
                }
                roots += certificates
            }
            tls.trustRoots = .certificates(roots)
        }
        if let file = options.clientCertificateFile {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(file)
                guard !chain.isEmpty else { throw StorageError(.io, "no PEM certificate in it") }
                tls.certificateChain = chain.map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: file, format: .pem))
            } catch let e as StorageError {
                throw StorageError(.io, "cannot load the client certificate and key from --tls-client-cert \(file): \(e.message)")
            } catch {
                throw StorageError(.io, "cannot load the client certificate and key from --tls-client-cert \(file): \(error)")
            }
        }
        if options.insecureTLS { tls.certificateVerification = .none }
        return tls
    }

    private init(_ options: Options, tls: TLSConfiguration?) {
        self.options = options
        upload = options.uploadKiB.map { RateLimiter(kibPerSecond: $0) }
        download = options.downloadKiB.map { RateLimiter(kibPerSecond: $0) }
        var config = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(options.connectTimeout), read: .init(options.stuckTimeout), write: .init(options.stuckTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.connections),
            decompression: .disabled)
        config.httpVersion = .http1Only
        config.tlsConfiguration = tls
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Sends `request` and collects the whole response (bodies up to `maxBody` bytes).
    public func send(_ request: HTTPRequest, maxBody: Int = 1 << 31) async throws -> HTTPReply {
        var r = HTTPClientRequest(url: request.url)
        r.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { r.headers.add(name: name, value: value) }
        if let body = request.body {
            if let upload, !body.isEmpty {
                r.body = .stream(PacedChunks(data: body, limiter: upload), length: .known(Int64(body.count)))
            } else {
                r.body = .bytes(ByteBuffer(data: body))
            }
        }
        do {
            // The overall deadline is generous: progress is policed by the read/write timeouts.
            let response = try await client.execute(r, timeout: .hours(12))
            var body = ByteBuffer()
            for try await chunk in response.body {
                guard body.readableBytes + chunk.readableBytes <= maxBody else {
                    throw StorageError(.invalidData, "\(request.method) \(Self.redacted(request.url)): reply larger than \(maxBody) bytes")
                }
                let n = chunk.readableBytes
                var chunk = chunk
                body.writeBuffer(&chunk)
                // Reading no faster than the limit slows the sender down through TCP.
                try await download?.take(n)
            }
            return HTTPReply(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                body: Data(buffer: body))
        } catch let e as HTTPClientError {
            throw Self.storageError(e, request)
        } catch let e as NIOConnectionError {
            if e.dnsAError != nil || e.dnsAAAAError != nil, e.connectionErrors.isEmpty {
                throw StorageError(
                    .io, "cannot resolve the host of \(Self.redacted(request.url)): check the endpoint in the repository URL")
            }
            throw StorageError(
                .transient, "cannot connect to \(Self.redacted(request.url)): \(e.connectionErrors.first.map { "\($0.error)" } ?? "\(e)")")
        } catch let e as NIOSSLError {
            throw Self.storageError(e, request)
        } catch let e as BoringSSLError {
            // An alert from the server during the exchange, e.g. a client certificate refused.
            throw Self.tlsRefused("\(e)", request)
        } catch is CancellationError {
            throw CancellationError()
        } catch let e as IOError {
            throw StorageError(.transient, "\(request.method) \(Self.redacted(request.url)): \(e)")
        } catch let e as ChannelError {
            throw StorageError(.transient, "\(request.method) \(Self.redacted(request.url)): connection failed (\(e))")
        } catch let e as StorageError {
            throw e
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw StorageError(.transient, "\(request.method) \(Self.redacted(request.url)): \(error)")
        }
    }

    static func storageError(_ e: HTTPClientError, _ request: HTTPRequest) -> any Error {
        let what = "\(request.method) \(redacted(request.url))"
        switch e {
        case .cancelled, .requestStreamCancelled: return CancellationError()
        case .readTimeout, .writeTimeout:
            return StorageError(.transient, "\(what): no progress for the stuck-request timeout; the request was cancelled")
        case .connectTimeout, .remoteConnectionClosed, .deadlineExceeded, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout,
            .uncleanShutdown:
            return StorageError(.transient, "\(what): \(e)")
        case .invalidURL, .emptyHost, .emptyScheme:
            return StorageError(.io, "\(what): invalid URL; check the repository location")
        default:
            return StorageError(.transient, "\(what): \(e)")
        }
    }

    /// A TLS failure: a connection cut mid-stream is retried; a refused certificate (the
    /// server's or ours) is not, since sending the request again cannot change it.
    static func storageError(_ e: NIOSSLError, _ request: HTTPRequest) -> any Error {
        let what = "\(request.method) \(redacted(request.url))"
        if case .uncleanShutdown = e { return StorageError(.transient, "\(what): the TLS connection was cut (\(e))") }
        return tlsRefused("\(e)", request)
    }

    static func tlsRefused(_ detail: String, _ request: HTTPRequest) -> StorageError {
        StorageError(
            .io,
            "\(request.method) \(redacted(request.url)): TLS failed (\(detail)). A server certificate from a private "
                + "authority needs --cacert FILE; a server that asks for a client certificate needs --tls-client-cert FILE")
    }

    /// The URL without user information or query (which may carry credentials).
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "(URL)" }
        if c.password != nil { c.password = "***" }
        c.query = nil
        return c.string ?? "(URL)"
    }
}

extension TimeAmount {
    init(_ d: Duration) {
        let (s, atto) = d.components
        self = .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}

/// A body sent in 64 KiB pieces, each after the upload limiter lets it go.
struct PacedChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let data: Data
    let limiter: RateLimiter

    struct AsyncIterator: AsyncIteratorProtocol {
        let data: Data
        let limiter: RateLimiter
        var offset = 0

        mutating func next() async throws -> ByteBuffer? {
            guard offset < data.count else { return nil }
            let end = Swift.min(offset + 64 << 10, data.count)
            try await limiter.take(end - offset)
            let start = data.startIndex + offset
            offset = end
            return ByteBuffer(data: data[start..<(data.startIndex + end)])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(data: data, limiter: limiter) }
}
