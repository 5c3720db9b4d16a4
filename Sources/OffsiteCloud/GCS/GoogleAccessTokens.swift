public import Foundation
import OffsiteStorage

/// OAuth2 access tokens for a service account: the signed assertion is exchanged at the
/// account's token endpoint, the token is cached and fetched again `refreshMargin` before it
/// expires. Concurrent callers share one request; a failed exchange is not cached, so the next
/// call (the retry layer's next attempt) asks again.
///
/// Errors: a refused assertion is `.unauthorized` (the message names the key file and the
/// account, never the key or a token); 408, 429 and 5xx are `.transient`.
public actor GoogleAccessTokens {
    public struct Token: Sendable, Equatable {
        public var value: String
        public var expiry: Date
    }

    public let account: ServiceAccount
    let transport: HTTPTransport
    let now: @Sendable () -> Date
    /// Tokens are renewed this long before they expire (requests in flight need time too).
    public static let refreshMargin: TimeInterval = 300

    private var current: Token?
    private var pending: Task<Token, any Error>?

    public init(account: ServiceAccount, transport: HTTPTransport, now: @escaping @Sendable () -> Date = { Date() }) {
        self.account = account
        self.transport = transport
        self.now = now
    }

    /// A token valid for at least `refreshMargin` more (unless the endpoint grants less).
    public func token() async throws -> String {
        if let current, now() < current.expiry.addingTimeInterval(-Self.refreshMargin) { return current.value }
        if let pending { return try await pending.value.value }
        let task = Task { [account, transport, now] in try await Self.exchange(account, transport: transport, now: now()) }
        pending = task
        defer { pending = nil }
        let token = try await task.value
        current = token
        return token.value
    }

    /// Forgets `token` (the server refused it), so the next call fetches a new one.
    public func invalidate(_ token: String) {
        if current?.value == token { current = nil }
    }

    private struct Reply: Decodable {
        var access_token: String?
        var expires_in: Int?
        var error: String?
        var error_description: String?
    }

    static func exchange(_ account: ServiceAccount, transport: HTTPTransport, now: Date) async throws -> Token {
        let assertion = try account.assertion(now: now)
        let body =
            "grant_type=" + SigV4.uriEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + SigV4.uriEncode(assertion)
        let reply = try await transport.send(
            HTTPRequest(
                method: "POST", url: account.tokenURI, headers: [("content-type", "application/x-www-form-urlencoded")],
                body: Data(body.utf8)),
            maxBody: 1 << 20)
        let what = "getting an access token for \(account) from \(HTTPTransport.redacted(account.tokenURI))"
        let decoded = try? JSONDecoder().decode(Reply.self, from: reply.body)
        switch reply.status {
        case 200:
            guard let value = decoded?.access_token, !value.isEmpty else {
                throw StorageError(.unauthorized, "\(what): the reply has no access_token")
            }
            return Token(value: value, expiry: now.addingTimeInterval(TimeInterval(decoded?.expires_in ?? Int(ServiceAccount.lifetime))))
        case 408, 429, 500...599:
            throw StorageError(.transient, "\(what): HTTP \(reply.status)")
        case 400, 401, 403:
            let said = [decoded?.error, decoded?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw StorageError(
                .unauthorized,
                "\(what): refused (HTTP \(reply.status)\(said.isEmpty ? "" : " " + said)); check that the key in GOOGLE_APPLICATION_CREDENTIALS=\(account.path) has not been deleted or disabled, and that this machine's clock is right"
            )
        default:
            throw StorageError(.io, "\(what): HTTP \(reply.status)")
        }
    }
}
