import Foundation
import OffsiteFormat

/// JSON output in the shapes restic prints.
enum JSONOutput {
    /// Re-indents compact JSON the way Go's `json.MarshalIndent(v, "", "  ")` lays it out.
    static func indent(_ compact: Data) -> String {
        var out: [UInt8] = []
        var level = 0
        var inString = false
        var escaped = false
        let bytes = Array(compact)
        var i = 0
        func newline() {
            out.append(0x0A)
            out += [UInt8](repeating: 0x20, count: 2 * level)
        }
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                out.append(c)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close: UInt8 = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                out.append(c)
                if i < bytes.count && bytes[i] == close {
                    out.append(close)
                    i += 1
                    continue
                }
                level += 1
                newline()
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                level -= 1
                newline()
                out.append(c)
            case UInt8(ascii: ","):
                out.append(c)
                newline()
            case UInt8(ascii: ":"):
                out += [c, 0x20]
            case 0x20, 0x0A, 0x0D, 0x09:
                continue
            default:
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A snapshot as `snapshots --json` prints it: its fields plus `id` and `short_id`.
    /// restic's `{"message_type":"error","error":{"message":…},"during":…}` line; backup's
    /// lines also carry an `item`.
    static func errorLine(_ message: String, during: String, item: String? = nil) -> String {
        var w = GoJSONWriter()
        w.beginObject()
        w.field("message_type", "error")
        w.key("error")
        w.beginObject()
        w.field("message", message)
        w.endObject()
        w.field("during", during)
        if let item { w.field("item", item) }
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    static func snapshot(_ s: Snapshot, id: ID, extra: [(String, String)] = [], writer: inout GoJSONWriter) {
        writer.beginObject()
        s.writeFields(to: &writer)
        writer.field("id", id.hex)
        writer.field("short_id", id.shortHex)
        for (k, v) in extra { writer.field(k, v) }
        writer.endObject()
    }
}
