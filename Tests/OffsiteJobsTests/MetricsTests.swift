import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteJobs

@Suite struct MetricsTests {
    static let t0 = Date(timeIntervalSince1970: 1_705_428_600)
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Every operation; redis's latest backup failed after an earlier success, the latest check
    /// failed after an earlier one measured the repository, and one job's name needs escaping.
    static func sampleState() -> RunState {
        var s = RunState()
        func at(_ offset: Double) -> Date { t0.addingTimeInterval(offset) }
        s.record(
            RunRecord(
                operation: .backup, job: "postgres", success: true, message: "completed", started: at(-100), duration: 100,
                snapshotID: "a1b2c3d4", bytesAdded: 1_000, bytesProcessed: 10_737_418_240, filesNew: 1, filesChanged: 0))
        s.record(
            RunRecord(
                operation: .backup, job: "redis", success: true, message: "completed", started: at(-3_600), duration: 10,
                bytesAdded: 10, bytesProcessed: 2_048, filesNew: 0, filesChanged: 1))
        s.record(
            RunRecord(
                operation: .backup, job: "redis", success: false, message: "redis: \"connection refused\"", started: at(60),
                duration: 5.25))
        s.record(
            RunRecord(
                operation: .backup, job: "we\"ird\\job\nx", success: true, message: "completed", started: at(-7_200),
                duration: 1, bytesProcessed: 1))
        s.lastAll = RunRecord(
            operation: .backup, job: "all", success: false, message: "1 of 3 jobs failed", started: at(-100), duration: 165.25)
        s.record(
            RunRecord(
                operation: .forget, job: "postgres", success: true, message: "completed", started: at(200), duration: 2, snapshotCount: 54))
        s.record(
            RunRecord(
                operation: .check, job: "default", success: true, message: "completed", started: at(-86_400), duration: 60,
                repositorySize: 4_900_000))
        s.record(
            RunRecord(
                operation: .prune, job: "default", success: true, message: "completed", started: at(1_000), duration: 12.5,
                repositorySize: 5_000_000))
        s.record(
            RunRecord(operation: .check, job: "default", success: false, message: "pack 0123: damaged", started: at(2_000), duration: 3))
        s.record(
            RunRecord(
                operation: .drill, job: "postgres", success: true, message: "completed", started: at(3_000), duration: 40,
                snapshotID: "a1b2c3d4"))
        return s
    }

