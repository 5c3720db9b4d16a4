public import Foundation
public import OffsiteStorage

/// An S3 bucket (AWS, Backblaze B2's S3 API, MinIO, moto, …) in restic's layout under a
/// prefix. Requests are signed with SigV4 (or sent unsigned when no credentials are set, for
/// public buckets); every upload carries its SHA-256, which S3 checks before storing.
public final class S3Backend: StorageBackend {
    public let config: S3Config
    let signer: SigV4?
    let transport: HTTPTransport

    public init(config: S3Config, credentials: AWSCredentials?, transport: HTTPTransport? = nil) {
        self.config = config
        self.signer = credentials.map { SigV4(credentials: $0, region: config.region) }
        self.transport = transport ?? HTTPTransport.shared(connections: config.connections)
    }

    /// restic's `s3:` locations with credentials from the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, else `AWS_PROFILE` in
    /// `~/.aws/credentials`) and `-o s3.*` options.
    public static func make(location: String, environment: [String: String], options: [String: String]) throws -> any StorageBackend {
        let config = try S3Config.parse(location, environment: environment, options: options)
        return S3Backend(
            config: config, credentials: try AWSCredentials.find(environment: environment),
            transport: try CloudBackends.transport(connections: config.connections, options: options))
    }

    public var location: String { config.location }
    public var preferredConcurrency: Int { config.connections }

    // MARK: Requests

    /// Sends a signed request for `key` (nil: the bucket itself) and returns the reply,
    /// whatever its status.
    func send(
        _ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: Data? = nil,
        maxBody: Int = 1 << 31
    ) async throws -> HTTPReply {
        let (host, path) = config.hostAndPath(key: key)
        var headers = [("host", host)] + headers
        if let body { headers.append(("content-length", String(body.count))) }
        if let signer {
            headers = signer.sign(
                method: method, path: path, query: query, headers: headers, payloadHash: SigV4.payloadHash(body), date: Date())
        }
        var url = "\(config.useHTTP ? "http" : "https")://\(host)\(path)"
        if !query.isEmpty { url += "?" + SigV4.canonicalQuery(query) }
        // async-http-client sets Host and Content-Length itself from the URL and body.
        let sent = headers.filter { $0.0 != "host" && $0.0 != "content-length" }
        return try await transport.send(HTTPRequest(method: method, url: url, headers: sent, body: body), maxBody: maxBody)
    }

    /// The error for a reply that is not a success, from S3's XML error document.
    func failure(_ reply: HTTPReply, _ what: String) -> StorageError {
        let code = XMLFields.first("Code", in: reply.body) ?? ""
        let message = XMLFields.first("Message", in: reply.body) ?? ""
        let detail = [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
        let said = detail.isEmpty ? "HTTP \(reply.status)" : "HTTP \(reply.status) \(detail)"
        switch reply.status {
        case 404:
            if code == "NoSuchBucket" {
                return StorageError(
                    .notFound,
                    "\(what): bucket \(config.bucket) does not exist at \(config.endpoint) (\(said)); check the bucket name, or create the repository with `offsite init`"
                )
            }
            return StorageError(.notFound, "\(what): not found (\(said))")
        case 401, 403:
            return StorageError(
                .unauthorized,
                "\(what): access denied (\(said)); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), the key's permissions on bucket \(config.bucket), and the region (\(config.region))"
            )
        case 301, 307,
            400 where code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || code == "IllegalLocationConstraintException":
            let region = XMLFields.first("Region", in: reply.body) ?? reply.header("x-amz-bucket-region")
            guard let region else {
                // Not S3 telling the bucket's region: a redirect somewhere else, never followed.
                return reply.redirectFailure(what, said: said)
                    ?? StorageError(.io, "\(what): wrong region or endpoint (\(said)); check the endpoint and region")
            }
            let moved =
                reply.header("location").map { "; the server pointed to \(HTTPTransport.redacted($0)), which offsite does not follow" }
                ?? ""
            return StorageError(
                .io,
                "\(what): wrong region or endpoint (\(said)); the bucket is in region \(region): set AWS_DEFAULT_REGION=\(region) or -o s3.region=\(region)\(moved)"
            )
        default:
            return reply.statusFailure(what, said: said)
        }
    }

    // MARK: StorageBackend

    public func create() async throws {
        let head = try await send("HEAD", key: nil)
        switch head.status {
        case 200: return
        case 404: break
        default: throw failure(head, "checking bucket \(config.bucket)")
        }
        var body: Data? = nil
        if config.region != "us-east-1" {
            body = Data(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(config.region)</LocationConstraint></CreateBucketConfiguration>"
                    .utf8)
        }
        let made = try await send("PUT", key: nil, body: body ?? Data())
        // Another client may have created it meanwhile.
        guard made.status == 200 || (made.status == 409 && XMLFields.first("Code", in: made.body) == "BucketAlreadyOwnedByYou") else {
            throw failure(made, "creating bucket \(config.bucket)")
        }
    }

    public func save(_ handle: Handle, data: Data) async throws {
        var headers = [("content-type", "application/octet-stream")]
        // Only data packs take the storage class: metadata must stay instantly readable.
        if handle.type == .data, let storageClass = config.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        let reply = try await send("PUT", key: handle.path, headers: headers, body: data)
        guard reply.status == 200 else { throw failure(reply, "saving \(handle)") }
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try await loadRange(handle, offset: offset, length: length) { headers in
            try await send("GET", key: handle.path, headers: headers)
        } failure: {
            failure($0, "loading \(handle)")
        }
    }

    public func size(_ handle: Handle) async throws -> Int {
        let reply = try await send("HEAD", key: handle.path)
        guard reply.status == 200 else { throw failure(reply, "reading the size of \(handle)") }
        guard let text = reply.header("content-length"), let n = Int(text) else {
            throw StorageError(.io, "reading the size of \(handle): the server sent no Content-Length")
        }
        return n
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        let prefix = config.key(type == .config ? "config" : type.rawValue + "/")
        var out: [ObjectInfo] = []
        var token: String? = nil
        var tokens: Set<String> = []
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send("GET", key: nil, query: query)
            guard reply.status == 200 else { throw failure(reply, "listing \(type.rawValue)") }
            let page = try ListBucketPage(reply.body)
            for object in page.objects {
                guard let slash = object.key.lastIndex(of: "/") else { continue }
                out.append(ObjectInfo(name: String(object.key[object.key.index(after: slash)...]), size: object.size))
            }
            token = page.isTruncated ? page.nextToken : nil
            if page.isTruncated && token == nil {
                throw StorageError(.io, "listing \(type.rawValue): the server said the listing is truncated but sent no continuation token")
            }
            // A server that names a page it already sent would keep the listing going forever.
            if let token, !tokens.insert(token).inserted {
                throw StorageError(.io, "listing \(type.rawValue): the server sent the continuation token of an earlier page again")
            }
        } while token != nil
        return out
    }

    public func remove(_ handle: Handle) async throws {
        // S3 deletes missing objects without complaint; the contract wants notFound.
        _ = try await size(handle)
        let reply = try await send("DELETE", key: handle.path)
        guard reply.status == 204 || reply.status == 200 else { throw failure(reply, "removing \(handle)") }
    }
}
