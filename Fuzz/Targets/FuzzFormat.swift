import Foundation
import OffsiteFormat

/// The repository format's parsers (`Sources/OffsiteFormat`).
enum FuzzFormat {
    /// A fixed key: the sealed header is read back through `Pack.readHeader` as a repository would.
    static let key = try! CryptoKey(derived: (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
    static let iv = [UInt8](repeating: 7, count: 16)

    /// A document that parses serialises to bytes that parse to the same value, and serialising
    /// that value again gives the same bytes.
    static func roundTrip<T: Equatable>(
        _ what: String, _ bytes: [UInt8], parse: (Data) throws -> T, json: (T) -> Data
    ) throws(FuzzViolation) {
        guard let value = try? parse(Data(bytes)) else { return }
        let written = json(value)
        let again: T
        do {
            again = try parse(written)
        } catch {
            throw FuzzViolation("\(what): its own serialisation does not parse: \(error)")
        }
        guard again == value else { throw FuzzViolation("\(what): parse → serialise → parse changed the value") }
        guard json(again) == written else { throw FuzzViolation("\(what): serialising twice gave different bytes") }
    }

    static func packHeader(_ bytes: [UInt8]) throws(FuzzViolation) {
        // The trailer: any 4 bytes and a pack size from the input; an accepted length fits the pack.
        if bytes.count >= 8 {
            let size = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
            if let h = try? Pack.headerLength(trailer: bytes[4..<8], packSize: size) {
                guard h >= CryptoKey.overhead, h + 4 <= size, h + 4 <= Pack.maxHeaderSize else {
                    throw FuzzViolation("pack trailer: header length \(h) accepted for a pack of \(size) bytes")
                }
            }
        }
        // Hostile ciphertext never opens (the MAC fails) and never crashes.
        if (try? key.open(bytes)) != nil { throw FuzzViolation("pack: unauthenticated bytes opened") }

        guard let blobs = try? Pack.decodeHeader(bytes) else { return }
        // The header format has one encoding: decoding then encoding gives the input back.
        guard Pack.encodeHeader(blobs) == bytes else { throw FuzzViolation("pack header: decode → encode changed the bytes") }
        var offset: UInt64 = 0
        for blob in blobs {
            guard UInt64(blob.offset) == offset, blob.length >= UInt32(CryptoKey.overhead) else {
                throw FuzzViolation("pack header: blob at offset \(blob.offset) (expected \(offset)), length \(blob.length)")
            }
            offset += UInt64(blob.length)
        }
        guard offset <= UInt64(UInt32.max) else { throw FuzzViolation("pack header: offsets beyond 4 GiB accepted") }
        guard !blobs.isEmpty else { return }
        // Sealed and read back from a pack of the size the entries describe: the same blobs.
        let sealed = key.seal(bytes, iv: iv)
        var tail = sealed
        let h = UInt32(sealed.count)
        tail.append(contentsOf: [UInt8(h & 0xFF), UInt8(h >> 8 & 0xFF), UInt8(h >> 16 & 0xFF), UInt8(h >> 24)])
        let packSize = Int(offset) + tail.count
        do {
            let read = try Pack.readHeader(tail: tail, packSize: packSize, key: key)
            guard read == blobs else { throw FuzzViolation("pack header: readHeader gave other blobs") }
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            if tail.count <= Pack.maxHeaderSize {
                throw FuzzViolation("pack header: a valid sealed header was rejected: \(error)")
            }
        }
        // One byte more or less in the pack: the size check rejects it.
        if (try? Pack.readHeader(tail: tail, packSize: packSize + 1, key: key)) != nil {
            throw FuzzViolation("pack header: blobs that do not fill the pack accepted")
        }
    }

    static func key(_ bytes: [UInt8]) throws(FuzzViolation) {
        try roundTrip("key file", bytes, parse: KeyFile.init(json:), json: \.json)
        guard let file = try? KeyFile(json: Data(bytes)) else { return }
        // Parameters that pass restic's checks bound scrypt's memory (128·r·N ≤ 2 GiB): a hostile
        // key file cannot make the KDF allocate without limit. The KDF itself is not run here.
        if (try? KeyFile.checkParameters(n: file.n, r: file.r, p: file.p, saltCount: file.salt.count)) != nil {
            let memory = 128.multipliedReportingOverflow(by: file.r)
            let total = memory.partialValue.multipliedReportingOverflow(by: file.n)
            guard !memory.overflow, !total.overflow, total.partialValue <= Int(Int32.max) else {
                throw FuzzViolation("key file: scrypt N=\(file.n) r=\(file.r) passes the checks")
            }
        }
    }
}