    static let sampleText = #"""
        # HELP backup_success Whether the latest finished backup succeeded (1) or failed (0), one stopped by a shutdown not counted: per job (mode), and mode="all" for the latest run of every job.
        # TYPE backup_success gauge
        backup_success{mode="all"} 0
        backup_success{mode="postgres"} 1
        backup_success{mode="redis"} 0
        backup_success{mode="we\"ird\\job\nx"} 1
        # HELP backup_total_size_bytes Bytes read by the latest successful backup of each job, summed: the size of what is backed up.
        # TYPE backup_total_size_bytes gauge
        backup_total_size_bytes 10737420289
        # HELP backup_timestamp When the latest successful backup (of any job) ended, in unix seconds.
        # TYPE backup_timestamp gauge
        backup_timestamp 1705428600
        # HELP offsite_last_success Whether the latest run of the operation on the target (job or repository) succeeded (1) or failed (0).
        # TYPE offsite_last_success gauge
        offsite_last_success{operation="backup",target="postgres"} 1
        offsite_last_success{operation="backup",target="redis"} 0
        offsite_last_success{operation="backup",target="we\"ird\\job\nx"} 1
        offsite_last_success{operation="forget",target="postgres"} 1
        offsite_last_success{operation="prune",target="default"} 1
        offsite_last_success{operation="check",target="default"} 0
        offsite_last_success{operation="drill",target="postgres"} 1
        # HELP offsite_last_run_timestamp_seconds When the latest run of the operation on the target ended, in unix seconds.
        # TYPE offsite_last_run_timestamp_seconds gauge
        offsite_last_run_timestamp_seconds{operation="backup",target="postgres"} 1705428600
        offsite_last_run_timestamp_seconds{operation="backup",target="redis"} 1705428665
        offsite_last_run_timestamp_seconds{operation="backup",target="we\"ird\\job\nx"} 1705421401
        offsite_last_run_timestamp_seconds{operation="forget",target="postgres"} 1705428802
        offsite_last_run_timestamp_seconds{operation="prune",target="default"} 1705429612
        offsite_last_run_timestamp_seconds{operation="check",target="default"} 1705430603
        offsite_last_run_timestamp_seconds{operation="drill",target="postgres"} 1705431640
        # HELP offsite_last_success_timestamp_seconds When the latest successful run of the operation on the target ended, in unix seconds.
        # TYPE offsite_last_success_timestamp_seconds gauge
        offsite_last_success_timestamp_seconds{operation="backup",target="postgres"} 1705428600
        offsite_last_success_timestamp_seconds{operation="backup",target="redis"} 1705425010
        offsite_last_success_timestamp_seconds{operation="backup",target="we\"ird\\job\nx"} 1705421401
        offsite_last_success_timestamp_seconds{operation="forget",target="postgres"} 1705428802
        offsite_last_success_timestamp_seconds{operation="prune",target="default"} 1705429612
        offsite_last_success_timestamp_seconds{operation="check",target="default"} 1705342260
        offsite_last_success_timestamp_seconds{operation="drill",target="postgres"} 1705431640
        # HELP offsite_last_duration_seconds How long the latest run of the operation on the target took, in seconds.
        # TYPE offsite_last_duration_seconds gauge
        offsite_last_duration_seconds{operation="backup",target="postgres"} 100
        offsite_last_duration_seconds{operation="backup",target="redis"} 5.25
        offsite_last_duration_seconds{operation="backup",target="we\"ird\\job\nx"} 1
        offsite_last_duration_seconds{operation="forget",target="postgres"} 2
        offsite_last_duration_seconds{operation="prune",target="default"} 12.5
        offsite_last_duration_seconds{operation="check",target="default"} 3
        offsite_last_duration_seconds{operation="drill",target="postgres"} 40
        # HELP offsite_backup_bytes_added Bytes the latest successful backup of the job added to the repository.
        # TYPE offsite_backup_bytes_added gauge
        offsite_backup_bytes_added{target="postgres"} 1000
        offsite_backup_bytes_added{target="redis"} 10
        # HELP offsite_backup_bytes_processed Bytes the latest successful backup of the job read.
        # TYPE offsite_backup_bytes_processed gauge
        offsite_backup_bytes_processed{target="postgres"} 10737418240
        offsite_backup_bytes_processed{target="redis"} 2048
        offsite_backup_bytes_processed{target="we\"ird\\job\nx"} 1
        # HELP offsite_backup_files_new Files new in the latest successful backup of the job.
        # TYPE offsite_backup_files_new gauge
        offsite_backup_files_new{target="postgres"} 1
        offsite_backup_files_new{target="redis"} 0
        # HELP offsite_backup_files_changed Files changed in the latest successful backup of the job.
        # TYPE offsite_backup_files_changed gauge
        offsite_backup_files_changed{target="postgres"} 0
        offsite_backup_files_changed{target="redis"} 1
        # HELP offsite_snapshots Snapshots of the job in the repository after its latest forget.
        # TYPE offsite_snapshots gauge
        offsite_snapshots{target="postgres"} 54
        # HELP offsite_repository_size_bytes Bytes of pack files in the repository, as of its latest prune or check that measured them.
        # TYPE offsite_repository_size_bytes gauge
        offsite_repository_size_bytes{repository="default"} 5000000
        # HELP offsite_metrics_timestamp_seconds When the orchestrator rendered these metrics, in unix seconds.
        # TYPE offsite_metrics_timestamp_seconds gauge
        offsite_metrics_timestamp_seconds 1705432000

