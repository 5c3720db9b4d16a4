import OffsiteFormat

/// A streaming zip writer that produces what Go's `archive/zip` Writer produces for restic's
/// `dump --archive zip`: every entry stored (no compression), files followed by a data
/// descriptor (sizes and CRC are known only after the data), an Info-ZIP extended timestamp
/// with the modification time, Unix mode bits in the external attributes, the UTF-8 flag when
/// a name needs it, and ZIP64 records once a size or an offset reaches 4 GiB.
///
/// Only the central directory (a few dozen bytes per entry) is kept in memory.
final class ZipArchive: ArchiveWriter {
    private struct Entry {
        var name: [UInt8]
        var flags: UInt16
        var readerVersion: UInt16 = 20
        var modifiedTime: UInt16 = 0
        var modifiedDate: UInt16 = 0
        var crc: UInt32 = 0
        var size: UInt64 = 0
        var externalAttributes: UInt32
        var extra: [UInt8] = []
        var offset: UInt64
        var isDirectory: Bool

        var isZip64: Bool { size >= UInt64(UInt32.max) }
    }

    private let out: CountingSink
    private var entries: [Entry] = []
    private var crc = CRC32()
    private var written: UInt64 = 0

    init(_ sink: any ByteSink) { out = CountingSink(sink) }

    static let creatorVersion: UInt16 = 3 << 8 | 20  // Unix, zip 2.0

    func begin(_ node: Node, name: [UInt8]) throws {
        let isDirectory = node.type == .dir
        let fullName = isDirectory ? name + [UInt8(ascii: "/")] : name
        var e = Entry(
            name: fullName, flags: isDirectory ? 0 : 0x8, externalAttributes: Self.externalAttributes(goMode: node.mode),
            offset: out.count, isDirectory: isDirectory)
        if Self.requiresUTF8Flag(fullName) { e.flags |= 0x800 }
        let t = node.mtime
        if !(t.seconds == TarHeader.goZeroTimeSeconds && t.nanoseconds == 0) {
            let c = t.civil
            e.modifiedDate = UInt16(truncatingIfNeeded: c.day + c.month << 5 + (Int(c.year) - 1980) << 9)
            e.modifiedTime = UInt16(truncatingIfNeeded: c.second / 2 + c.minute << 5 + c.hour << 11)
            var extra = Writer()
            extra.u16(0x5455)  // extended timestamp
            extra.u16(5)
            extra.u8(1)  // modification time only
            extra.u32(UInt32(truncatingIfNeeded: t.seconds))
            e.extra = extra.bytes
        }
        var h = Writer()
        h.u32(0x0403_4b50)
        h.u16(e.readerVersion)
        h.u16(e.flags)
        h.u16(0)  // stored
        h.u16(e.modifiedTime)
        h.u16(e.modifiedDate)
        h.u32(0)  // CRC and sizes follow in the data descriptor
        h.u32(0)
        h.u32(0)
        h.u16(UInt16(truncatingIfNeeded: e.name.count))
        h.u16(UInt16(truncatingIfNeeded: e.extra.count))
        guard e.name.count <= 0xFFFF else { throw ArchiveError("zip: name too long: \(String(decoding: name, as: UTF8.self))") }
        try out.write(h.bytes + e.name + e.extra)
        entries.append(e)
        crc = CRC32()
        written = 0
        if node.type == .symlink { try node.linkTarget.withUnsafeBytes { try write($0) } }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let last = entries.last, !last.isDirectory else {
            if bytes.isEmpty { return }
            throw ArchiveError("zip: write to directory")
        }
        crc.update(bytes)
        written += UInt64(bytes.count)
        try out.write(bytes)
    }

    func end() throws {
        guard var e = entries.popLast() else { return }
        defer { entries.append(e) }
        if e.isDirectory { return }
        e.crc = crc.value
        e.size = written
        var d = Writer()
        d.u32(0x0807_4b50)
        d.u32(e.crc)
        if e.isZip64 {
            e.readerVersion = 45
            d.u64(e.size)
            d.u64(e.size)
        } else {
            d.u32(UInt32(e.size))
            d.u32(UInt32(e.size))
        }
        try out.write(d.bytes)
    }

