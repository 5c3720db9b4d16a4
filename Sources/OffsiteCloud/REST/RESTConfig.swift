public import Foundation
public import OffsiteStorage

/// Where a REST server repository is and how to log in: restic's
/// `rest:http://user:password@host:8000/path` locations.
///
/// The user and password never travel in the URL that is requested (they go in an HTTP basic
/// `Authorization` header), and the password never appears in `location` or in the REST
/// backend's messages: it is shown as `***`, as restic shows it. Callers that repeat the
/// location as typed use `strippingPassword(_:)`.
public struct RESTConfig: Sendable, Equatable {
    /// The repository's URL without user information, always ending in `/`.
    public var url: String
    public var user: String?
    public var password: String?
    /// Connections per host (restic's `-o rest.connections`, default 5).
    public var connections = 5

    public init(url: String, user: String? = nil, password: String? = nil) {
        self.url = url.hasSuffix("/") ? url : url + "/"
        self.user = user
        self.password = password
    }

    /// Parses `rest:URL`. When the URL has no user information, `RESTIC_REST_USERNAME` and
    /// `RESTIC_REST_PASSWORD` from `environment` are used (restic 0.16.1's variables).
    public static func parse(
        _ location: String, environment: [String: String] = [:], options: [String: String] = [:]
    ) throws -> RESTConfig {
        let form = "expected rest:http://[USER:PASSWORD@]HOST[:PORT]/PATH"
        guard location.hasPrefix("rest:") else { throw StorageError(.io, "not a REST repository location: \(form)") }
        var text = String(location.dropFirst("rest:".count))
        if !text.hasSuffix("/") { text += "/" }
        // The text itself is not repeated in these messages: it may hold a password.
        guard var c = URLComponents(string: text), let scheme = c.scheme?.lowercased() else {
            throw StorageError(.io, "invalid REST repository URL: \(form)")
        }
        guard scheme == "http" || scheme == "https" else {
            throw StorageError(.io, "invalid REST repository URL: the scheme must be http or https, not \(scheme); \(form)")
        }
        guard let host = c.host, !host.isEmpty else { throw StorageError(.io, "invalid REST repository URL: no host; \(form)") }
        var user = c.user
        var password = c.password
        if user == nil && password == nil {
            let envUser = environment["RESTIC_REST_USERNAME"] ?? ""
            let envPassword = environment["RESTIC_REST_PASSWORD"] ?? ""
            if !envUser.isEmpty || !envPassword.isEmpty {
                user = envUser
                password = envPassword
            }
        }
        c.percentEncodedUser = nil
        c.percentEncodedPassword = nil
        c.query = nil
        c.fragment = nil
        guard let url = c.string else { throw StorageError(.io, "invalid REST repository URL: \(form)") }
        var config = RESTConfig(url: url, user: user, password: password)
        config.connections = try CloudBackends.intOption(options, "rest.connections", default: 5)
        return config
    }

    /// The location for messages: `rest:http://user:***@host:8000/path`.
    public var location: String {
        var shown = url
        if shown.hasSuffix("/") { shown.removeLast() }
        if let user, let schemeEnd = shown.range(of: "://") {
            let encoded = user.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? user
            shown.insert(contentsOf: encoded + (password == nil ? "" : ":***") + "@", at: schemeEnd.upperBound)
        }
        return "rest:" + shown
    }

    /// `location` as the user typed it with a `rest:` URL's password replaced by `***` (restic's
    /// StripPassword), for messages that repeat it; other locations are returned unchanged.
    /// Works on text that does not parse as a URL too.
    public static func strippingPassword(_ location: String) -> String {
        guard location.hasPrefix("rest:"), let schemeEnd = location.range(of: "://") else { return location }
        let authority = location[schemeEnd.upperBound...].prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return location }
        return String(location[..<authority.index(after: colon)]) + "***" + String(location[at...])
    }

    /// The `Authorization` header value when a user or password is set.
    var authorization: String? {
        guard user != nil || password != nil else { return nil }
        return "Basic " + Data("\(user ?? ""):\(password ?? "")".utf8).base64EncodedString()
    }

    /// An object's URL in the REST layout: `config`, `keys/<id>`, … and `data/<id>` (the server
    /// decides where packs go on its disk; rest-server and rclone use `data/<id[0:2]>/<id>`).
    func url(_ handle: Handle) -> String {
        handle.type == .config ? url + "config" : url + handle.type.rawValue + "/" + handle.name
    }

    /// The URL that lists the objects of `type`.
    func url(listing type: FileType) -> String { url + type.rawValue + "/" }

    /// Who the requests are sent as, for messages: `user "alice" at rest:http://…`.
    var who: String { user.map { "user \"\($0)\" at \(location)" } ?? location }
}
