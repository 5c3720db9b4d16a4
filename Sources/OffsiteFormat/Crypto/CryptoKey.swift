import Crypto
public import Foundation
import _CryptoExtras

/// A restic key: 32 bytes of AES-256-CTR key plus a Poly1305-AES MAC key (`k`, `r`).
///
/// Used both for the repository's master key and for the user key derived from a password.
/// `seal` produces `IV(16) ‖ ciphertext ‖ MAC(16)`; `open` checks the MAC before decrypting.
public struct CryptoKey: Sendable, Equatable {
    /// Bytes added by `seal`: a 16-byte IV in front, a 16-byte MAC behind.
    public static let overhead = 32

    public let encrypt: [UInt8]
    public let macK: [UInt8]
    public let macR: [UInt8]
    let aesKey: SymmetricKey
    let macAESKey: SymmetricKey

    public init(encrypt: [UInt8], macK: [UInt8], macR: [UInt8]) throws {
        guard encrypt.count == 32, macK.count == 16, macR.count == 16 else {
            throw FormatError(.invalidData, "key has wrong lengths (encrypt 32, mac.k 16, mac.r 16 bytes expected)")
        }
        self.encrypt = encrypt
        self.macK = macK
        self.macR = macR
        self.aesKey = SymmetricKey(data: encrypt)
        self.macAESKey = SymmetricKey(data: macK)
    }

    /// A fresh random key (for a new repository's master key).
    public static func random() -> CryptoKey {
        var rng = SystemRandomNumberGenerator()
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        // Force-try is safe: the lengths are right by construction.
        return try! CryptoKey(encrypt: bytes(32), macK: bytes(16), macR: bytes(16))
    }

    /// Builds a key from the 64 bytes of scrypt output: encrypt ‖ mac.k ‖ mac.r.
    public init(derived dk: [UInt8]) throws {
        guard dk.count == 64 else { throw FormatError(.invalidArgument, "derived key must be 64 bytes") }
        try self.init(encrypt: Array(dk[0..<32]), macK: Array(dk[32..<48]), macR: Array(dk[48..<64]))
    }

    /// True when restic would accept the key: no part is all zero.
    public var isValid: Bool {
        encrypt.contains { $0 != 0 } && macK.contains { $0 != 0 } && macR.contains { $0 != 0 }
    }

    public static func == (a: CryptoKey, b: CryptoKey) -> Bool {
        a.encrypt == b.encrypt && a.macK == b.macK && a.macR == b.macR
    }

    // MARK: - Seal and open

