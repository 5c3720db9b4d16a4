import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteSync

/// Progress for backups: a status line on a terminal (files and bytes done, rate, percent, ETA)
/// at most four times a second, or restic's `{"message_type":"status",…}` lines with --json.
/// Silent with --quiet, and in text mode when stderr is not a terminal.
final class BackupProgress: Sendable {
    private struct State {
        var last = Date.distantPast
        var shown = false
        var totals: BackupScanner.Totals? = nil
        var scanDone = false
    }

    let json: Bool
    let enabled: Bool
    private let state = Mutex(State())
    private let start = Date()
    private let scanTask = Mutex<Task<Void, Never>?>(nil)

    init(json: Bool, enabled: Bool) {
        self.json = json
        self.enabled = enabled && (json || Console.stderrIsTerminal)
    }

    /// Starts counting the targets in the background, for percent and ETA.
    func startScan(paths: [String], workingDirectory: String, filter: SelectionFilter?) {
        guard enabled else { return }
        let task = Task.detached(priority: .low) { [self] in
            await BackupScanner.scan(paths: paths, workingDirectory: workingDirectory, filter: filter) { totals, done in
                self.state.withLock { s in
                    s.totals = totals
                    s.scanDone = done
                }
            }
        }
        scanTask.withLock { $0 = task }
    }

    func update(_ p: Backup.Progress) {
        guard enabled else { return }
        let now = Date()
        let due = state.withLock { s -> (BackupScanner.Totals?, Bool)? in
            guard now.timeIntervalSince(s.last) >= 0.25 else { return nil }
            s.last = now
            s.shown = true
            return (s.totals, s.scanDone)
        }
        guard let (totals, scanDone) = due else { return }
        let elapsed = now.timeIntervalSince(start)
        let fraction: Double? = totals.flatMap { t in
            guard scanDone, t.bytes + t.files > 0 else { return nil }
            return min(1, Double(p.bytes + p.files) / Double(t.bytes + t.files))
        }
        let remaining: Double? = fraction.flatMap { f in f > 0.01 ? elapsed / f - elapsed : nil }
        if json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "status")
            w.field("seconds_elapsed", Int(elapsed))
            if let remaining { w.field("seconds_remaining", Int(remaining)) }
            w.key("percent_done"); w.raw(Array(String(format: "%.6f", fraction ?? 0).utf8))
            if let totals {
                w.field("total_files", totals.files)
                w.field("total_bytes", totals.bytes)
            }
            w.field("files_done", p.files)
            w.field("bytes_done", p.bytes)
            w.field("error_count", p.errors)
            if !p.currentFile.isEmpty {
                w.key("current_files")
                w.stringArray([p.currentFile])
            }
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else {
            let rate = elapsed > 0 ? Double(p.bytesRead) / elapsed : 0
            var line = "[\(Console.duration(elapsed))]"
            if let fraction { line += String(format: " %.2f%%", fraction * 100) }
            line += " \(p.files) files \(Console.bytes(p.bytes))"
            if let totals, scanDone { line += ", total \(totals.files) files \(Console.bytes(totals.bytes))" }
            line += ", \(Console.bytes(Int(rate)))/s"
            if let remaining { line += " ETA \(Console.duration(remaining))" }
            if p.errors > 0 { line += ", \(p.errors) errors" }
            // The current file, shortened from the left to fit a terminal line.
            let room = 110 - line.count
            if room > 12 && !p.currentFile.isEmpty {
                let name = p.currentFile.count > room ? "…" + p.currentFile.suffix(room - 1) : p.currentFile
                line += " " + name
            }
            FileHandle.standardError.write(Data(("\r\u{1b}[2K" + line).utf8))
        }
    }

    /// restic's `{"message_type":"error",…}` line for an item that could not be read.
    func error(_ message: String) {
        Console.error(JSONOutput.errorLine(message, during: "archival", item: ""))
    }

    func finish() {
        scanTask.withLock { $0?.cancel() }
        if !json && state.withLock({ $0.shown }) { FileHandle.standardError.write(Data("\r\u{1b}[2K".utf8)) }
    }
}

/// The summary a backup prints at the end.
enum BackupOutput {
    static func jsonSummary(_ r: Backup.Report, elapsed: Double, dryRun: Bool) -> String {
        let s = r.summary
        var w = GoJSONWriter()
        w.beginObject()
        w.field("message_type", "summary")
        if dryRun { w.key("dry_run"); w.bool(true) }
        w.field("files_new", s.filesNew)
        w.field("files_changed", s.filesChanged)
        w.field("files_unmodified", s.filesUnmodified)
        w.field("dirs_new", s.dirsNew)
        w.field("dirs_changed", s.dirsChanged)
        w.field("dirs_unmodified", s.dirsUnmodified)
        w.field("data_blobs", s.dataBlobs)
        w.field("tree_blobs", s.treeBlobs)
        w.field("data_added", s.dataAdded)
        w.field("data_added_packed", s.dataAddedPacked)
        w.field("total_files_processed", s.totalFilesProcessed)
        w.field("total_bytes_processed", s.totalBytesProcessed)
        w.key("total_duration"); w.raw(Array(String(format: "%.9f", elapsed).utf8))
        w.field("backup_start", s.backupStart)
        w.field("backup_end", s.backupEnd)
        if let id = r.snapshotID { w.field("snapshot_id", id.hex) }
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    static func textSummary(_ r: Backup.Report, elapsed: Double, dryRun: Bool) -> String {
        let s = r.summary
        func pad(_ n: UInt64) -> String { String(repeating: " ", count: max(0, 5 - String(n).count)) + String(n) }
        var text = r.parent.map { "using parent snapshot \($0.shortHex)\n" } ?? "no parent snapshot found, will read all files\n"
        text += """

            Files:       \(pad(s.filesNew)) new, \(pad(s.filesChanged)) changed, \(pad(s.filesUnmodified)) unmodified
            Dirs:        \(pad(s.dirsNew)) new, \(pad(s.dirsChanged)) changed, \(pad(s.dirsUnmodified)) unmodified
            \(dryRun ? "Would add" : "Added") to the repository: \(Console.bytes(Int(s.dataAdded))) (\(Console.bytes(Int(s.dataAddedPacked))) stored)

            processed \(s.totalFilesProcessed) files, \(Console.bytes(Int(s.totalBytesProcessed))) in \(Console.duration(elapsed))
            """
        if let id = r.snapshotID { text += "\nsnapshot \(id.shortHex) saved" }
        return text
    }
}
