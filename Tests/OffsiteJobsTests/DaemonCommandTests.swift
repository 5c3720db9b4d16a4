import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `offsite daemon` as an operator starts it: the guide's .env with a seconds-level schedule, the
/// executable itself, HTTP on a real port, SIGTERM to stop it.
@Suite(.serialized) struct DaemonCommandTests {
    @Test func daemonRunsScheduledJobsServesMetricsAndStopsOnSIGTERM() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(
                root: root, extraEnv: "BACKUP_SCHEDULE=@every 3s\nBACKUP_JOBS=redis,volumes\nPRUNE_SCHEDULE=off\nCHECK_SCHEDULE=off")
            defer { deployment.stop() }
            let daemon = try await DaemonProcess(
                envFile: deployment.envFile, listen: true, arguments: ["--log-file", root + "/daemon.log"], output: root + "/stdout.log")
            let port = try #require(daemon.port)

            // Two scheduled runs of both jobs, each with its retention applied (generous: the suite
            // shares two cores). Waiting for the backups alone let SIGTERM cancel the second
            // run's forget under AddressSanitizer, leaving two snapshots.
            let twoRuns = await eventually(timeout: .seconds(120)) {
                ["volumes", "redis"].allSatisfy { daemon.count("\($0): retention applied") >= 2 }
            }
            #expect(twoRuns, "\(daemon.output)")

            let health = try LoopbackHTTP.request(port: port, path: "/healthz")
            #expect(health.status == 200)
            let metrics = try LoopbackHTTP.request(port: port, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("backup_success{mode=\"all\"} 1"), "\(metrics.text.prefix(2000))")
            #expect(metrics.text.contains("offsite_last_success{operation=\"backup\",target=\"redis\"} 1"))

            let stopped = await daemon.stop()
            let stdout = daemon.output
            #expect(stopped.stoppedInTime, "the daemon did not stop within 120 s of SIGTERM")
            #expect(stopped.status == 0, "\(stdout)")
            #expect(stdout.contains("daemon: stopped"))
            // Every event line carries a timestamp, and the log file has the same lines.
            let lines = stdout.split(separator: "\n").filter { !$0.hasPrefix("signal interrupt") }
            let untimed = lines.filter { $0.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"#, options: .regularExpression) == nil }
            #expect(untimed.isEmpty, "\(untimed)")
            let logFile = (try? String(contentsOfFile: root + "/daemon.log", encoding: .utf8)) ?? ""
            #expect(logFile.contains("volumes: backup completed"))

            let locks = (try? FileManager.default.contentsOfDirectory(atPath: deployment.repository + "/locks")) ?? []
            #expect(locks.isEmpty, "locks left: \(locks)")
            let snapshots = try await deployment.snapshots()
            // Retention ran after each backup: keep-daily keeps the day's latest snapshot only.
            #expect(snapshots.filter { $0.tags.contains("volumes") }.count == 1)
            #expect(snapshots.filter { $0.tags.contains("redis") }.count == 1)
            _ = try await deployment.restic(["check"])

            let status = try await deployment.offsite(["status", "--env-file", deployment.envFile])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdoutString.contains("redis") && status.stdoutString.contains("volumes"), "\(status.stdoutString)")
            deployment.expectNoSecrets(stdout + logFile + metrics.text + status.stdoutString)
        }
    }
}