    /// 16 random bytes, never all zero (two reads of the system CSPRNG).
    static func randomIV() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        while true {
            let a: UInt64 = rng.next(), b: UInt64 = rng.next()
            guard a != 0 || b != 0 else { continue }
            return withUnsafeBytes(of: (a, b)) { Array($0) }
        }
    }

    /// Encrypts and authenticates `plaintext` with a fresh random IV.
    public func seal<D: DataProtocol>(_ plaintext: D) -> Data {
        return seal(plaintext, iv: Self.randomIV())
    }

    /// Encrypts with a given IV. Only for test vectors: reusing an IV destroys confidentiality.
    public func seal<D: DataProtocol>(_ plaintext: D, iv: [UInt8]) -> Data {
        precondition(iv.count == 16 && !iv.allSatisfy { $0 == 0 }, "IV must be 16 non-zero bytes")
        // The key lengths are checked at init, and the nonce is 16 bytes, so these cannot throw.
        let ciphertext = try! AES._CTR.encrypt(plaintext, using: aesKey, nonce: .init(nonceBytes: iv))
        var out = Data(capacity: ciphertext.count + Self.overhead)
        out.append(contentsOf: iv)
        out.append(ciphertext)
        let tag = ciphertext.withUnsafeBytes { authenticationTag(ciphertext: $0, iv: iv) }
        out.append(contentsOf: tag)
        return out
    }

    /// The three parts of a sealed message, for callers that write them straight into a
    /// larger buffer (a pack) instead of assembling `IV ‖ ciphertext ‖ MAC` first.
    public struct SealedParts: Sendable {
        public var iv: [UInt8]
        public var ciphertext: Data
        public var tag: [UInt8]
        public var count: Int { iv.count + ciphertext.count + tag.count }

        public init(iv: [UInt8], ciphertext: Data, tag: [UInt8]) {
            self.iv = iv
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }

    /// Encrypts and authenticates `plaintext` with a fresh random IV, returning the parts.
    public func sealParts(_ plaintext: UnsafeRawBufferPointer) -> SealedParts {
        let iv = Self.randomIV()
        // The key lengths are checked at init, and the nonce is 16 bytes, so this cannot throw.
        let ciphertext = try! AES._CTR.encrypt(plaintext, using: aesKey, nonce: .init(nonceBytes: iv))
        let tag = ciphertext.withUnsafeBytes { authenticationTag(ciphertext: $0, iv: iv) }
        return SealedParts(iv: iv, ciphertext: ciphertext, tag: tag)
    }

    /// Checks the MAC of `IV ‖ ciphertext ‖ MAC` and returns the plaintext.
    /// Throws `.authenticationFailed` when the MAC does not match (wrong key or changed bytes)
    /// and `.invalidData` when the input is shorter than 32 bytes or its IV is all zero.
    public func open<D: DataProtocol>(_ sealed: D) throws -> Data {
        if let data = sealed as? Data { return try data.withUnsafeBytes { try open(raw: $0) } }
        return try Array(sealed).withUnsafeBytes { try open(raw: $0) }
    }

    /// `open` on bytes in memory, without copying them first.
    public func open(raw bytes: UnsafeRawBufferPointer) throws -> Data {
        guard bytes.count >= Self.overhead else {
            throw FormatError(.invalidData, "encrypted data too short (\(bytes.count) bytes, at least 32 expected)")
        }
        let iv = Array(bytes[0..<16])
        guard !iv.allSatisfy({ $0 == 0 }) else {
            throw FormatError(.invalidData, "encrypted data has an all-zero IV")
        }
        let end = bytes.count - 16
        let ciphertext = UnsafeRawBufferPointer(rebasing: bytes[16..<end])
        let expected = authenticationTag(ciphertext: ciphertext, iv: iv)
        guard Poly1305.constantTimeEqual(expected, bytes[end...]) else {
            throw FormatError(.authenticationFailed, "ciphertext verification failed")
        }
        return try! AES._CTR.decrypt(ciphertext, using: aesKey, nonce: .init(nonceBytes: iv))
    }

    /// Poly1305-AES: `s` is AES-128(mac.k, IV), `r` is mac.r (clamped inside Poly1305).
    public func authenticationTag(ciphertext: UnsafeRawBufferPointer, iv: [UInt8]) -> [UInt8] {
        var s = iv
        try! AES.permute(&s, key: macAESKey)
        return Poly1305.authenticate(message: ciphertext, r: macR, s: s)
    }
}

extension CryptoKey {
    /// The master key JSON restic stores inside a key file's `data`:
    /// `{"mac":{"k":"…","r":"…"},"encrypt":"…"}` (standard base64).
    public var json: Data {
        let k = Data(macK).base64EncodedString()
        let r = Data(macR).base64EncodedString()
        let e = Data(encrypt).base64EncodedString()
        return Data("{\"mac\":{\"k\":\"\(k)\",\"r\":\"\(r)\"},\"encrypt\":\"\(e)\"}".utf8)
    }

    private struct JSONForm: Decodable {
        struct MAC: Decodable {
            var k: Data
            var r: Data
        }
        var mac: MAC
        var encrypt: Data
    }

    /// Decodes the master key JSON and checks the key is usable.
    public init(json: Data) throws {
        let form = try decodeDocument(JSONForm.self, from: json, what: "master key JSON")
        try self.init(encrypt: Array(form.encrypt), macK: Array(form.mac.k), macR: Array(form.mac.r))
        guard isValid else { throw FormatError(.invalidData, "master key has an all-zero part") }
    }
}