        """#

    @Test func rendersTheSampleStateExactly() {
        let text = MetricsRenderer.render(Self.sampleState(), now: Self.t0.addingTimeInterval(3_400.9))
        #expect(text == Self.sampleText)
    }

    @Test func theGuidesMetricsKeepTheirNames() {
        var s = RunState()
        s.record(
            RunRecord(
                operation: .backup, job: "postgres", success: true, message: "completed", started: Self.t0, duration: 0,
                bytesProcessed: 10_737_418_240))
        s.lastAll = RunRecord(operation: .backup, job: "all", success: true, message: "completed", started: Self.t0, duration: 0)
        let lines = MetricsRenderer.render(s, now: Self.t0).split(separator: "\n")
        #expect(lines.contains("backup_success{mode=\"all\"} 1"))
        #expect(lines.contains("backup_total_size_bytes 10737418240"))
        #expect(lines.contains("backup_timestamp 1705428600"))
    }

    @Test func orderDoesNotDependOnInsertion() {
        var reversed = RunState()
        let sample = Self.sampleState()
        for key in sample.records.keys.sorted().reversed() {
            if let success = sample.lastSuccessful[key] { reversed.record(success) }
            reversed.record(sample.records[key]!)
        }
        reversed.lastAll = sample.lastAll
        #expect(MetricsRenderer.render(reversed, now: Self.t0) == MetricsRenderer.render(sample, now: Self.t0))
    }

    @Test func anEmptyStateOnlyReportsTheRenderingTime() {
        #expect(
            MetricsRenderer.render(RunState(), now: Self.t0) == """
                # HELP offsite_metrics_timestamp_seconds When the orchestrator rendered these metrics, in unix seconds.
                # TYPE offsite_metrics_timestamp_seconds gauge
                offsite_metrics_timestamp_seconds 1705428600

