import Crypto
import Foundation
import OffsiteFormat
import Testing
import _CryptoExtras

/// Poly1305 against BoringSSL: ChaCha20-Poly1305 (RFC 8439 §2.8) authenticates
/// `ciphertext ‖ pad ‖ le64(aad length) ‖ le64(ciphertext length)` with the one-time key
/// `r ‖ s` taken from the first ChaCha20 block. Computing that key with raw ChaCha20 and the tag
/// with our Poly1305 must give BoringSSL's tag, for random keys and every length class (empty,
/// partial final blocks, many blocks).
@Suite struct Poly1305OracleTests {
    @Test func matchesBoringSSLOnRandomInputs() throws {
        var rng = SystemRandomNumberGenerator()
        var lengths = Array(0...70) + [255, 256, 257, 1000, 4096, 65_537]
        for _ in 0..<100 { lengths.append(Int.random(in: 0...20_000, using: &rng)) }
        for length in lengths {
            let key = SymmetricKey(size: .bits256)
            let nonceBytes = (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let plaintext = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }

            let oneTimeKey = try Insecure.ChaCha20CTR.encrypt(
                [UInt8](repeating: 0, count: 32), using: key, counter: .init(offset: 0),
                nonce: .init(data: nonceBytes))
            let box = try ChaChaPoly.seal(plaintext, using: key, nonce: .init(data: nonceBytes))

            var macInput = [UInt8](box.ciphertext)
            macInput += [UInt8](repeating: 0, count: (16 - macInput.count % 16) % 16)
            macInput += withUnsafeBytes(of: UInt64(0).littleEndian, Array.init)
            macInput += withUnsafeBytes(of: UInt64(length).littleEndian, Array.init)
            let ours = macInput.withUnsafeBytes {
                Poly1305.authenticate(message: $0, r: Array(oneTimeKey.prefix(16)), s: Array(oneTimeKey.suffix(16)))
            }
            #expect(ours == [UInt8](box.tag), "length \(length)")
        }
    }

    /// RFC 8439 appendix A.3 vectors #5–#11: inputs chosen to hit the carry chains and the
    /// final reduction modulo 2^130 - 5 at their edges.
    @Test(arguments: [
        ("02" + z(15), z(16), ff(16), "03" + z(15)),
        ("02" + z(15), ff(16), "02" + z(15), "03" + z(15)),
        ("01" + z(15), z(16), ff(16) + "f0" + ff(15) + "11" + z(15), "05" + z(15)),
        ("01" + z(15), z(16), ff(16) + "fb" + String(repeating: "fe", count: 15) + String(repeating: "01", count: 16), z(16)),
        ("02" + z(15), z(16), "fd" + ff(15), "fa" + ff(15)),
        (
            "01" + z(7) + "04" + z(7), z(16),
            "e33594d7505e43b9" + z(8) + "3394d7505e4379cd01" + z(7) + z(16) + "01" + z(15), "14" + z(7) + "55" + z(7)
        ),
        ("01" + z(7) + "04" + z(7), z(16), "e33594d7505e43b9" + z(8) + "3394d7505e4379cd01" + z(7) + z(16), "13" + z(15)),
    ])
    func rfc8439EdgeVectors(r: String, s: String, message: String, tag: String) {
        let out = hex(message).withUnsafeBytes { Poly1305.authenticate(message: $0, r: hex(r), s: hex(s)) }
        #expect(Hex.encode(out) == tag)
    }
}

private func z(_ n: Int) -> String { String(repeating: "00", count: n) }
private func ff(_ n: Int) -> String { String(repeating: "ff", count: n) }
