public import Foundation
import OffsiteStorage
import _CryptoExtras

/// A Google service account key file (the JSON that `GOOGLE_APPLICATION_CREDENTIALS` names)
/// and the OAuth2 JWT-bearer assertion it signs (RFC 7523, RS256). The private key never
/// leaves this value: `description` shows only the account's e-mail address.
public struct ServiceAccount: Sendable, CustomStringConvertible {
    public var clientEmail: String
    public var privateKeyID: String?
    /// Where assertions are exchanged for access tokens (the file's `token_uri`).
    public var tokenURI: String
    public var projectID: String?
    /// The file it was read from, for messages.
    public var path: String
    let key: _RSA.Signing.PrivateKey

    /// The scope restic asks for: read and write objects, create buckets.
    public static let scope = "https://www.googleapis.com/auth/devstorage.read_write"
    public static let defaultTokenURI = "https://oauth2.googleapis.com/token"
    /// Assertions (and the tokens they buy) are valid for an hour, Google's maximum.
    public static let lifetime: TimeInterval = 3600

    public var description: String { "service account \(clientEmail)" }

    private struct File: Decodable {
        var type: String?
        var client_email: String?
        var private_key: String?
        var private_key_id: String?
        var token_uri: String?
        var project_id: String?
    }

    /// Reads and checks the key file at `path`. Errors name the file and what is wrong with it,
    /// never the key.
    public static func load(path: String) throws -> ServiceAccount {
        let what = "GOOGLE_APPLICATION_CREDENTIALS=\(path)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(.unauthorized, "\(what): the file cannot be read; check the path and its permissions")
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws -> ServiceAccount {
        let what = "GOOGLE_APPLICATION_CREDENTIALS=\(path)"
        guard let file = try? JSONDecoder().decode(File.self, from: data) else {
            throw StorageError(.unauthorized, "\(what): not a JSON key file; download a service account key (JSON) from the Cloud console")
        }
        if let type = file.type, type != "service_account" {
            throw StorageError(
                .unauthorized,
                "\(what): credentials of type \(type) are not supported, only service account keys; use a service account key file, or set GOOGLE_ACCESS_TOKEN (e.g. to the output of `gcloud auth print-access-token`)"
            )
        }
        guard let email = file.client_email, !email.isEmpty, let pem = file.private_key, !pem.isEmpty else {
            throw StorageError(
                .unauthorized, "\(what): the key file has no client_email or private_key; download a new key for the service account")
        }
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw StorageError(
                .unauthorized,
                "\(what): the private_key is not a valid RSA key (2048 bits or more); download a new key for the service account")
        }
        return ServiceAccount(
            clientEmail: email, privateKeyID: file.private_key_id,
            tokenURI: file.token_uri.flatMap { $0.isEmpty ? nil : $0 } ?? defaultTokenURI,
            projectID: file.project_id, path: path, key: key)
    }

    /// The signed JWT asserting this account's identity at `now`, for the token endpoint.
    public func assertion(now: Date) throws -> String {
        var header: [String: String] = ["alg": "RS256", "typ": "JWT"]
        if let privateKeyID, !privateKeyID.isEmpty { header["kid"] = privateKeyID }
        let iat = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": clientEmail, "scope": Self.scope, "aud": tokenURI, "iat": iat, "exp": iat + Int(Self.lifetime),
        ]
        let encode = { (object: Any) throws -> String in
            Self.base64URL(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        let signingInput = try encode(header) + "." + encode(claims)
        let signature: _RSA.Signing.RSASignature
        do {
            signature = try key.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
        } catch {
            throw StorageError(.unauthorized, "GOOGLE_APPLICATION_CREDENTIALS=\(path): signing with the private key failed (\(error))")
        }
        return signingInput + "." + Self.base64URL(signature.rawRepresentation)
    }

    /// Base64 with the URL alphabet and no padding (RFC 7515).
    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
