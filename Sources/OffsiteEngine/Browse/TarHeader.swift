import OffsiteFormat

/// One tar entry header, encoded the way Go's `archive/tar` Writer encodes a header whose
/// `Format` is left unspecified (what restic's `dump` does): the modification time is rounded
/// to the second and access/change times are dropped; the entry is written as plain USTAR when
/// every field fits, and otherwise (or when there are extra records such as extended
/// attributes) as a PAX extended header followed by a USTAR-layout header.
///
/// So an archive built from these headers is byte-identical to restic's for the same nodes.
/// Field rules (Go 1.19): names longer than 100 bytes are split at a `/` into the 155-byte
/// prefix when possible, else go to a PAX `path` record; non-ASCII names, link targets, user and
/// group names go to PAX records (the USTAR fields then keep their ASCII bytes only); sizes of
/// 8 GiB and more, IDs above 2097151 and times before 1970 go to PAX records too.
struct TarHeader {
    enum Kind: UInt8 {
        case regular = 0x30  // '0'
        case symlink = 0x32  // '2'
        case directory = 0x35  // '5'
    }

    var name: [UInt8]
    var kind: Kind
    /// Permission bits plus setuid/setgid/sticky (POSIX values, 0o7777 at most).
    var mode: Int64
    var uid: Int64
    var gid: Int64
    var size: Int64
    var modificationTime: GoTime
    var linkName: [UInt8] = []
    var userName: [UInt8] = []
    var groupName: [UInt8] = []
    /// Extra PAX records (restic's `SCHILY.xattr.*` and `SCHILY.acl.*`).
    var records: [String: [UInt8]] = [:]

    static let blockSize = 512
    /// Go's limit on the size of a PAX extended header.
    static let maxRecordsSize = 1 << 20

    struct EncodingError: Error, CustomStringConvertible {
        var description: String
    }

