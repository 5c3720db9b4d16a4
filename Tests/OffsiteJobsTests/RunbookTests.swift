import Foundation
import OffsiteTesting
import Testing

/// The guide's validation runbook ("Tests Validation", tests 1 to 5, and its monitoring section),
/// replayed with offsite against real PostgreSQL, Redis and a pushgateway on loopback.
@Suite(.serialized) struct RunbookTests {
    @Test func guideRunbook() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, firstRunCreatesRepository: true)
            defer { deployment.stop() }

            // Test 1: `backup.sh all` → one line per job, each completed.
            let run = try await deployment.offsite(["run", "all", "--env-file", deployment.envFile])
            #expect(run.status == 0, "run all: \(run.stdoutString) \(run.stderr)")
            for job in ["postgres", "redis", "volumes"] {
                #expect(run.stdoutString.contains("\(job): backup completed"), "\(job) line missing: \(run.stdoutString)")
            }
            #expect(run.stdoutString.contains("none yet, initialising it"), "the first run creates the repository")

            // Test 2: three snapshots with the guide's tags, as restic lists them.
            let snapshots = try await deployment.snapshots()
            #expect(snapshots.count == 3)
            let tagSets = Set(snapshots.map { Set($0.tags.filter { !$0.hasPrefix("backup-date-") }) })
            #expect(tagSets == [["postgres"], ["redis"], ["volumes", "vault"]])
            #expect(snapshots.allSatisfy { $0.tags.contains { $0.range(of: #"^backup-date-\d{8}$"#, options: .regularExpression) != nil } })

            // Test 3: restore the latest PostgreSQL dump; it loads into a fresh database with the same rows.
            let target = root + "/restore-postgres"
            let restore = try await deployment.offsite(["restore", "latest", "--tag", "postgres", "--target", target])
            #expect(restore.status == 0, "restore: \(restore.stderr)")
            let dump = try String(contentsOfFile: target + "/app.sql", encoding: .utf8)
            #expect(dump.contains("CREATE TABLE public.customers"))
            try await deployment.postgres.createDatabase("restored")
            let load = try await deployment.postgres.run(
                "psql", ["-X", "-v", "ON_ERROR_STOP=1", "-q", "-f", target + "/app.sql"], database: "restored")
            #expect(load.status == 0, "the dump does not load: \(load.stderr)")
            for table in ["customers", "orders"] {
                let original = try await deployment.postgres.psql("SELECT count(*), sum(id) FROM \(table)", database: "app")
                let restored = try await deployment.postgres.psql("SELECT count(*), sum(id) FROM \(table)", database: "restored")
                #expect(original == restored && !original.isEmpty, "\(table): \(original) vs \(restored)")
            }

            // The Redis snapshot is an RDB file; the volumes snapshot restores byte for byte.
            let redisTarget = root + "/restore-redis"
            await #expect(try deployment.offsite(["restore", "latest", "--tag", "redis", "--target", redisTarget]).status == 0)
            let rdb = try Data(contentsOf: URL(fileURLWithPath: redisTarget + "/redis.rdb"))
            #expect(rdb.prefix(5) == Data("REDIS".utf8))
            let volumeTarget = root + "/restore-volumes"
            await #expect(try deployment.offsite(["restore", "latest", "--tag", "vault", "--target", volumeTarget]).status == 0)
            #expect(
                FileManager.default.contentsEqual(
                    atPath: root + "/vault/core/_keyring", andPath: volumeTarget + root + "/vault/core/_keyring"))
            #expect(
                FileManager.default.contentsEqual(
                    atPath: root + "/data/app/uploads/report.txt", andPath: volumeTarget + root + "/data/app/uploads/report.txt"))

            // Test 4: twenty daily snapshots; keep-daily 7 would remove 13.
            for day in 1...20 {
                let time = String(format: "2026-10-%02d 03:00:00", day)
                let r = try await deployment.offsite(["backup", "--tag", "daily-test", "--time", time, "--quiet", root + "/data"])
                #expect(r.status == 0, "backup \(day): \(r.stderr)")
            }
            let forget = try await deployment.offsite([
                "forget", "--tag", "daily-test", "--keep-daily", "7", "--prune", "--dry-run", "--json",
            ])
            #expect(forget.status == 0, "forget: \(forget.stderr)")
            // forget's JSON is the first line; prune's dry-run report follows it.
            let firstLine = forget.stdoutString.split(separator: "\n").first.map(String.init) ?? ""
            let groups = try JSONSerialization.jsonObject(with: Data(firstLine.utf8)) as? [[String: Any]] ?? []
            #expect(groups.count == 1)
            #expect((groups.first?["remove"] as? [Any])?.count == 13)
            #expect((groups.first?["keep"] as? [Any])?.count == 7)

            // Test 5: integrity.
            let check = try await deployment.offsite(["check", "--read-data-subset=10%"])
            #expect(check.status == 0, "check: \(check.stderr)")
            #expect(check.stdoutString.contains("no errors were found"))
            _ = try await deployment.restic(["check", "--read-data"])

            // Monitoring: the pushgateway holds the guide's metrics.
            let metrics = try deployment.pushgateway!.metricsText()
            #expect(metricLine(metrics, "backup_success", containing: #"mode="all""#)?.hasSuffix(" 1") == true, "\(metrics.prefix(3000))")
            #expect(metricLine(metrics, "backup_timestamp", containing: "") != nil, "\(metrics)")
            #expect(metricLine(metrics, "backup_total_size_bytes", containing: "") != nil)

            // status shows each job's last run.
            let status = try await deployment.offsite(["status", "--env-file", deployment.envFile])
            #expect(status.status == 0, "status: \(status.stderr)")
            for job in ["postgres", "redis", "volumes"] { #expect(status.stdoutString.contains(job)) }

            deployment.expectNoSecrets()
            deployment.expectNoSecrets(metrics)
            let state = try String(contentsOfFile: deployment.stateDirectory + "/state.json", encoding: .utf8)
            deployment.expectNoSecrets(state)
            var info = stat()
            #expect(stat(deployment.stateDirectory + "/state.json", &info) == 0 && info.st_mode & 0o077 == 0, "the state file is private")
        }
    }

    /// The first line of metric `name` whose labels contain `fragment`.
    func metricLine(_ text: String, _ name: String, containing fragment: String) -> String? {
        text.split(separator: "\n").map(String.init).first { line in
            (line.hasPrefix(name + "{") || line.hasPrefix(name + " ")) && (fragment.isEmpty || line.contains(fragment))
        }
    }
}
