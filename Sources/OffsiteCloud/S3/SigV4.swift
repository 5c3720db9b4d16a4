import Crypto
public import Foundation

/// AWS credentials as restic reads them.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 with header signing, as S3 requires it: the canonical request
/// (method, URI-encoded path, sorted query, sorted lower-case headers, payload SHA-256), the
/// string to sign for the day's scope, and the derived signing key. Proven against botocore's
/// `S3SigV4Auth` for a table of requests (OffsiteCloudTests).
public struct SigV4: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service = "s3"

    public init(credentials: AWSCredentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    /// Headers never signed (botocore leaves them out too: proxies and clients change them).
    static let unsigned: Set<String> = ["user-agent", "expect", "x-amzn-trace-id", "authorization"]

    /// Returns `headers` plus `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token`
    /// (with a session token) and `Authorization`. `path` is the request path exactly as sent
    /// (already percent-encoded), `query` the decoded query parameters. `host` must be among
    /// the headers.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, date: Date
    ) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var out = headers
        out.append(("x-amz-date", amzDate))
        out.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { out.append(("x-amz-security-token", token)) }

        var canonical: [String: String] = [:]
        for (name, value) in out {
            let key = name.lowercased()
            guard !Self.unsigned.contains(key) else { continue }
            let trimmed = Self.collapseSpaces(value)
            canonical[key] = canonical[key].map { $0 + "," + trimmed } ?? trimmed
        }
        let names = canonical.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [
            method,
            path.isEmpty ? "/" : path,
            Self.canonicalQuery(query),
            names.map { "\($0):\(canonical[$0]!)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        out.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
            ))
        return out
    }

    /// The SHA-256 of a body, as `x-amz-content-sha256` carries it.
    public static func payloadHash(_ body: Data?) -> String {
        hex(SHA256.hash(data: body ?? Data()))
    }

    /// `20260102T030405Z` and `20260102`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let day = String(format: "%04d%02d%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)
        return (day + String(format: "T%02d%02d%02dZ", parts.tm_hour, parts.tm_min, parts.tm_sec), day)
    }

    /// Query parameters encoded and sorted by name, then value.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0), uriEncode($0.1)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// AWS's URI encoding: every byte but the unreserved `A-Z a-z 0-9 - _ . ~` as %XX
    /// (upper-case hex); `/` kept when `keepSlash` (object keys in paths).
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    /// Trims a header value and collapses runs of white space to one space, as the canonical
    /// form wants.
    static func collapseSpaces(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
