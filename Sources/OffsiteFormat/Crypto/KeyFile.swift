public import Foundation
import _CryptoExtras

/// A key file (`keys/<id>`): plain JSON holding scrypt parameters, a 64-byte salt and the
/// master key sealed with the user key derived from the password.
public struct KeyFile: Sendable, Equatable {
    public var created: GoTime
    public var username: String
    public var hostname: String
    public var kdf: String
    public var n: Int
    public var r: Int
    public var p: Int
    public var salt: [UInt8]
    public var data: [UInt8]

    /// scrypt parameters offsite writes: restic's N and r; p=1 keeps a key check near restic's
    /// cost on slow machines without making brute force cheaper than N allows.
    public static let defaultN = 32768
    public static let defaultR = 8
    public static let defaultP = 1

    public init(
        created: GoTime, username: String, hostname: String, kdf: String = "scrypt",
        n: Int, r: Int, p: Int, salt: [UInt8], data: [UInt8]
    ) {
        self.created = created
        self.username = username
        self.hostname = hostname
        self.kdf = kdf
        self.n = n
        self.r = r
        self.p = p
        self.salt = salt
        self.data = data
    }

    /// Wraps `masterKey` under `password` with a fresh random salt.
    public static func make(
        masterKey: CryptoKey, password: String, username: String, hostname: String,
        created: GoTime = .now(), n: Int = defaultN, r: Int = defaultR, p: Int = defaultP
    ) throws -> KeyFile {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let userKey = try deriveUserKey(password: password, salt: salt, n: n, r: r, p: p)
        let sealed = userKey.seal(masterKey.json)
        return KeyFile(
            created: created, username: username, hostname: hostname, n: n, r: r, p: p,
            salt: salt, data: Array(sealed))
    }

    /// Checks the scrypt parameters as restic does before running the KDF.
    public static func checkParameters(n: Int, r: Int, p: Int, saltCount: Int) throws {
        guard saltCount == 64 else {
            throw FormatError(.invalidData, "key file salt is \(saltCount) bytes, 64 expected")
        }
        guard n > 1, n & (n - 1) == 0 else { throw FormatError(.invalidData, "scrypt N=\(n) is not a power of two > 1") }
        guard r >= 1, p >= 1, r * p < 1 << 30 else { throw FormatError(.invalidData, "scrypt r=\(r) p=\(p) out of range") }
        guard r <= (Int(Int32.max)) / 256, n <= Int(Int32.max) / (128 * r) else {
            throw FormatError(.invalidData, "scrypt N=\(n) r=\(r) out of range")
        }
    }

    /// scrypt(password, salt, N, r, p, 64) split into a user key.
    public static func deriveUserKey(password: String, salt: [UInt8], n: Int, r: Int, p: Int) throws -> CryptoKey {
        guard !password.isEmpty else { throw FormatError(.invalidArgument, "an empty password is not allowed") }
        try checkParameters(n: n, r: r, p: p, saltCount: salt.count)
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: 64,
            rounds: n, blockSize: r, parallelism: p)
        return try CryptoKey(derived: key.withUnsafeBytes { Array($0) })
    }

    /// Derives the user key from `password` and opens the master key.
    /// Throws `.authenticationFailed` when the password does not fit this key file.
    public func openMasterKey(password: String) throws -> CryptoKey {
        guard kdf == "scrypt" else { throw FormatError(.unsupported, "key file uses KDF \"\(kdf)\", only scrypt is supported") }
        let userKey = try Self.deriveUserKey(password: password, salt: salt, n: n, r: r, p: p)
        guard userKey.isValid else { throw FormatError(.invalidData, "derived user key is invalid") }
        let json = try userKey.open(data)
        return try CryptoKey(json: json)
    }

    // MARK: JSON

    /// The file bytes, as restic's `json.Marshal` writes them (no trailing newline).
    public var json: Data {
        var w = GoJSONWriter()
        w.beginObject()
        w.field("created", created)
        w.field("username", username)
        w.field("hostname", hostname)
        w.field("kdf", kdf)
        w.field("N", n)
        w.field("r", r)
        w.field("p", p)
        w.key("salt"); w.base64(salt)
        w.key("data"); w.base64(data)
        w.endObject()
        return w.data
    }

    private struct JSONForm: Decodable {
        var created: GoTime?
        var username: String?
        var hostname: String?
        var kdf: String
        var N: Int
        var r: Int
        var p: Int
        var salt: Data
        var data: Data
    }

    /// Parses a key file. Throws `.invalidData` naming what is wrong.
    public init(json: Data) throws {
        let f = try decodeDocument(JSONForm.self, from: json, what: "key file")
        self.init(
            created: f.created ?? GoTime(seconds: 0), username: f.username ?? "", hostname: f.hostname ?? "",
            kdf: f.kdf, n: f.N, r: f.r, p: f.p, salt: Array(f.salt), data: Array(f.data))
    }
}
