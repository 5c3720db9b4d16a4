import Foundation
import OffsiteTesting
import Testing

/// `offsite run --config offsite.yml`: several jobs of one kind and several repositories, each job's
/// snapshots in its own repository with its own retention; password files read at run time.
@Suite(.serialized) struct ConfigFileRunTests {
    @Test func jobsFromOffsiteYAMLGoToTheirRepositories() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, pushgateway: false)
            defer { deployment.stop() }
            try await deployment.postgres.createDatabase("auth")
            try await deployment.postgres.psql(
                "CREATE TABLE users (id int); INSERT INTO users SELECT generate_series(1, 42);", database: "auth")
            for (name, secret) in [
                ("restic", GuideDeployment.resticPassword), ("pg", GuideDeployment.pgPassword), ("redis", GuideDeployment.redisPassword),
            ] {
                try secret.write(toFile: "\(root)/\(name).pass", atomically: true, encoding: .utf8)
                chmod("\(root)/\(name).pass", 0o600)
            }
            let yaml = """
                host: web1
                textfile: \(root)/offsite.prom
                repositories:
                  databases:
                    repository: \(root)/repo-db
                    password_file: \(root)/restic.pass
                  files:
                    repository: \(root)/repo-files
                    password_file: \(root)/restic.pass
                    check_rotation: 4
                jobs:
                  app-db:
                    type: postgres
                    repository: databases
                    env: staging
                    host: 127.0.0.1
                    port: \(deployment.postgres.port)
                    user: \(deployment.postgres.superuser)
                    password_file: \(root)/pg.pass
                    databases: [app, auth]
                  sessions:
                    type: redis
                    repository: databases
                    port: \(deployment.redis.port)
                    password_file: \(root)/redis.pass
                  vault:
                    type: volumes
                    repository: files
                    paths: [\(root)/vault]
                    tags: [secrets]
                """
            try yaml.write(toFile: root + "/offsite.yml", atomically: true, encoding: .utf8)
            let env: [String: String?] = ["RESTIC_PASSWORD": nil, "RESTIC_REPOSITORY": nil, "OFFSITE_STATE_DIR": root + "/state"]

            let check = try await deployment.offsite(["config", "check", "--config", root + "/offsite.yml"], environment: env)
            #expect(check.status == 0, "\(check.stdoutString) \(check.stderr)")
            #expect(check.stdoutString.contains("3 jobs (app-db, sessions, vault), 2 repositories"), "\(check.stdoutString)")

            let run = try await deployment.offsite(["run", "all", "--config", root + "/offsite.yml"], environment: env)
            #expect(run.status == 0, "\(run.stdoutString) \(run.stderr)")
            for job in ["app-db", "sessions", "vault"] { #expect(run.stdoutString.contains("\(job): backup completed")) }

            func snapshots(_ repo: String) async throws -> [[String: Any]] {
                let r = try await Restic.run(["snapshots", "--json"], repo: repo, password: GuideDeployment.resticPassword)
                #expect(r.status == 0, "\(r.stderr)")
                return try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]] ?? []
            }
            let db = try await snapshots(root + "/repo-db")
            // One snapshot per database, and the RDB.
            #expect(db.count == 3)
            #expect(Set(db.flatMap { $0["paths"] as? [String] ?? [] }) == ["/app.sql", "/auth.sql", "/redis.rdb"])
            #expect(db.allSatisfy { $0["hostname"] as? String == "web1" })
            let files = try await snapshots(root + "/repo-files")
            #expect(files.count == 1)
            let tags = Set(files.first?["tags"] as? [String] ?? [])
            #expect(tags.isSuperset(of: ["vault", "secrets"]), "\(tags)")

            // A second run: the app-db job keeps one snapshot per database per day (staging: 7/4/3).
            let again = try await deployment.offsite(["run", "app-db", "--config", root + "/offsite.yml"], environment: env)
            #expect(again.status == 0, "\(again.stdoutString)")
            await #expect(try snapshots(root + "/repo-db").count == 3)

            let metrics = try String(contentsOfFile: root + "/offsite.prom", encoding: .utf8)
            #expect(metrics.contains("backup_success{mode=\"app-db\"} 1"), "\(metrics)")
            deployment.expectNoSecrets()
            deployment.expectNoSecrets(metrics)
        }
    }
}
