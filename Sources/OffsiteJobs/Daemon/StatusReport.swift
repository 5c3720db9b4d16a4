public import Foundation

/// `offsite status`: for each job, its last backup (time, ok or FAILED and why, duration, sizes) and
/// next run; then each repository's prune and check, and each job's drill. A pure function of
/// the configuration, the state and the time, as a table or as JSON.
public enum StatusReport {
    /// One line of the report.
    public struct Row: Sendable, Codable, Equatable {
        public var operation: Operation
        /// The job, `all` (the last run of every job), or the repository for prune and check.
        public var target: String
        /// The schedule expression, nil when it has none (the `all` row of per-job schedules).
        public var schedule: String?
        public var lastRun: Date?
        /// `ok`, `FAILED`, `interrupted` (stopped by a shutdown) or `never run`.
        public var result: String
        /// `completed`, or why it failed.
        public var message: String?
        public var durationSeconds: Double?
        public var bytesProcessed: Int64?
        public var bytesAdded: Int64?
        public var repositorySize: Int64?
        public var snapshotCount: Int?
        public var snapshotID: String?
        /// When the last success was (the same as `lastRun` unless the last run failed).
        public var lastSuccess: Date?
        public var nextRun: Date?
    }

    /// The rows, in order: backups (one per job, then `all`), prune and check per repository, drills.
    public static func rows(configuration: Configuration, state: RunState, now: Date) -> [Row] {
        let zone = configuration.timeZone
        let entries = ScheduleEntry.entries(for: configuration, drills: configuration.drillSchedule != nil)
        func next(_ key: String?) -> Date? {
            guard let key, let entry = entries.first(where: { $0.key == key }) else { return nil }
            return entry.nextRun(after: now, handled: state.handledSlots[key], in: zone)
        }
        func row(_ operation: Operation, _ target: String, schedule: String?, key: String?) -> Row {
            let record = state.latest(operation, target)
            return Row(
                operation: operation, target: target, schedule: schedule, lastRun: record?.started,
                result: record.map { $0.success ? "ok" : $0.wasInterrupted ? "interrupted" : "FAILED" } ?? "never run",
                message: record?.message,
                durationSeconds: record?.duration, bytesProcessed: record?.bytesProcessed, bytesAdded: record?.bytesAdded,
                repositorySize: record?.repositorySize, snapshotCount: record?.snapshotCount, snapshotID: record?.snapshotID,
                lastSuccess: state.lastSuccessful["\(operation.rawValue)/\(target)"]?.started, nextRun: next(key))
        }
        var rows: [Row] = []
        for job in configuration.jobs {
            rows.append(row(.backup, job.name, schedule: job.schedule.expression, key: ScheduleEntry.backupKey(of: job, in: entries)))
        }
        if let all = state.lastAll {
            let grouped = entries.first { $0.key == "backup/all" }
            rows.append(
                Row(
                    operation: .backup, target: "all", schedule: grouped?.schedule.expression, lastRun: all.started,
                    result: all.success ? "ok" : "FAILED", message: all.message, durationSeconds: all.duration,
                    bytesProcessed: all.bytesProcessed, bytesAdded: all.bytesAdded, nextRun: grouped == nil ? nil : next("backup/all")))
        }
        for repository in configuration.repositories {
            if repository.pruneSchedule != nil || state.latest(.prune, repository.name) != nil {
                rows.append(row(.prune, repository.name, schedule: repository.pruneSchedule?.expression, key: "prune/\(repository.name)"))
            }
            if repository.checkSchedule != nil || state.latest(.check, repository.name) != nil {
                rows.append(row(.check, repository.name, schedule: repository.checkSchedule?.expression, key: "check/\(repository.name)"))
            }
        }
        for job in configuration.jobs where configuration.drillSchedule != nil || state.latest(.drill, job.name) != nil {
            rows.append(row(.drill, job.name, schedule: configuration.drillSchedule?.expression, key: "drill/all"))
        }
        return rows
    }

    /// The human-readable table: times in the configuration's time zone, sizes in binary units,
    /// failure reasons under the table.
    public static func text(configuration: Configuration, state: RunState, now: Date) -> String {
        let rows = rows(configuration: configuration, state: state, now: now)
        let zone = configuration.timeZone
        var table = [["OPERATION", "TARGET", "LAST RUN", "RESULT", "DURATION", "SIZE", "NEXT RUN"]]
        var failures: [String] = []
        for r in rows {
            table.append([
                r.operation.rawValue, r.target,
                r.lastRun.map { "\(time($0, zone)) (\(ago($0, now)))" } ?? "-",
                r.result,
                r.durationSeconds.map(duration) ?? "-",
                size(r),
                r.nextRun.map { $0 <= now ? "now (catch-up)" : "\(time($0, zone)) (in \(span($0.timeIntervalSince(now))))" }
                    ?? (r.schedule == nil ? "not scheduled" : "-"),
            ])
            if r.result == "FAILED" {
                var line = "\(r.operation.rawValue) \(r.target): \(r.message ?? "failed")"
                if let success = r.lastSuccess { line += " (last success \(time(success, zone)))" }
                failures.append(line)
            }
        }
        let widths = (0..<table[0].count).map { c in table.map { $0[c].count }.max() ?? 0 }
        var out = table.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
        out += "\n"
        if rows.isEmpty { out += "no jobs configured\n" }
        if !failures.isEmpty { out += "\nFailures:\n" + failures.map { "  " + $0 }.joined(separator: "\n") + "\n" }
        out += "\nTimes in \(zone.identifier); now \(time(now, zone)).\n"
        return out
    }

    /// `{"now": …, "timeZone": …, "rows": [Row]}` with ISO 8601 dates.
    public static func json(configuration: Configuration, state: RunState, now: Date) -> String {
        struct Document: Encodable {
            var now: Date
            var timeZone: String
            var rows: [Row]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let document = Document(
            now: now, timeZone: configuration.timeZone.identifier, rows: rows(configuration: configuration, state: state, now: now))
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func time(_ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1f s", seconds) : span(seconds)
    }

    /// `45s`, `12m`, `3h 5m`, `2d 4h`.
    static func span(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return s % 3600 / 60 == 0 ? "\(s / 3600)h" : "\(s / 3600)h \(s % 3600 / 60)m" }
        return s % 86400 / 3600 == 0 ? "\(s / 86400)d" : "\(s / 86400)d \(s % 86400 / 3600)h"
    }

    static func ago(_ date: Date, _ now: Date) -> String {
        let d = now.timeIntervalSince(date)
        return d >= 0 ? "\(span(d)) ago" : "in \(span(-d))"
    }

    static func size(_ r: Row) -> String {
        var parts: [String] = []
        if let p = r.bytesProcessed { parts.append("\(Orchestrator.bytes(p)) read") }
        if let a = r.bytesAdded { parts.append("\(Orchestrator.bytes(a)) added") }
        if let s = r.repositorySize { parts.append("repository \(Orchestrator.bytes(s))") }
        if let n = r.snapshotCount, r.operation != .backup { parts.append("\(n) snapshots") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }
}
