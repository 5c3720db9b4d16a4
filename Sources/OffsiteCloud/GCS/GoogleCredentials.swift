import OffsiteStorage

/// How requests to GCS are authorised, found as restic finds them. Its description names the
/// kind of credentials, never a token.
public enum GoogleCredentials: Sendable, CustomStringConvertible {
    /// `GOOGLE_ACCESS_TOKEN`, used as it is (it cannot be renewed: such tokens last an hour).
    case accessToken(String)
    /// `GOOGLE_APPLICATION_CREDENTIALS`: a service account key, tokens fetched and renewed.
    case serviceAccount(GoogleAccessTokens)
    /// No credentials: only an emulator (`STORAGE_EMULATOR_HOST`) accepts this.
    case anonymous

    /// `GOOGLE_ACCESS_TOKEN` first (as restic), then the key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`; with neither, anonymous requests when talking to an
    /// emulator and otherwise an error saying what to set.
    public static func find(environment env: [String: String], emulator: Bool, transport: HTTPTransport) throws -> GoogleCredentials {
        if let token = env["GOOGLE_ACCESS_TOKEN"], !token.isEmpty { return .accessToken(token) }
        if let path = env["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty {
            return .serviceAccount(GoogleAccessTokens(account: try ServiceAccount.load(path: path), transport: transport))
        }
        if emulator { return .anonymous }
        throw StorageError(
            .unauthorized,
            "no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (JSON), or GOOGLE_ACCESS_TOKEN to an OAuth2 access token"
        )
    }

    /// The `Authorization` header value, fetching a token when needed; nil when anonymous.
    func authorization() async throws -> String? {
        switch self {
        case .accessToken(let token): return "Bearer " + token
        case .serviceAccount(let tokens): return "Bearer " + (try await tokens.token())
        case .anonymous: return nil
        }
    }

    public var description: String {
        switch self {
        case .accessToken: return "GOOGLE_ACCESS_TOKEN"
        case .serviceAccount(let tokens): return "\(tokens.account) (GOOGLE_APPLICATION_CREDENTIALS=\(tokens.account.path))"
        case .anonymous: return "anonymous"
        }
    }

    /// What to check when GCS refuses the credentials, for messages.
    var advice: String {
        switch self {
        case .accessToken:
            return
                "check GOOGLE_ACCESS_TOKEN (access tokens expire after an hour; GOOGLE_APPLICATION_CREDENTIALS with a service account key renews them)"
        case .serviceAccount(let tokens):
            return
                "check GOOGLE_APPLICATION_CREDENTIALS=\(tokens.account.path) (\(tokens.account)) and its roles on the bucket (Storage Object Admin)"
        case .anonymous:
            return "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file or GOOGLE_ACCESS_TOKEN"
        }
    }
}
