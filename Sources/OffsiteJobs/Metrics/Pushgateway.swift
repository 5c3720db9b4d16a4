import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Pushes the orchestrator's metrics to a Prometheus pushgateway (`PROMETHEUS_PUSHGATEWAY`).
public enum Pushgateway {
    /// Replaces the group `job`/`instance` on the pushgateway at `url` with `text` (HTTP PUT to
    /// `<url>/metrics/job/<job>/instance/<instance>`; a value containing `/`, or empty, is sent in
    /// the pushgateway's `@base64` form). User information in `url` becomes basic authentication.
    /// - Throws: `.io` when the pushgateway cannot be reached in `timeout` or refuses the metrics;
    ///   the message names the URL without its user information and never holds the password.
    public static func push(
        text: String, to url: URL, job: String, instance: String, timeout: Duration = .seconds(10)
    ) async throws(JobsError) {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https", components.host != nil
        else {
            throw JobsError(.io, "pushgateway \(redacted(url)): not an http(s) URL; set PROMETHEUS_PUSHGATEWAY to http://host:9091")
        }
        let user = components.user, password = components.password
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        components.percentEncodedPath = path + "/metrics/" + groupingKey(job: job, instance: instance)
        guard let target = components.string else { throw JobsError(.io, "pushgateway \(redacted(url)): invalid URL") }
        let shown = redacted(url)

        var request = HTTPClientRequest(url: target)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        if user != nil || password != nil {
            let credentials = Data("\(user ?? ""):\(password ?? "")".utf8).base64EncodedString()
            request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        }
        request.body = .bytes(ByteBuffer(string: text))

        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            let (seconds, attoseconds) = timeout.components
            response = try await client.execute(request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .connectTimeout || e == .readTimeout {
            throw JobsError(.io, "pushgateway \(shown): no answer within \(timeout); is it running?")
        } catch is CancellationError {
            throw JobsError(.io, "pushgateway \(shown): push cancelled")
        } catch {
            throw JobsError(.io, "pushgateway \(shown): cannot push the metrics (\(describe(error)))")
        }
        guard (200..<300).contains(response.status.code) else {
            let detail = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines).prefix(500)
            var message = "pushgateway \(shown): HTTP \(response.status.code) \(response.status.reasonPhrase)"
            if !detail.isEmpty { message += ": \(detail)" }
            if response.status == .unauthorized || response.status == .forbidden {
                message += "; check the user and password in PROMETHEUS_PUSHGATEWAY"
            }
            throw JobsError(.io, message)
        }
    }

    /// Connection failures are reported at once (a pushgateway that is down is not worth retrying
    /// until the deadline); no redirects, so credentials go nowhere else.
    static let client: HTTPClient = {
        var config = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(10)))
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()

    /// `job/<job>/instance/<instance>`, each value path-escaped, or `<name>@base64/<value>` when it
    /// holds a `/` or is empty (URL-safe base64, as the pushgateway expects).
    static func groupingKey(job: String, instance: String) -> String {
        [("job", job), ("instance", instance)].map { name, value in
            if value.isEmpty { return "\(name)@base64/=" }
            if value.contains("/") {
                let encoded = Data(value.utf8).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                return "\(name)@base64/\(encoded)"
            }
            return "\(name)/\(value.addingPercentEncoding(withAllowedCharacters: segment) ?? value)"
        }.joined(separator: "/")
    }

    /// RFC 3986 unreserved characters: everything else in a path segment is percent-encoded.
    static let segment = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The URL as an operator may see it: scheme, host, port and path, without user information.
    static func redacted(_ url: URL) -> String {
        guard var c = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "(URL)" }
        c.user = nil
        c.password = nil
        c.query = nil
        c.fragment = nil
        return c.string ?? "(URL)"
    }

    /// A connection failure in a few words (`connection refused`), not NIO's nested dump.
    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            if e.dnsAError != nil || e.dnsAAAAError != nil, e.connectionErrors.isEmpty { return "cannot resolve the host" }
            if let first = e.connectionErrors.first { return describe(first.error) }
        }
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)).lowercased() }
        return "\(error)"
    }
}
