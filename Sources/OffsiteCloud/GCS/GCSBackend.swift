import Crypto
public import Foundation
public import OffsiteStorage

/// A Google Cloud Storage bucket in restic's layout under a prefix (`gs:BUCKET:/PREFIX`),
/// through the JSON API: object metadata, listings and deletions on `storage/v1`, uploads on
/// `upload/storage/v1` (one multipart request carrying the object's MD5, which GCS checks
/// before storing), downloads with `alt=media` and a `Range` header.
///
/// Requests carry `Authorization: Bearer …` from `GoogleCredentials`; a 401 with a renewable
/// token fetches a new token and sends the request once more.
public final class GCSBackend: StorageBackend {
    public let config: GCSConfig
    public let credentials: GoogleCredentials
    let transport: HTTPTransport
    /// Objects per listing page (GCS's maximum is 1000; tests ask for fewer to page through).
    let listPageSize: Int

    public init(config: GCSConfig, credentials: GoogleCredentials, transport: HTTPTransport, listPageSize: Int = 1000) {
        self.config = config
        self.credentials = credentials
        self.transport = transport
        self.listPageSize = listPageSize
    }

    /// restic's `gs:BUCKET:/PREFIX` with credentials from the environment
    /// (`GOOGLE_ACCESS_TOKEN`, else `GOOGLE_APPLICATION_CREDENTIALS`), `GOOGLE_PROJECT_ID` for
    /// creating the bucket, `STORAGE_EMULATOR_HOST` for an emulator, `-o gs.connections=N`,
    /// `-o gs.region=R`, and the transport's options (stuck-request timeout, bandwidth limits).
    public static func make(location: String, environment: [String: String], options: [String: String]) throws -> any StorageBackend {
        let config = try GCSConfig.parse(location, environment: environment, options: options)
        let transport = try CloudBackends.transport(connections: config.connections, options: options)
        let credentials = try GoogleCredentials.find(environment: environment, emulator: config.isEmulator, transport: transport)
        return GCSBackend(config: config, credentials: credentials, transport: transport)
    }

    public var location: String { config.location }
    public var preferredConcurrency: Int { config.connections }

    // MARK: Requests

