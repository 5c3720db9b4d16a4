import Foundation
import OffsiteFormat
import OffsiteTesting
import Testing

/// `offsite drill`: the guide's deployment backed up with `run all`, then each job's latest snapshot
/// restored into scratch resources (a database on the same PostgreSQL server, a throwaway
/// redis-server, a scratch directory) that are gone afterwards.
@Suite(.serialized) struct DrillTests {
    @Test func drillsRestoreEveryJobAndLeaveNothingBehind() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, pushgateway: false)
            defer { deployment.stop() }
            let scratch = root + "/scratch"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)

            let run = try await deployment.offsite(["run", "all", "--env-file", deployment.envFile])
            #expect(run.status == 0, "run all: \(run.stdoutString) \(run.stderr)")

            let drill = try await deployment.offsite(["drill", "all", "--env-file", deployment.envFile, "--scratch-dir", scratch])
            let out = drill.stdoutString
            #expect(drill.status == 0, "drill all: \(out) \(drill.stderr)")
            #expect(out.contains("postgres: drill completed"), "\(out)")
            #expect(out.contains("into a scratch database: 2 tables, 2500 rows"), "\(out)")
            #expect(out.contains("into a throwaway redis-server: 50 keys (live server: 50 keys)"), "\(out)")
            // data/app/config.json, data/app/uploads/report.txt, vault/core/_keyring, vault/logical/secret.bin
            #expect(out.contains("restored and verified snapshot"), "\(out)")
            #expect(out.contains("into a scratch directory: 4 files"), "\(out)")

            // Nothing left: no scratch database, no scratch directory.
            let databases = try await deployment.postgres.psql("SELECT datname FROM pg_database ORDER BY 1")
            #expect(!databases.contains("offsite_drill"), "scratch database left: \(databases)")
            #expect(databases.contains("app"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)

            // JSON records, remembered in the state as the jobs' last drill.
            let json = try await deployment.offsite([
                "drill", "redis", "--env-file", deployment.envFile, "--scratch-dir", scratch, "--json",
            ])
            #expect(json.status == 0, "drill redis --json: \(json.stderr)")
            let records = try JSONSerialization.jsonObject(with: json.stdout) as? [[String: Any]] ?? []
            #expect(records.count == 1)
            #expect(records.first?["operation"] as? String == "drill")
            #expect(records.first?["success"] as? Bool == true)
            #expect((records.first?["snapshotID"] as? String)?.count == 64)
            let state = try String(contentsOfFile: deployment.stateDirectory + "/state.json", encoding: .utf8)
            for job in ["postgres", "redis", "volumes"] {
                // JSONEncoder writes "drill\/postgres".
                #expect(state.contains("\"drill\\/\(job)\"") || state.contains("\"drill/\(job)\""), "state: \(state.prefix(2000))")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)

            deployment.expectNoSecrets()
            deployment.expectNoSecrets(state)
        }
    }

    @Test func failingDrillsSayWhyAndStillClean() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, pushgateway: false)
            defer { deployment.stop() }
            let scratch = root + "/scratch"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            let env = ["--env-file", deployment.envFile, "--scratch-dir", scratch]

            // Only volumes backed up: the redis job has no snapshot yet.
            await #expect(try deployment.offsite(["run", "volumes", "--env-file", deployment.envFile]).status == 0)
            let none = try await deployment.offsite(["drill", "redis"] + env)
            #expect(none.status == 1)
            #expect(none.stdoutString.contains("redis: drill FAILED: no snapshot of redis"), "\(none.stdoutString) \(none.stderr)")
            #expect(none.stderr.contains("1 of 1 drill failed"), "\(none.stderr)")

            // A redis.rdb that is not an RDB does not load.
            let garbage = root + "/garbage"
            try Data(String(repeating: "not an rdb file\n", count: 100).utf8).write(to: URL(fileURLWithPath: garbage))
            try await backUp(garbage, as: "redis.rdb", tag: "redis", in: deployment)
            let bad = try await deployment.offsite(["drill", "redis"] + env)
            #expect(bad.status == 1)
            #expect(bad.stdoutString.contains("redis.rdb does not load"), "\(bad.stdoutString) \(bad.stderr)")

            // A dump that stops on an error fails, and its scratch database is dropped all the same.
            let sql = root + "/broken.sql"
            try "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nTHIS IS NOT SQL;\n".write(
                toFile: sql, atomically: true, encoding: .utf8)
            try await backUp(sql, as: "app.sql", tag: "postgres", in: deployment)
            let load = try await deployment.offsite(["drill", "postgres"] + env)
            #expect(load.status == 1)
            #expect(load.stdoutString.contains("app.sql from snapshot"), "\(load.stdoutString) \(load.stderr)")
            #expect(load.stdoutString.contains("does not load"), "\(load.stdoutString)")
            #expect(load.stdoutString.contains("syntax error"), "psql's reason is reported: \(load.stdoutString)")

            // A dump without tables loads but proves nothing.
            let empty = root + "/empty.sql"
            try "SELECT 1;\n".write(toFile: empty, atomically: true, encoding: .utf8)
            try await backUp(empty, as: "app.sql", tag: "postgres", in: deployment)
            let noTables = try await deployment.offsite(["drill", "postgres"] + env)
            #expect(noTables.status == 1)
            #expect(noTables.stdoutString.contains("loaded but holds no table"), "\(noTables.stdoutString) \(noTables.stderr)")

            // Whole-cluster dumps are not replayed on the live server.
            let cluster = try await deployment.offsite(["drill", "postgres"] + env, environment: ["BACKUP_POSTGRES_DATABASES": "all"])
            #expect(cluster.status == 1)
            #expect(cluster.stdoutString.contains("BACKUP_POSTGRES_DATABASES"), "\(cluster.stdoutString) \(cluster.stderr)")

            // A hostile snapshot whose /redis.rdb is a symlink to the live server's own data (it
            // would load and match the live key count) or a FIFO (redis-server would hang
            // opening it) is refused; nothing outside the scratch directory is read.
            let live = root + "/live-dump.rdb"
            try Data("REDIS0009".utf8).write(to: URL(fileURLWithPath: live))
            for node in [CraftedNode.symlink("redis.rdb", to: live), .fifo(Array("redis.rdb".utf8))] {
                let crafted = try await CraftedRepository.open(at: deployment.repository, password: GuideDeployment.resticPassword)
                try await crafted.snapshot(
                    [node], paths: ["/redis.rdb"], time: GoTime(seconds: Int64(Date().timeIntervalSince1970)), hostname: "restic",
                    tags: ["redis"])
                let hostile = try await deployment.offsite(["drill", "redis"] + env)
                #expect(hostile.status == 1)
                #expect(hostile.stdoutString.contains("holds no regular file /redis.rdb"), "\(hostile.stdoutString) \(hostile.stderr)")
            }

            let databases = try await deployment.postgres.psql("SELECT datname FROM pg_database ORDER BY 1")
            #expect(!databases.contains("offsite_drill"), "scratch database left: \(databases)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty)
            deployment.expectNoSecrets()
        }
    }

    /// Stores `file` as a snapshot of `/name` tagged `tag` from the deployment's host, as a job would.
    func backUp(_ file: String, as name: String, tag: String, in deployment: GuideDeployment) async throws {
        let r = try await deployment.offsite([
            "backup", "--quiet", "--host", "restic", "--tag", tag, "--stdin-filename", name, "--stdin-from-command", "--", "cat", file,
        ])
        #expect(r.status == 0, "backup of \(name): \(r.stderr)")
    }
}
