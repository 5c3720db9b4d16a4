import Foundation
import OffsiteFormat
import Testing

func hex(_ s: String) -> [UInt8] { Hex.decode(s)! }

/// docs/FORMAT.md §11.1: Poly1305-AES, seal/open and key file vectors.
@Suite struct CryptoVectorTests {
    /// Bernstein's Poly1305-AES vectors, in restic's (msg, r, k, nonce) → mac form.
    @Test(arguments: [
        (
            "f3f6", "851fc40c3467ac0be05cc20404f3f700", "ec074c835580741701425b623235add6",
            "fb447350c4e868c52ac3275cf9d4327e", "f4c633c3044fc145f84f335cb81953de"
        ),
        (
            "", "a0f3080000f46400d0c7e9076c834403", "75deaa25c09f208e1dc4ce6b5cad3fbf",
            "61ee09218d29b0aaed7e154a2c5509cc", "dd3fab2251f11ac759f0887129cc2ee7"
        ),
        (
            "663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136", "48443d0bb0d21109c89a100b5ce2c208",
            "6acb5f61a7176dd320c5c1eb2edcdc74", "ae212a55399729595dea458bc621ff0e", "0ee1c16bb73f0f4fd19881753c01cdbe"
        ),
        (
            "ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9",
            "12976a08c4426d0ce8a82407c4f48207", "e1a5668a4d5b66a5f68cc5424ed5982d",
            "9ae831e743978d3a23527c7128149e3a", "5154ad0d2cb26e01274fc51148491f1b"
        ),
    ])
    func poly1305AES(msg: String, r: String, k: String, nonce: String, mac: String) throws {
        let key = try CryptoKey(encrypt: [UInt8](repeating: 1, count: 32), macK: hex(k), macR: hex(r))
        let tag = hex(msg).withUnsafeBytes { key.authenticationTag(ciphertext: $0, iv: hex(nonce)) }
        #expect(Hex.encode(tag) == mac)
    }

    /// RFC 8439 §2.5.2 (raw Poly1305 with r and s given).
    @Test func poly1305RFC8439() {
        let msg = Array("Cryptographic Forum Research Group".utf8)
        let tag = msg.withUnsafeBytes {
            Poly1305.authenticate(
                message: $0, r: hex("85d6be7857556d337f4452fe42d506a8"),
                s: hex("0103808afb0db2fd4abff6af4149f51b"))
        }
        #expect(Hex.encode(tag) == "a8061dc1305136c6c22b8baf0c0127a9")
    }

    static let sealKey = try! CryptoKey(
        encrypt: hex("303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef"),
        macK: hex("ef4d8824cb80b2bcc5fbff8a9b12a42c"), macR: hex("cc8d4b948ee0ebfe1d415de921d10353"))

    @Test func openResticVector() throws {
        let stored = hex("69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750")
        let plain = try Self.sealKey.open(stored)
        #expect(String(decoding: plain, as: UTF8.self) == "Dies ist ein Test!")
        // Sealing with the same IV gives back the same bytes.
        #expect(Array(Self.sealKey.seal(plain, iv: Array(stored[0..<16]))) == stored)
    }

