import OffsiteEngine
import OffsiteFormat

/// restic 0.14's text table (`internal/ui/table`): a header row, a rule of dashes, the rows, a
/// rule and footer lines. Cells may hold several lines; every column is as wide as its widest
/// line (in bytes, as Go's `len`), cells are separated by two spaces and trailing spaces are
/// trimmed from every printed line.
struct ResticTable {
    var headers: [String]
    var rows: [[String]] = []
    var footer: [String] = []
    /// Print a blank line before every row but the first (restic does this for snapshot
    /// tables when a snapshot has several paths).
    var blankLineBetweenRows = false

    init(headers: [String]) { self.headers = headers }

    func render() -> String {
        var widths = [Int](repeating: 0, count: headers.count)
        for (i, h) in headers.enumerated() {
            // restic measures the whole header (not each of its lines): the same for ours.
            for line in h.split(separator: "\n", omittingEmptySubsequences: false) where widths[i] < line.utf8.count {
                widths[i] = h.utf8.count
            }
        }
        for row in rows {
            for (i, cell) in row.enumerated() {
                for line in cell.split(separator: "\n", omittingEmptySubsequences: false) {
                    widths[i] = max(widths[i], line.utf8.count)
                }
            }
        }
        let total = widths.reduce(0, +) + (headers.count - 1) * 2
        let rule = String(repeating: "-", count: total) + "\n"
        var out = Self.lines(headers, widths) + rule
        for (n, row) in rows.enumerated() {
            let text = Self.lines(row, widths)
            out += blankLineBetweenRows && n > 0 ? "\n" + text : text
        }
        out += rule
        for line in footer { out += line + "\n" }
        return out
    }

    /// restic's `printLine`: the cells side by side, as many lines as the tallest cell.
    private static func lines(_ cells: [String], _ widths: [Int]) -> String {
        let split = cells.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        let height = max(1, split.map(\.count).max() ?? 1)
        var out = ""
        for i in 0..<height {
            var s = ""
            for (column, lines) in split.enumerated() {
                var v = i < lines.count ? lines[i] : ""
                let pad = widths[column] - v.utf8.count
                if pad > 0 { v += String(repeating: " ", count: pad) }
                s += column > 0 ? "  " + v : v
            }
            while s.hasSuffix(" ") { s.removeLast() }
            out += s + "\n"
        }
        return out
    }
}

extension ResticTable {
    /// restic 0.14's `PrintSnapshots` (used by `forget`): oldest first (a stable sort, so equal
    /// times keep their order), times in the local zone, tags joined with commas, one path per
    /// line, and a "Reasons" column when `reasons` is given (keyed by snapshot ID).
    static func snapshots(_ list: [(id: ID, snapshot: Snapshot)], reasons: [ID: [String]]? = nil, compact: Bool = false) -> String {
        let sorted = list.enumerated().sorted { a, b in
            a.element.snapshot.time.sameInstant(as: b.element.snapshot.time)
                ? a.offset < b.offset : a.element.snapshot.time < b.element.snapshot.time
        }.map(\.element)
        var table: ResticTable
        if compact {
            table = ResticTable(headers: ["ID", "Time", "Host", "Tags  "])
        } else {
            table = ResticTable(headers: ["ID", "Time", "Host      ", "Tags      "] + (reasons != nil ? ["Reasons"] : []) + ["Paths"])
        }
        for (id, s) in sorted {
            var row = [id.shortHex, s.time.inLocalOffset.displayString, s.hostname]
            if compact {
                row.append(s.tags.joined(separator: "\n"))
            } else {
                row.append(s.tags.joined(separator: ","))
                if let reasons { row.append((reasons[id] ?? []).joined(separator: "\n")) }
                row.append(s.paths.joined(separator: "\n"))
                if s.paths.count > 1 { table.blankLineBetweenRows = true }
            }
            table.rows.append(row)
        }
        table.footer = ["\(list.count) snapshots"]
        return table.render()
    }
}
