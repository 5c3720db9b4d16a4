public import Foundation

/// The orchestrator's state as Prometheus metrics (text exposition format 0.0.4), for a
/// pushgateway, node_exporter's textfile collector or the daemon's `/metrics`.
///
/// The guide's metrics, under their exact names: `backup_success{mode="<job>"}` (and `mode="all"`
/// for the latest run of every job), `backup_total_size_bytes` and `backup_timestamp`. Then the
/// `offsite_*` metrics, labelled by `operation` and `target` (the job, or for prune and check the
/// repository). The label is not called `job`: a pushgateway overwrites `job` with its grouping
/// key and Prometheus renames it `exported_job` when scraping node_exporter. Every metric is a
/// gauge; timestamps are unix seconds at the end of the run. Messages are never emitted. A run
/// interrupted by a shutdown is not reported: the metrics keep the last run that finished
/// (`RunState.finished`), so restarting the daemon mid-backup raises no BackupFailed alert.
public enum MetricsRenderer {
    /// The whole exposition for `state`; `now` is reported as `offsite_metrics_timestamp_seconds`.
    /// Families and samples come in a fixed order, so equal states render equal text.
    public static func render(_ state: RunState, now: Date) -> String {
        families(state, now: now).filter { !$0.samples.isEmpty }.map { $0.text }.joined()
    }

    struct Family {
        var name: String
        var help: String
        var samples: [(labels: [(String, String)], value: String)] = []

        init(_ name: String, _ help: String) {
            self.name = name
            self.help = help
        }

        mutating func add(_ labels: [(String, String)], _ value: String) { samples.append((labels, value)) }

        var text: String {
            var s = "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) gauge\n"
            for sample in samples {
                s += name
                if !sample.labels.isEmpty {
                    s += "{" + sample.labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
                }
                s += " \(sample.value)\n"
            }
            return s
        }
    }

    static func families(_ state: RunState, now: Date) -> [Family] {
        let order = Dictionary(uniqueKeysWithValues: Operation.allCases.enumerated().map { ($1, $0) })
        let sorted: ([RunRecord]) -> [RunRecord] = {
            $0.sorted { (order[$0.operation]!, $0.job) < (order[$1.operation]!, $1.job) }
        }
        let latest = sorted(Array(state.finished.values))
        let successes = sorted(Array(state.lastSuccessful.values))
        let backups = latest.filter { $0.operation == .backup }
        let successfulBackups = successes.filter { $0.operation == .backup }

        var success = Family(
            "backup_success",
            "Whether the latest finished backup succeeded (1) or failed (0), one stopped by a shutdown not counted: per job (mode), and mode=\"all\" for the latest run of every job."
        )
        if let all = state.lastAll { success.add([("mode", "all")], bool(all.success)) }
        for r in backups where !(state.lastAll != nil && r.job == "all") { success.add([("mode", r.job)], bool(r.success)) }

        var totalSize = Family(
            "backup_total_size_bytes", "Bytes read by the latest successful backup of each job, summed: the size of what is backed up.")
        let sizes = successfulBackups.compactMap(\.bytesProcessed)
        if !sizes.isEmpty { totalSize.add([], String(sizes.reduce(0, +))) }

        var timestamp = Family("backup_timestamp", "When the latest successful backup (of any job) ended, in unix seconds.")
        if let last = successfulBackups.map(end).max() { timestamp.add([], seconds(last)) }

        var lastSuccess = Family(
            "offsite_last_success", "Whether the latest run of the operation on the target (job or repository) succeeded (1) or failed (0)."
        )
        var lastRun = Family(
            "offsite_last_run_timestamp_seconds", "When the latest run of the operation on the target ended, in unix seconds.")
        var lastSuccessTime = Family(
            "offsite_last_success_timestamp_seconds",
            "When the latest successful run of the operation on the target ended, in unix seconds.")
        var duration = Family("offsite_last_duration_seconds", "How long the latest run of the operation on the target took, in seconds.")
        for r in latest {
            let labels = [("operation", r.operation.rawValue), ("target", r.job)]
            lastSuccess.add(labels, bool(r.success))
            lastRun.add(labels, seconds(end(r)))
            duration.add(labels, double(r.duration))
        }
        for r in successes {
            lastSuccessTime.add([("operation", r.operation.rawValue), ("target", r.job)], seconds(end(r)))
        }

        var added = Family("offsite_backup_bytes_added", "Bytes the latest successful backup of the job added to the repository.")
        var processed = Family("offsite_backup_bytes_processed", "Bytes the latest successful backup of the job read.")
        var filesNew = Family("offsite_backup_files_new", "Files new in the latest successful backup of the job.")
        var filesChanged = Family("offsite_backup_files_changed", "Files changed in the latest successful backup of the job.")
        for r in successfulBackups {
            let labels = [("target", r.job)]
            if let v = r.bytesAdded { added.add(labels, String(v)) }
            if let v = r.bytesProcessed { processed.add(labels, String(v)) }
            if let v = r.filesNew { filesNew.add(labels, String(v)) }
            if let v = r.filesChanged { filesChanged.add(labels, String(v)) }
        }

        var snapshots = Family("offsite_snapshots", "Snapshots of the job in the repository after its latest forget.")
        for r in latest where r.operation == .forget {
            if let count = r.snapshotCount ?? state.lastSuccessful[r.key]?.snapshotCount {
                snapshots.add([("target", r.job)], String(count))
            }
        }

        var repositorySize = Family(
            "offsite_repository_size_bytes", "Bytes of pack files in the repository, as of its latest prune or check that measured them.")
        var sizeByRepository: [String: RunRecord] = [:]
        for r in latest + successes where r.operation == .prune || r.operation == .check {
            guard r.repositorySize != nil else { continue }
            if let known = sizeByRepository[r.job], end(known) >= end(r) { continue }
            sizeByRepository[r.job] = r
        }
        for (repository, r) in sizeByRepository.sorted(by: { $0.key < $1.key }) {
            repositorySize.add([("repository", repository)], String(r.repositorySize!))
        }

        var rendered = Family(
            "offsite_metrics_timestamp_seconds", "When the orchestrator rendered these metrics, in unix seconds.")
        rendered.add([], seconds(now))

        return [
            success, totalSize, timestamp, lastSuccess, lastRun, lastSuccessTime, duration, added, processed, filesNew,
            filesChanged, snapshots, repositorySize, rendered,
        ]
    }

    static func end(_ r: RunRecord) -> Date { r.started.addingTimeInterval(r.duration) }

    static func bool(_ b: Bool) -> String { b ? "1" : "0" }

    /// Whole unix seconds, as the guide writes `backup_timestamp`.
    static func seconds(_ date: Date) -> String { String(Int64(date.timeIntervalSince1970.rounded(.down))) }

    static func double(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// A label value: backslash, double quote and line feed escaped (format 0.0.4).
    static func escapeLabel(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