    /// Sends an authorised request and returns the reply, whatever its status.
    func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: Data? = nil) async throws -> HTTPReply {
        var renewed = false
        while true {
            let authorization = try await credentials.authorization()
            let request = HTTPRequest(
                method: method, url: url, headers: headers + (authorization.map { [("authorization", $0)] } ?? []), body: body)
            let reply = try await transport.send(request)
            // A token revoked or expired early: fetch a new one, once.
            if reply.status == 401, !renewed, case .serviceAccount(let tokens) = credentials, let authorization {
                await tokens.invalidate(String(authorization.dropFirst("Bearer ".count)))
                renewed = true
                continue
            }
            return reply
        }
    }

    /// The error for a reply that is not a success, from GCS's JSON error document.
    /// `bucketRequest`: the request was about the bucket itself, so a 404 means the bucket.
    func failure(_ reply: HTTPReply, _ what: String, bucketRequest: Bool = false) -> StorageError {
        let error = (try? JSONDecoder().decode(ErrorDocument.self, from: reply.body))?.error
        let message = error?.message ?? ""
        let reason = error?.errors?.first?.reason ?? ""
        let said = message.isEmpty ? "HTTP \(reply.status)" : "HTTP \(reply.status) \(message)"
        switch reply.status {
        case 404:
            if bucketRequest || message.contains("specified bucket does not exist") {
                return StorageError(
                    .notFound,
                    "\(what): bucket \(config.bucket) does not exist (\(said)); check the bucket name, or create the repository with `offsite init` (with GOOGLE_PROJECT_ID set to create the bucket)"
                )
            }
            return StorageError(.notFound, "\(what): not found (\(said))")
        case 403 where reason == "rateLimitExceeded" || reason == "userRateLimitExceeded":
            return StorageError(.transient, "\(what): \(said)")
        case 401:
            return StorageError(.unauthorized, "\(what): the credentials were refused (\(said)); \(credentials.advice)")
        case 403:
            return StorageError(.unauthorized, "\(what): permission denied on bucket \(config.bucket) (\(said)); \(credentials.advice)")
        default:
            return reply.statusFailure(what, said: said)
        }
    }

    // MARK: StorageBackend

    /// Creates the bucket when it does not exist (in `GOOGLE_PROJECT_ID`, else the service
    /// account's project). As restic, a 403 on looking the bucket up means it may well exist
    /// and the account may only lack `storage.buckets.get`: then nothing is created.
    public func create() async throws {
        let lookup = try await send("GET", config.metadataURL() + "?fields=name")
        switch lookup.status {
        case 200, 403: return
        case 404: break
        default: throw failure(lookup, "checking bucket \(config.bucket)", bucketRequest: true)
        }
        var project = config.projectID
        if project == nil, case .serviceAccount(let tokens) = credentials { project = tokens.account.projectID }
        guard let project else {
            throw StorageError(
                .notFound,
                "bucket \(config.bucket) does not exist: set GOOGLE_PROJECT_ID to the project to create it in, or create the bucket yourself"
            )
        }
        let body = try JSONSerialization.data(withJSONObject: ["name": config.bucket, "location": config.region])
        let made = try await send(
            "POST", "\(config.endpoint)/storage/v1/b?project=\(SigV4.uriEncode(project))&fields=name",
            headers: [("content-type", "application/json")], body: body)
        if made.status == 200 { return }
        if made.status == 409, try await send("GET", config.metadataURL() + "?fields=name").status == 200 {
            return  // created meanwhile by another client
        }
        if made.status == 409 {
            throw StorageError(
                .io, "creating bucket \(config.bucket): the name is taken by another project (bucket names are global); choose another name"
            )
        }
        throw failure(made, "creating bucket \(config.bucket) in project \(project)")
    }

    public func save(_ handle: Handle, data: Data) async throws {
        let md5 = Data(Insecure.MD5.hash(data: data)).base64EncodedString()
        let metadata = try JSONSerialization.data(
            withJSONObject: ["name": config.objectName(handle.path), "md5Hash": md5, "contentType": "application/octet-stream"],
            options: [.withoutEscapingSlashes])
        // 128 random bits: the boundary cannot occur in the data by chance.
        let boundary = "offsite-" + UUID().uuidString
        var body = Data("--\(boundary)\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n".utf8)
        body.reserveCapacity(data.count + 512)
        body.append(metadata)
        body.append(Data("\r\n--\(boundary)\r\ncontent-type: application/octet-stream\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        let reply = try await send(
            "POST", "\(config.endpoint)/upload/storage/v1/b/\(SigV4.uriEncode(config.bucket))/o?uploadType=multipart&fields=size,md5Hash",
            headers: [("content-type", "multipart/related; boundary=\(boundary)")], body: body)
        guard reply.status == 200 else { throw failure(reply, "saving \(handle)") }
        // GCS refuses a body whose MD5 differs; check what it says it stored all the same.
        let stored = try? JSONDecoder().decode(ObjectResource.self, from: reply.body)
        if let size = stored?.size.flatMap(Int.init), size != data.count {
            throw StorageError(.transient, "saving \(handle): the server stored \(size) bytes instead of \(data.count)")
        }
        if let stored = stored?.md5Hash, stored != md5 {
            throw StorageError(.transient, "saving \(handle): the stored object's MD5 differs from the data sent")
        }
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try await loadRange(handle, offset: offset, length: length) { headers in
            try await send("GET", config.metadataURL(object: config.objectName(handle.path)) + "?alt=media", headers: headers)
        } failure: {
            failure($0, "loading \(handle)")
        }
    }

    public func size(_ handle: Handle) async throws -> Int {
        let reply = try await send("GET", config.metadataURL(object: config.objectName(handle.path)) + "?fields=size")
        guard reply.status == 200 else { throw failure(reply, "reading the size of \(handle)") }
        guard let text = try? JSONDecoder().decode(ObjectResource.self, from: reply.body).size, let n = Int(text) else {
            throw StorageError(.io, "reading the size of \(handle): the server's reply has no size")
        }
        return n
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        let prefix = config.objectName(type == .config ? "config" : type.rawValue + "/")
        var out: [ObjectInfo] = []
        var token: String? = nil
        var tokens: Set<String> = []
        repeat {
            var url =
                config.metadataURL() + "/o?prefix=\(SigV4.uriEncode(prefix))&maxResults=\(listPageSize)"
                + "&fields=\(SigV4.uriEncode("items(name,size),nextPageToken"))"
            if let token { url += "&pageToken=" + SigV4.uriEncode(token) }
            let reply = try await send("GET", url)
            guard reply.status == 200 else { throw failure(reply, "listing \(type.rawValue)", bucketRequest: true) }
            guard let page = try? JSONDecoder().decode(ObjectList.self, from: reply.body) else {
                throw StorageError(
                    .io, "listing \(type.rawValue): the server's reply is not an object listing: \(reply.bodyText.prefix(200))")
            }
            for object in page.items ?? [] {
                guard let size = Int(object.size), let slash = object.name.lastIndex(of: "/") else { continue }
                out.append(ObjectInfo(name: String(object.name[object.name.index(after: slash)...]), size: size))
            }
            token = page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 }
            // A server that names a page it already sent would keep the listing going forever.
            if let token, !tokens.insert(token).inserted {
                throw StorageError(.io, "listing \(type.rawValue): the server sent the page token of an earlier page again")
            }
        } while token != nil
        return out
    }

    public func remove(_ handle: Handle) async throws {
        let reply = try await send("DELETE", config.metadataURL(object: config.objectName(handle.path)))
        guard reply.status == 204 || reply.status == 200 else { throw failure(reply, "removing \(handle)") }
    }
}

// MARK: JSON API documents

private struct ErrorDocument: Decodable {
    struct Detail: Decodable {
        var code: Int?
        var message: String?
        var errors: [Reason]?
    }
    struct Reason: Decodable { var reason: String? }
    var error: Detail?
}

/// The fields of an object resource asked for with `fields=` (GCS sends int64 values as strings).
private struct ObjectResource: Decodable {
    var size: String?
    var md5Hash: String?
}

private struct ObjectList: Decodable {
    struct Item: Decodable {
        var name: String
        var size: String
    }
    var items: [Item]?
    var nextPageToken: String?
}