    @Test func counterCarriesThroughAll128Bits() throws {
        let iv = hex("000102030405060708090a0bffffffff")
        let sealed = Array(Self.sealKey.seal([UInt8](repeating: 0, count: 48), iv: iv))
        #expect(
            Hex.encode(sealed[16..<64])
                == "dfaceebad9f5d187f432833f773bab7164820c3a7b3adfe76ff439f9b27555179a04e500db1706a1591d28f5458e4bf5")
        #expect(Hex.encode(sealed[64...]) == "8999ff379e0e4eb25161bca91606767b")
        #expect(try Self.sealKey.open(sealed) == Data(count: 48))
    }

    @Test func flippedBitFailsAuthentication() throws {
        var sealed = Array(Self.sealKey.seal(Data("hello world".utf8)))
        for position in [0, 16, sealed.count - 1] {
            var bad = sealed
            bad[position] ^= 0x01
            #expect(throws: FormatError.self) { try Self.sealKey.open(bad) }
        }
        sealed.removeLast()
        #expect(throws: FormatError.self) { try Self.sealKey.open(sealed) }
        #expect(throws: FormatError.self) { try Self.sealKey.open([UInt8](repeating: 7, count: 31)) }
    }

    @Test func sealOpenRoundTripAllLengths() throws {
        let key = CryptoKey.random()
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 1000, 65537] {
            let plain = Data((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let sealed = key.seal(plain)
            #expect(sealed.count == n + 32)
            #expect(try key.open(sealed) == plain)
        }
    }

    static let keyFileJSON =
        #"{"created":"2024-01-02T03:04:05Z","username":"test","hostname":"test","kdf":"scrypt","N":16384,"r":8,"p":1,"salt":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==","data":"EBESExQVFhcYGRobHB0eH8gCI+jVJfWZTotRTwT3/LqqZsOgTcQceCLRXxCLHQUxU+E1uSveyxP5uBg53+4so/qzaQSLf427m30Z8ha/aeYUucPIcFk9Cu2RphmX7/2JbHbNf1DBZLz5Iq2ajB2y6zXID4ytgko2++Z4GIENdVCYUZRfgqHpBRm8uguOuH98nzjpYZGJl867VX1I4Gci+Q=="}"#

    @Test func scryptVector() throws {
        let salt = (0..<64).map { UInt8($0) }
        let key = try KeyFile.deriveUserKey(password: "correct horse battery staple", salt: salt, n: 16384, r: 8, p: 1)
        #expect(
            Hex.encode(key.encrypt + key.macK + key.macR)
                == "a0a56744cb4bc90c24a0992f7a28868d29d0c790698e0ff838c9c2b467a340420304d589cc37847e190e3eae5f7dc124fd5020bc9d1055acb6933b6700c034f5"
        )
    }

    @Test func keyFileVector() throws {
        let data = Data(Self.keyFileJSON.utf8)
        #expect(ID.hash(data).hex == "155efca07bd14aab814b99f81762621a324777f5be713ebad12be9c1c4f3de1c")
        let file = try KeyFile(json: data)
        #expect(file.n == 16384 && file.r == 8 && file.p == 1 && file.salt.count == 64)
        // Re-encoding gives the same bytes (field order, time format, base64).
        #expect(file.json == data)
        let master = try file.openMasterKey(password: "correct horse battery staple")
        #expect(master.encrypt == (0x20...0x3f).map { UInt8($0) })
        #expect(master.macK == (0x40...0x4f).map { UInt8($0) })
        #expect(master.macR == (0x50...0x5f).map { UInt8($0) })
        #expect(throws: FormatError.self) { try file.openMasterKey(password: "wrong") }
    }

    @Test func configVector() throws {
        let master = try CryptoKey(
            encrypt: (0x20...0x3f).map { UInt8($0) }, macK: (0x40...0x4f).map { UInt8($0) },
            macR: (0x50...0x5f).map { UInt8($0) })
        let config = Config(
            version: 2, id: String(repeating: "0", count: 62) + "01",
            chunkerPolynomial: Polynomial(0x3da3358b4dc173))
        #expect(
            String(decoding: config.json, as: UTF8.self)
                == #"{"version":2,"id":"0000000000000000000000000000000000000000000000000000000000000001","chunker_polynomial":"3da3358b4dc173"}"#
        )
        let sealed = master.seal(config.json, iv: (0x60...0x6f).map { UInt8($0) })
        #expect(
            Hex.encode(sealed)
                == "606162636465666768696a6b6c6d6e6f841abeab12919f37e944f65943f92efa1f78742d88fef17ca29c262aff1a9d2e742254a693336e18b1c6d532de9f12463c797a4c5f55e3e13bb82252ae235e3ab76050676aba9846fad84bf44be76fe89d9694d9f4bbaff9e2ee1bf8147068573d9f354d98daa9af353afbacefc943962d8c8a55a505668a06e2b5fd33098a0fe5f171f569da9b79b925c3"
        )
        #expect(try Config(json: try master.open(sealed)) == config)
    }

    @Test func masterKeyJSONRoundTrip() throws {
        let key = CryptoKey.random()
        #expect(try CryptoKey(json: key.json) == key)
        #expect(throws: FormatError.self) { try CryptoKey(json: Data("{\"mac\":{}}".utf8)) }
    }

    @Test func keyFileRejectsBadParameters() throws {
        #expect(throws: FormatError.self) { try KeyFile.checkParameters(n: 1000, r: 8, p: 1, saltCount: 64) }
        #expect(throws: FormatError.self) { try KeyFile.checkParameters(n: 1024, r: 8, p: 1, saltCount: 32) }
        #expect(throws: FormatError.self) { try KeyFile.checkParameters(n: 1024, r: 0, p: 1, saltCount: 64) }
        #expect(throws: FormatError.self) { try KeyFile(json: Data("{\"kdf\":\"scrypt\"".utf8)) }
        #expect(throws: FormatError.self) {
            try KeyFile.deriveUserKey(password: "", salt: [UInt8](repeating: 0, count: 64), n: 1024, r: 8, p: 1)
        }
    }
}