                """)
    }

    @Test func messagesNeverBecomeLabels() {
        let text = MetricsRenderer.render(Self.sampleState(), now: Self.t0)
        #expect(!text.contains("connection refused"))
        #expect(!text.contains("damaged"))
        #expect(!text.contains("a1b2c3d4"))
    }

    /// A daemon stopped by SIGTERM mid-backup records the run as interrupted: `status` shows it,
    /// but the metrics keep the last run that finished, so a planned restart raises no
    /// BackupFailed (`backup_success == 0`) until the next scheduled backup hours later.
    @Test func anInterruptedRunLeavesTheLastFinishedOutcomeInTheMetrics() throws {
        var s = RunState()
        s.record(
            RunRecord(
                operation: .backup, job: "volumes", success: true, message: "completed", started: Self.t0, duration: 10,
                bytesProcessed: 5))
        s.record(
            RunRecord(operation: .check, job: "default", success: false, message: "pack 0123: damaged", started: Self.t0, duration: 3))
        var stopped = RunRecord(
            operation: .backup, job: "volumes", success: false, message: "interrupted, no snapshot saved",
            started: Self.t0.addingTimeInterval(3_600), duration: 2)
        stopped.interrupted = true
        s.record(stopped)
        var stoppedCheck = RunRecord(
            operation: .check, job: "default", success: false, message: "interrupted", started: Self.t0.addingTimeInterval(3_600),
            duration: 1)
        stoppedCheck.interrupted = true
        s.record(stoppedCheck)
        let text = MetricsRenderer.render(s, now: Self.t0.addingTimeInterval(3_700))
        #expect(text.contains("backup_success{mode=\"volumes\"} 1\n"), "\(text)")
        #expect(text.contains("offsite_last_success{operation=\"backup\",target=\"volumes\"} 1\n"))
        #expect(text.contains("offsite_last_run_timestamp_seconds{operation=\"backup\",target=\"volumes\"} 1705428610\n"))
        // A failure before the interruption is still a failure.
        #expect(text.contains("offsite_last_success{operation=\"check\",target=\"default\"} 0\n"))
        // status shows what happened last.
        #expect(s.latest(.backup, "volumes")?.wasInterrupted == true)
        let repo = RepositoryTarget(
            name: "default", location: .url(Secret("/r")), password: .value(Secret("p")), pruneSchedule: nil, checkSchedule: nil,
            checkRotation: 1)
        let job = JobDefinition(
            name: "volumes", kind: .volumes, repository: "default", schedule: try CronSchedule(parsing: "0 */6 * * *"),
            retention: RetentionSettings(daily: 7, weekly: 0, monthly: 0))
        let config = Configuration(repositories: [repo], jobs: [job], host: "h", timeZone: TimeZone(identifier: "UTC")!, environment: [:])
        let row = try #require(StatusReport.rows(configuration: config, state: s, now: Self.t0).first { $0.target == "volumes" })
        #expect(row.result == "interrupted")
        #expect(row.message == "interrupted, no snapshot saved")
        // The first run ever, stopped: no outcome yet, rather than a failure.
        var first = RunState()
        first.record(stopped)
        #expect(!MetricsRenderer.render(first, now: Self.t0).contains("backup_success"))
        // The state round-trips; one written before `finished` existed counts its records as finished.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(RunState.self, from: encoder.encode(s)) == s)
        let old = try #require(
            try JSONSerialization.jsonObject(with: encoder.encode(Self.sampleState())) as? [String: Any])
        let withoutFinished = try JSONSerialization.data(withJSONObject: old.filter { $0.key != "finished" })
        let loaded = try decoder.decode(RunState.self, from: withoutFinished)
        #expect(loaded.finished == Self.sampleState().records)
    }

    @Test func aStateFileWithoutLastSuccessfulStillLoads() throws {
        let json = #"{"records":{},"handledSlots":{},"checkCounter":{"default":3}}"#
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let state = try decoder.decode(RunState.self, from: Data(json.utf8))
        #expect(state.checkCounter == ["default": 3])
        #expect(state.lastSuccessful.isEmpty)
    }

    @Test func promtoolAcceptsTheRenderedMetrics() async throws {
        let r = try await ProcessRunner.run(
            try promtool(), ["check", "metrics"], stdin: Data(MetricsRenderer.render(Self.sampleState(), now: Self.t0).utf8))
        #expect(r.status == 0, "promtool check metrics: \(r.stdoutString) \(r.stderr)")
    }

    @Test func promtoolAcceptsTheAlertRules() async throws {
        let r = try await ProcessRunner.run(
            try promtool(), ["check", "rules", "deploy/prometheus-alerts.yml"], currentDirectory: Self.root)
        #expect(r.status == 0, "promtool check rules: \(r.stdoutString) \(r.stderr)")
        #expect(r.stdoutString.contains("SUCCESS"))
    }

    @Test func theAlertRulesPassTheirUnitTests() async throws {
        let r = try await ProcessRunner.run(
            try promtool(), ["test", "rules", "deploy/prometheus-alerts.test.yml"], currentDirectory: Self.root)
        #expect(r.status == 0, "promtool test rules: \(r.stdoutString) \(r.stderr)")
    }

    @Test func theAlertRulesKeepTheGuidesTwoAlerts() throws {
        let rules = try String(contentsOfFile: Self.root + "/deploy/prometheus-alerts.yml", encoding: .utf8)
        #expect(rules.contains("      - alert: BackupFailed\n        expr: backup_success == 0\n        for: 1h\n"))
        #expect(rules.contains("      - alert: BackupStale\n        expr: (time() - backup_timestamp) > 28800  # 8h\n        for: 1h\n"))
        #expect(rules.contains("summary: \"Restic backup failed\""))
        #expect(rules.contains("summary: \"No backup in last 8 hours\""))
    }

    func promtool() throws -> String {
        guard let path = ProcessRunner.which("promtool") else {
            throw Missing(description: "promtool is not installed: apt-get install prometheus (or run `make deps`)")
        }
        return path
    }

    struct Missing: Error, CustomStringConvertible { var description: String }

    // MARK: Pushgateway

    @Test(arguments: [
        ("offsite", "host1", "job/offsite/instance/host1"),
        ("offsite", "db/1", "job/offsite/instance@base64/ZGIvMQ=="),
        ("off site", "", "job/off%20site/instance@base64/="),
        ("a/b?", "é", "job@base64/YS9iPw==/instance/%C3%A9"),
    ])
    func groupingKey(job: String, instance: String, expected: String) {
        #expect(Pushgateway.groupingKey(job: job, instance: instance) == expected)
    }

    @Test func pushesToARealPushgateway() async throws {
        let server = try await TestServer.pushgateway()
        defer { server.stop() }
        var state = Self.sampleState()
        state.lastAll?.success = true
        let url = URL(string: "http://127.0.0.1:\(server.port)/")!
        try await Pushgateway.push(text: MetricsRenderer.render(state, now: Self.t0), to: url, job: "offsite", instance: "backup/host")
        let lines = try server.metricsText().split(separator: "\n")
        #expect(lines.contains("backup_success{instance=\"backup/host\",job=\"offsite\",mode=\"all\"} 1"), "\(server.output)")
        #expect(lines.contains("backup_success{instance=\"backup/host\",job=\"offsite\",mode=\"redis\"} 0"))
        #expect(lines.contains("offsite_last_success{instance=\"backup/host\",job=\"offsite\",operation=\"check\",target=\"default\"} 0"))

        // A push replaces the whole group.
        try await Pushgateway.push(text: MetricsRenderer.render(RunState(), now: Self.t0), to: url, job: "offsite", instance: "backup/host")
        let after = try server.metricsText()
        #expect(!after.contains("backup_success{"))
        #expect(after.contains("offsite_metrics_timestamp_seconds{instance=\"backup/host\",job=\"offsite\"} 1.7054286e+09"))
    }

    @Test func aRejectedPushIsAnError() async throws {
        let server = try await TestServer.pushgateway()
        defer { server.stop() }
        let error = await #expect(throws: JobsError.self) {
            try await Pushgateway.push(
                text: "backup_success{mode=\"all\" 1\n", to: URL(string: "http://127.0.0.1:\(server.port)")!, job: "offsite", instance: "h")
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("HTTP 400") == true, "\(error?.message ?? "")")
    }

    @Test func anUnreachablePushgatewayIsACleanErrorWithoutCredentials() async throws {
        let port = try TestServer.freePort()
        let error = await #expect(throws: JobsError.self) {
            try await Pushgateway.push(
                text: "backup_success 1\n", to: URL(string: "http://offsite:s3cr%3At@127.0.0.1:\(port)/gw")!, job: "offsite",
                instance: "h")
        }
        // No wall-clock bound: under the parallel suite a finished request can wait minutes for a
        // free thread. "refused" in the message shows it failed on the connection, not a timeout.
        let message = error?.message ?? ""
        #expect(message.hasPrefix("pushgateway http://127.0.0.1:\(port)/gw: "), "\(message)")
        #expect(message.lowercased().contains("refused"), "\(message)")
        #expect(!message.contains("s3cr") && !message.contains("offsite:"), "\(message)")
    }

    @Test func basicAuthenticationComesFromTheURL() async throws {
        // bcrypt of "pa:ss w0rd" (cost 4): the password holds the colon basic authentication splits on.
        let hash = "$2b$04$abcdefghijklmnopqrstuuimOrVHaxF/W5C6.lrvDyLlh4M7AsjvK"
        let dir = NSTemporaryDirectory() + "offsite-pushgateway-auth-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "basic_auth_users:\n  offsite: '\(hash)'\n".write(toFile: dir + "/web.yml", atomically: true, encoding: .utf8)
        let binary = ProcessRunner.which("prometheus-pushgateway") ?? "prometheus-pushgateway"
        let server = try await TestServer(binary, install: "apt-get install prometheus-pushgateway") { port in
            ["--web.listen-address=127.0.0.1:\(port)", "--log.level=warn", "--web.config.file=\(dir)/web.yml"]
        }
        defer { server.stop() }

        try await Pushgateway.push(
            text: "backup_success{mode=\"all\"} 1\n", to: URL(string: "http://offsite:pa%3Ass%20w0rd@127.0.0.1:\(server.port)")!,
            job: "offsite", instance: "h")
        let auth = "Basic " + Data("offsite:pa:ss w0rd".utf8).base64EncodedString()
        let r = try LoopbackHTTP.request(port: server.port, path: "/metrics", headers: ["Authorization": auth])
        #expect(r.text.contains("backup_success{instance=\"h\",job=\"offsite\",mode=\"all\"} 1"))

        let error = await #expect(throws: JobsError.self) {
            try await Pushgateway.push(
                text: "backup_success 1\n", to: URL(string: "http://offsite:wrong-pass@127.0.0.1:\(server.port)")!, job: "offsite",
                instance: "h")
        }
        let message = error?.message ?? ""
        #expect(message.contains("HTTP 401") && message.contains("PROMETHEUS_PUSHGATEWAY"), "\(message)")
        #expect(!message.contains("wrong-pass"), "\(message)")
    }

    // MARK: Textfile

    @Test func writesTheTextfileAtomicallyAndReadable() throws {
        let dir = NSTemporaryDirectory() + "offsite-textfile-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/offsite.prom"
        try TextfileExporter.write(text: "old 1\n", to: path)
        let text = MetricsRenderer.render(Self.sampleState(), now: Self.t0)
        try TextfileExporter.write(text: text, to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["offsite.prom"])

        let error = #expect(throws: JobsError.self) { try TextfileExporter.write(text: text, to: dir + "/missing/offsite.prom") }
        #expect(error?.message.contains("BACKUP_METRICS_TEXTFILE") == true)
    }
}