    /// The header blocks (one, or three and more with a PAX extended header) to write before
    /// the entry's data. The data is `dataSize` bytes, then padding to a block boundary.
    func encode() throws(EncodingError) -> [UInt8] {
        let mtime = Self.rounded(modificationTime)
        var pax: [String: [UInt8]] = [:]
        var ustar = true

        func checkString(_ s: [UInt8], size: Int, key: String?) {
            let tooLong = s.count > size
            if !Self.isASCII(s) || tooLong {
                if key != "path" || Self.splitUSTARPath(s) == nil { ustar = false }
                if let key { pax[key] = s }
            }
        }
        func checkNumber(_ n: Int64, size: Int, key: String) {
            if !Self.fitsInOctal(size, n) {
                ustar = false
                pax[key] = Array(String(n).utf8)
            }
        }
        checkString(name, size: 100, key: "path")
        checkString(linkName, size: 100, key: "linkpath")
        checkString(userName, size: 32, key: "uname")
        checkString(groupName, size: 32, key: "gname")
        checkNumber(uid, size: 8, key: "uid")
        checkNumber(gid, size: 8, key: "gid")
        checkNumber(size, size: 12, key: "size")
        if let unix = mtime, !Self.fitsInOctal(12, unix) {
            ustar = false
            pax["mtime"] = Array(String(unix).utf8)
        }
        if !records.isEmpty {
            ustar = false
            for (k, v) in records where pax[k] == nil && !Self.basicKeys.contains(k) { pax[k] = v }
        }
        for (k, v) in pax where !Self.validRecord(k, v) {
            throw EncodingError(description: "invalid PAX record \"\(k) = \(String(decoding: v, as: UTF8.self))\"")
        }

        if ustar {
            var prefix: [UInt8] = []
            var shortName = name
            if let (p, s) = Self.splitUSTARPath(name) { (prefix, shortName) = (p, s) }
            var block = main(name: shortName, mtime: mtime ?? 0, ascii: false)
            Self.putString(&block, 345, 155, prefix)
            Self.seal(&block)
            return block
        }

        var out: [UInt8] = []
        if !pax.isEmpty {
            var data: [UInt8] = []
            for key in pax.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                data += Self.record(key, pax[key]!)
            }
            guard data.count <= Self.maxRecordsSize else { throw EncodingError(description: "PAX extended header is too large") }
            out += Self.extendedHeader(for: name, dataSize: data.count)
            out += data
            out += [UInt8](repeating: 0, count: Self.padding(data.count))
        }
        var block = main(name: name, mtime: mtime ?? 0, ascii: true)
        Self.seal(&block)
        return out + block
    }

    /// Zero bytes that follow `size` bytes of data to fill the last block.
    static func padding(_ size: Int64) -> Int { Int((Int64(blockSize) - size % Int64(blockSize)) % Int64(blockSize)) }
    static func padding(_ size: Int) -> Int { padding(Int64(size)) }

    /// The end of an archive: two zero blocks.
    static let trailer = [UInt8](repeating: 0, count: 2 * blockSize)

    // MARK: Blocks

    /// The V7 and USTAR fields shared by the USTAR and PAX forms. In the PAX form strings keep
    /// only their ASCII bytes and numbers that do not fit are written as 0.
    private func main(name: [UInt8], mtime: Int64, ascii: Bool) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.blockSize)
        func str(_ offset: Int, _ size: Int, _ s: [UInt8]) { Self.putString(&b, offset, size, ascii ? Self.toASCII(s) : s) }
        b[156] = kind.rawValue
        str(0, 100, name)
        str(157, 100, linkName)
        Self.putOctal(&b, 100, 8, mode)
        Self.putOctal(&b, 108, 8, uid)
        Self.putOctal(&b, 116, 8, gid)
        Self.putOctal(&b, 124, 12, size)
        Self.putOctal(&b, 136, 12, mtime)
        str(265, 32, userName)
        str(297, 32, groupName)
        Self.putOctal(&b, 329, 8, 0)
        Self.putOctal(&b, 337, 8, 0)
        return b
    }

    /// Go's `writeRawFile` for a PAX header: `dir/PaxHeaders.0/file`, everything else zero.
    private static func extendedHeader(for name: [UInt8], dataSize: Int) -> [UInt8] {
        let slash = UInt8(ascii: "/")
        let cut = name.lastIndex(of: slash).map { $0 + 1 } ?? 0
        let joined = GoFilepath.clean((Array(name[..<cut]) + Array("PaxHeaders.0/".utf8) + Array(name[cut...]))[...])
        var headerName = Array(toASCII(joined).prefix(100))
        while headerName.last == slash { headerName.removeLast() }
        var b = [UInt8](repeating: 0, count: blockSize)
        b[156] = UInt8(ascii: "x")
        putString(&b, 0, 100, headerName)
        putOctal(&b, 100, 8, 0)
        putOctal(&b, 108, 8, 0)
        putOctal(&b, 116, 8, 0)
        putOctal(&b, 124, 12, Int64(dataSize))
        putOctal(&b, 136, 12, 0)
        seal(&b)
        return b
    }

    /// Sets the USTAR magic and version and the checksum.
    private static func seal(_ b: inout [UInt8]) {
        b.replaceSubrange(257..<265, with: Array("ustar\u{0}00".utf8))
        var sum: Int64 = 0
        for (i, c) in b.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int64(c) }
        putOctal(&b, 148, 7, sum)
        b[155] = 0x20
    }

    // MARK: Field formats

    /// Go's `formatString`: copies what fits, NUL-terminates when there is room, and drops a
    /// trailing slash run that a truncation left at the end of the field.
    private static func putString(_ b: inout [UInt8], _ offset: Int, _ size: Int, _ s: [UInt8]) {
        let n = min(size, s.count)
        b.replaceSubrange(offset..<offset + n, with: s[..<n])
        if s.count < size { b[offset + s.count] = 0 }
        if s.count > size && b[offset + size - 1] == UInt8(ascii: "/") {
            var end = size - 1
            while end > 0 && s[end - 1] == UInt8(ascii: "/") { end -= 1 }
            b[offset + end] = 0
        }
    }

    /// Go's `formatOctal`: zero-padded octal leaving room for a NUL; 0 when it does not fit.
    private static func putOctal(_ b: inout [UInt8], _ offset: Int, _ size: Int, _ value: Int64) {
        let x = fitsInOctal(size, value) ? value : 0
        var digits = Array(String(x, radix: 8).utf8)
        if size - digits.count - 1 > 0 { digits = [UInt8](repeating: UInt8(ascii: "0"), count: size - digits.count - 1) + digits }
        putString(&b, offset, size, digits)
    }

    static func fitsInOctal(_ size: Int, _ x: Int64) -> Bool {
        let bits = (size - 1) * 3
        return x >= 0 && (size >= 22 || x < Int64(1) << bits)
    }

    /// The modification time as Go's `Round(time.Second)` leaves it, in Unix seconds; nil for
    /// Go's zero time (year 1), which is written as 0 and never needs a record.
    static func rounded(_ t: GoTime) -> Int64? {
        if t.seconds == goZeroTimeSeconds && t.nanoseconds == 0 { return nil }
        return t.nanoseconds >= 500_000_000 ? t.seconds + 1 : t.seconds
    }

    /// Unix seconds of Go's zero `time.Time` (0001-01-01 00:00:00 UTC).
    static let goZeroTimeSeconds: Int64 = -62_135_596_800

    static func isASCII(_ s: [UInt8]) -> Bool { s.allSatisfy { $0 != 0 && $0 < 0x80 } }
    static func toASCII(_ s: [UInt8]) -> [UInt8] { isASCII(s) ? s : s.filter { $0 != 0 && $0 < 0x80 } }

    /// Go's `splitUSTARPath`: a name longer than 100 bytes split at a slash into a prefix of at
    /// most 155 bytes and a name of at most 100.
    static func splitUSTARPath(_ name: [UInt8]) -> ([UInt8], [UInt8])? {
        var length = name.count
        if length <= 100 || !isASCII(name) { return nil }
        if length > 156 {
            length = 156
        } else if name[length - 1] == UInt8(ascii: "/") {
            length -= 1
        }
        guard let i = name[..<length].lastIndex(of: UInt8(ascii: "/")) else { return nil }
        let suffixLength = name.count - i - 1
        if i <= 0 || suffixLength > 100 || suffixLength == 0 || i > 155 { return nil }
        return (Array(name[..<i]), Array(name[(i + 1)...]))
    }

    static let basicKeys: Set<String> = ["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"]

    static func validRecord(_ key: String, _ value: [UInt8]) -> Bool {
        if key.isEmpty || key.contains("=") { return false }
        switch key {
        case "path", "linkpath", "uname", "gname": return !value.contains(0)
        default: return !key.utf8.contains(0)
        }
    }

    /// `"%d %s=%s\n"` where the leading number is the length of the whole record.
    static func record(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0A]
        var size = body.count + String(body.count).utf8.count
        if String(size).utf8.count + body.count != size { size = String(size).utf8.count + body.count }
        return Array(String(size).utf8) + body
    }
}
