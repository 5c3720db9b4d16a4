public import Foundation
import NIOHTTP1
public import OffsiteStorage

/// A repository on a server that speaks restic's REST protocol (rest-server, `rclone serve
/// restic`): `rest:http://user:password@host:8000/path`.
///
/// Protocol version 2 (`Accept: application/vnd.x.restic.rest.v2`): listings carry names and
/// sizes; a server that answers with version 1 (names only) is asked for each size. Objects are
/// addressed as `{path}/{type}/{name}` (`data/<id>` without a subdirectory: the server chooses
/// its own layout on disk). The user and password go in an HTTP basic `Authorization` header.
///
/// Servers in append-only mode refuse to delete or replace objects (HTTP 403). Saving an object
/// that already exists with the same bytes counts as success there, so a save retried after a
/// lost reply does not fail; deleting (forget, prune) fails with a message saying why.
public final class RESTBackend: StorageBackend {
    public let config: RESTConfig
    let transport: HTTPTransport

    static let apiV2 = "application/vnd.x.restic.rest.v2"

    public init(config: RESTConfig, transport: HTTPTransport? = nil) {
        self.config = config
        self.transport = transport ?? HTTPTransport.shared(connections: config.connections)
    }

    /// restic's `rest:` locations, with `-o rest.connections=N` (and the command line's
    /// stuck-request timeout and bandwidth limits in `options`).
    public static func make(location: String, environment: [String: String], options: [String: String]) throws -> any StorageBackend {
        let config = try RESTConfig.parse(location, environment: environment, options: options)
        return RESTBackend(config: config, transport: try CloudBackends.transport(connections: config.connections, options: options))
    }

    public var location: String { config.location }
    public var preferredConcurrency: Int { config.connections }

    // MARK: Requests

    func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: Data? = nil) async throws -> HTTPReply {
        var all = [("accept", Self.apiV2)] + headers
        if let authorization = config.authorization { all.append(("authorization", authorization)) }
        if body != nil { all.append(("content-type", "application/octet-stream")) }
        return try await transport.send(HTTPRequest(method: method, url: url, headers: all, body: body))
    }

    /// The error for a reply that is not a success. `refusal` says what a 403 most likely means
    /// for this request.
    func failure(_ reply: HTTPReply, _ what: String, refusal: String? = nil) -> StorageError {
        // Replies to HEAD have no body: the reason phrase says what the status means.
        let reason = HTTPResponseStatus(statusCode: reply.status).reasonPhrase
        let text = reply.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        let detail = text.isEmpty || text.count > 200 || text.contains("\n") || text.lowercased() == reason.lowercased() ? "" : ": \(text)"
        let said = "HTTP \(reply.status) \(reason)\(detail)"
        switch reply.status {
        case 404:
            return StorageError(.notFound, "\(what): not found (\(said))")
        case 401:
            guard let user = config.user else {
                return StorageError(
                    .unauthorized,
                    "\(what): authentication failed: the REST server at \(location) wants a user name and password (\(said)); give them in the repository URL (rest:http://USER:PASSWORD@host:port/path) or in RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD"
                )
            }
            return StorageError(
                .unauthorized,
                "\(what): authentication failed for user \"\(user)\" at \(location) (\(said)); check the user name and password in the repository URL (or RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD) and the server's user list (rest-server's .htpasswd, rclone's --user/--pass or --htpasswd)"
            )
        case 403:
            let hint = refusal ?? "check that the server lets this user reach this path (rest-server --private-repos allows only /USER/…)"
            return StorageError(.unauthorized, "\(what): the REST server refused the request for \(config.who) (\(said)); \(hint)")
        default:
            return reply.statusFailure(what, said: "\(said) from \(location)")
        }
    }

    static let appendOnly =
        "the server is probably in append-only mode (rest-server or rclone serve restic --append-only), which lets backups add data but refuses to delete or replace it: run forget, prune and other removals against a server (or a user) without append-only"

    // MARK: StorageBackend

    public func create() async throws {
        let reply = try await send("POST", config.url + "?create=true", body: Data())
        guard (200..<300).contains(reply.status) else { throw failure(reply, "creating the repository") }
    }

    public func save(_ handle: Handle, data: Data) async throws {
        let reply = try await send("POST", config.url(handle), body: data)
        if (200..<300).contains(reply.status) { return }
        // Append-only servers refuse to replace an object, even with the same bytes (a save
        // retried after its reply was lost). Content-addressed objects that are already there
        // intact are what the caller wanted.
        if reply.status == 403, (try? await size(handle)) == data.count, (try? await load(handle)) == data { return }
        throw failure(reply, "saving \(handle)", refusal: "it may not write there, or the object exists and " + Self.appendOnly)
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try await loadRange(handle, offset: offset, length: length) { headers in
            try await send("GET", config.url(handle), headers: headers)
        } failure: {
            failure($0, "loading \(handle)")
        }
    }

    public func size(_ handle: Handle) async throws -> Int {
        let reply = try await send("HEAD", config.url(handle))
        guard reply.status == 200 else { throw failure(reply, "reading the size of \(handle)") }
        guard let text = reply.header("content-length"), let n = Int(text), n >= 0 else {
            throw StorageError(.io, "reading the size of \(handle): the server sent no Content-Length")
        }
        return n
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        if type == .config {
            do {
                return [ObjectInfo(name: "config", size: try await size(.config))]
            } catch let e as StorageError where e.code == .notFound {
                return []
            }
        }
        let reply = try await send("GET", config.url(listing: type))
        // rest-server answers 404 for a type directory that does not exist (yet): nothing there.
        if reply.status == 404 { return [] }
        guard reply.status == 200 else { throw failure(reply, "listing \(type.rawValue)") }
        switch try RESTListing.decode(reply.body, contentType: reply.header("content-type"), what: "listing \(type.rawValue)") {
        case .sized(let objects):
            return objects
        case .names(let names):
            // Protocol version 1 lists names only (restic asks for each size, as here).
            var out: [ObjectInfo] = []
            for name in names { out.append(ObjectInfo(name: name, size: try await size(Handle(type, name)))) }
            return out
        }
    }

    public func remove(_ handle: Handle) async throws {
        let reply = try await send("DELETE", config.url(handle))
        guard (200..<300).contains(reply.status) else {
            throw failure(reply, "removing \(handle)", refusal: Self.appendOnly)
        }
    }
}

/// The body of a REST listing: version 2's `[{"name": …, "size": …}]` or version 1's names.
enum RESTListing: Equatable {
    case sized([ObjectInfo])
    case names([String])

    struct Entry: Decodable {
        var name: String
        var size: Int
    }

    /// Version 2 when the server says so in `Content-Type` (anything else is version 1).
    static func decode(_ body: Data, contentType: String?, what: String) throws -> RESTListing {
        let v2 = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == RESTBackend.apiV2
        do {
            if v2 {
                return .sized(try JSONDecoder().decode([Entry].self, from: body).map { ObjectInfo(name: $0.name, size: $0.size) })
            }
            return .names(try JSONDecoder().decode([String].self, from: body))
        } catch {
            throw StorageError(
                .io,
                "\(what): the server's reply is not a REST listing (version \(v2 ? 2 : 1)): \(String(decoding: body.prefix(200), as: UTF8.self))"
            )
        }
    }
}