    func finish() throws {
        let start = out.count
        for var e in entries {
            var c = Writer()
            c.u32(0x0201_4b50)
            c.u16(Self.creatorVersion)
            c.u16(e.readerVersion)
            c.u16(e.flags)
            c.u16(0)
            c.u16(e.modifiedTime)
            c.u16(e.modifiedDate)
            c.u32(e.crc)
            if e.isZip64 || e.offset >= UInt64(UInt32.max) {
                c.u32(UInt32.max)
                c.u32(UInt32.max)
                var z = Writer()
                z.u16(0x0001)
                z.u16(24)
                z.u64(e.size)
                z.u64(e.size)
                z.u64(e.offset)
                e.extra += z.bytes
            } else {
                c.u32(UInt32(e.size))
                c.u32(UInt32(e.size))
            }
            c.u16(UInt16(truncatingIfNeeded: e.name.count))
            c.u16(UInt16(truncatingIfNeeded: e.extra.count))
            c.u16(0)  // comment
            c.u16(0)  // disk number
            c.u16(0)  // internal attributes
            c.u32(e.externalAttributes)
            c.u32(e.offset > UInt64(UInt32.max) ? UInt32.max : UInt32(e.offset))
            try out.write(c.bytes + e.name + e.extra)
        }
        let end = out.count
        var records = UInt64(entries.count)
        var size = end - start
        var offset = start
        var w = Writer()
        if records >= 0xFFFF || size >= UInt64(UInt32.max) || offset >= UInt64(UInt32.max) {
            w.u32(0x0606_4b50)  // zip64 end of central directory
            w.u64(56 - 12)
            w.u16(45)
            w.u16(45)
            w.u32(0)
            w.u32(0)
            w.u64(records)
            w.u64(records)
            w.u64(size)
            w.u64(offset)
            w.u32(0x0706_4b50)  // its locator
            w.u32(0)
            w.u64(end)
            w.u32(1)
            records = 0xFFFF
            size = UInt64(UInt32.max)
            offset = UInt64(UInt32.max)
        }
        w.u32(0x0605_4b50)
        w.u16(0)
        w.u16(0)
        w.u16(UInt16(truncatingIfNeeded: records))
        w.u16(UInt16(truncatingIfNeeded: records))
        w.u32(UInt32(truncatingIfNeeded: size))
        w.u32(UInt32(truncatingIfNeeded: offset))
        w.u16(0)
        try out.write(w.bytes)
    }

    // MARK: Fields

    /// Go's `FileHeader.SetMode`: Unix type and permission bits in the high half, the MS-DOS
    /// directory and read-only bits in the low one.
    static func externalAttributes(goMode mode: UInt32) -> UInt32 {
        let typeBits =
            GoFileMode.dir | GoFileMode.symlink | GoFileMode.namedPipe | GoFileMode.socket | GoFileMode.device
            | GoFileMode.charDevice | GoFileMode.irregular
        var unix: UInt32
        switch mode & typeBits {
        case GoFileMode.dir: unix = 0o040000
        case GoFileMode.symlink: unix = 0o120000
        case GoFileMode.namedPipe: unix = 0o010000
        case GoFileMode.socket: unix = 0o140000
        case GoFileMode.device: unix = 0o060000
        case GoFileMode.device | GoFileMode.charDevice: unix = 0o020000
        default: unix = 0o100000
        }
        unix |= GoFileMode.posixPermissions(mode)
        var attributes = unix << 16
        if mode & GoFileMode.dir != 0 { attributes |= 0x10 }
        if mode & 0o200 == 0 { attributes |= 0x01 }
        return attributes
    }

    /// Go's rule: set the UTF-8 flag only for valid UTF-8 that needs it (anything outside
    /// 0x20…0x7d, or a backslash).
    static func requiresUTF8Flag(_ name: [UInt8]) -> Bool {
        var require = false
        var rest = name[...]
        while !rest.isEmpty {
            let (r, width) = GoFilepath.decodeRune(rest)
            rest = rest.dropFirst(width)
            if r < 0x20 || r > 0x7d || r == 0x5c {
                if r == GoFilepath.runeError && width == 1 { return false }
                require = true
            }
        }
        return require
    }

    /// Little-endian field writer.
    private struct Writer {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { bytes.append(v) }
        mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    }
}
