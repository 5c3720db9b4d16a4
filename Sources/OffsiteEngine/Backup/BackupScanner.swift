/// Counts what a backup will have to look at (files, directories, bytes), to give progress a
/// total and an ETA. Runs beside the backup, like restic's scanner; only stats, never reads.
public enum BackupScanner {
    public struct Totals: Sendable {
        public var files = 0
        public var directories = 0
        public var bytes = 0
    }

    /// Walks `paths` (relative ones against `workingDirectory`), calling `update` with running
    /// totals every 1000 items and once at the end. Stops early when the task is cancelled.
    public static func scan(
        paths: [String], workingDirectory: String,
        filter: SelectionFilter?,
        update: @Sendable (Totals, _ done: Bool) -> Void
    ) async {
        var totals = Totals()
        var seen = 0
        func visit(_ path: FSPath) async {
            if Task.isCancelled { return }
            if let filter, filter.excludedByName(path) { return }
            guard let st = try? FileSystem.lstat(path) else { return }
            if let filter, filter.excludedByStat(path, stat: st) { return }
            seen += 1
            if seen % 1000 == 0 {
                update(totals, false)
                await Task.yield()
            }
            if st.isDirectory {
                totals.directories += 1
                for name in (try? FileSystem.readDirectory(path)) ?? [] { await visit(path.appending(name)) }
            } else {
                totals.files += 1
                if st.isRegular { totals.bytes += Int(st.size) }
            }
        }
        for p in paths {
            await visit(p.hasPrefix("/") ? FSPath(p) : FSPath(workingDirectory).appending(p))
        }
        update(totals, !Task.isCancelled)
    }
}
