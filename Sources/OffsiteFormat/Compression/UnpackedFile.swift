public import Foundation

/// The plaintext of snapshot, index and lock files (docs/FORMAT.md §5.2).
///
/// v1: the JSON itself. v2: `0x02 ‖ zstd(json)` when written; when read, a first byte of `{`
/// or `[` means raw JSON (upgraded repositories), `0x02` means zstd, anything else is an error.
/// Never used for `config` or key files.
public enum UnpackedFile {
    public static func encode(json: Data, repositoryVersion: Int) -> Data {
        guard repositoryVersion >= 2 else { return json }
        var out = Data([2])
        out.append(Zstd.compress(json, level: Zstd.Level.auto.zstdLevel))
        return out
    }

    public static func decode(_ plaintext: Data, repositoryVersion: Int) throws -> Data {
        guard repositoryVersion >= 2, let first = plaintext.first else { return plaintext }
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            return plaintext
        case 2:
            return try Zstd.decompressStream(plaintext.dropFirst())
        default:
            throw FormatError(.unsupported, "not supported encoding format (first byte 0x\(String(first, radix: 16)))")
        }
    }
}
