import Foundation
import Testing

@testable import OffsiteJobs

@Suite struct ConfigurationYAMLTests {
    static let secret = "s3cr3t-Hunter2-XYZ"

    static let full = """
        timezone: Europe/Paris
        host: web1
        pushgateway: http://prometheus:9091
        textfile: /var/lib/node_exporter/textfile/offsite.prom
        listen: 127.0.0.1:9190
        drill_schedule: "0 6 * * 1"
        repositories:
          prod:
            repository: s3:s3.amazonaws.com/bucket
            password_file: /run/secrets/restic
            env: {AWS_ACCESS_KEY_ID: AKIAEXAMPLE, AWS_SECRET_ACCESS_KEY: \(secret)}
            prune: "0 3 * * 0"
            check: "0 5 * * 0"
            check_rotation: 10
          archive:
            repository_file: /run/secrets/archive-repository
            password_command: vault kv get -field=password secret/restic
            prune: off
            check: "@monthly"
            check_rotation: 4
        jobs:
          app-db:
            type: postgres
            repository: prod
            schedule: "0 */6 * * *"
            env: production
            retention: {daily: 60}
            tags: [extra]
            host: db
            port: 5432
            user: backup
            password_file: /run/secrets/pg
            databases: [app, auth]
          cache:
            type: redis
            repository: archive
            env: staging
            host: redis
            password: \(secret)
          files:
            type: volumes
            repository: prod
            env: dev
            paths: [/srv/app, /vault/data]
            tags: [vault]
        """

    static func load(_ yaml: String, environment: [String: String] = [:]) throws(JobsError) -> Configuration {
        try Configuration.load(yaml: yaml, path: "offsite.yml", environment: environment)
    }

    /// The problems of a file that must not load.
    static func problems(_ yaml: String, environment: [String: String] = [:]) -> [SettingsProblem] {
        do {
            _ = try load(yaml, environment: environment)
            Issue.record("expected the configuration to be rejected")
            return []
        } catch {
            #expect(error.code == .invalidSettings)
            #expect(!error.message.contains(secret))
            for problem in error.problems { #expect(!problem.description.contains(secret)) }
            return error.problems
        }
    }

    static func problem(_ problems: [SettingsProblem], _ variable: String) -> SettingsProblem? {
        problems.first { $0.variable == variable }
    }

    @Test func fullExampleParses() throws {
        let c = try Self.load(Self.full, environment: ["PATH": "/usr/bin"])
        #expect(c.timeZone.identifier == "Europe/Paris")
        #expect(c.host == "web1")
        #expect(c.pushgateway == URL(string: "http://prometheus:9091"))
        #expect(c.textfile == "/var/lib/node_exporter/textfile/offsite.prom")
        #expect(c.listen == "127.0.0.1:9190")
        #expect(c.drillSchedule == (try CronSchedule(parsing: "0 6 * * 1")))
        #expect(c.environment == ["PATH": "/usr/bin"])

        #expect(c.repositories.map(\.name) == ["prod", "archive"])
        let prod = try #require(c.repository(named: "prod"))
        #expect(prod.location == .url(Secret("s3:s3.amazonaws.com/bucket")))
        #expect(prod.password == .file("/run/secrets/restic"))
        #expect(prod.environment == ["AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": Self.secret])
        #expect(prod.pruneSchedule == (try CronSchedule(parsing: "0 3 * * 0")))
        #expect(prod.checkSchedule == (try CronSchedule(parsing: "0 5 * * 0")))
        #expect(prod.checkRotation == 10)
        let archive = try #require(c.repository(named: "archive"))
        #expect(archive.location == .file("/run/secrets/archive-repository"))
        #expect(archive.password == .command("vault kv get -field=password secret/restic"))
        #expect(archive.environment == [:])
        #expect(archive.pruneSchedule == nil)
        #expect(archive.checkSchedule == (try CronSchedule(parsing: "@monthly")))
        #expect(archive.checkRotation == 4)

        #expect(c.jobs.map(\.name) == ["app-db", "cache", "files"])
        let db = try #require(c.job(named: "app-db"))
        #expect(db.kind == .postgres)
        #expect(db.repository == "prod")
        #expect(db.schedule == (try CronSchedule(parsing: "0 */6 * * *")))
        #expect(db.retention == RetentionSettings(daily: 60, weekly: 12, monthly: 12))
        #expect(db.extraTags == ["extra"])
        #expect(db.postgres == PostgresSettings(host: "db", port: 5432, user: "backup", passwordFile: "/run/secrets/pg"))
        #expect(db.databases == ["app", "auth"])
        let cache = try #require(c.job(named: "cache"))
        #expect(cache.kind == .redis)
        #expect(cache.repository == "archive")
        #expect(cache.schedule == (try CronSchedule(parsing: JobSettings.defaultBackupSchedule)))
        #expect(cache.retention == JobSettings.Environment.staging.retention)
        #expect(cache.redis == RedisSettings(host: "redis", port: 6379, password: Secret(Self.secret)))
        let files = try #require(c.job(named: "files"))
        #expect(files.kind == .volumes)
        #expect(files.retention == JobSettings.Environment.dev.retention)
        #expect(files.paths == ["/srv/app", "/vault/data"])
        #expect(files.extraTags == ["vault"])
    }

    @Test func singleRepositoryIsTheDefaultAndDefaultsApply() throws {
        let c = try Self.load(
            """
            repositories:
              only:
                repository: /srv/restic
                password: \(Self.secret)
            jobs:
              data:
                type: volumes
                paths: [/data]
              db:
                type: postgres
            """, environment: ["TZ": "Asia/Tokyo"])
        #expect(c.timeZone.identifier == "Asia/Tokyo")
        #expect(c.host == Configuration.systemHostName())
        #expect(c.pushgateway == nil && c.textfile == nil && c.listen == nil && c.drillSchedule == nil)
        let only = try #require(c.repository(named: "only"))
        #expect(only.password == .value(Secret(Self.secret)))
        #expect(only.pruneSchedule == (try CronSchedule(parsing: JobSettings.defaultPruneSchedule)))
        #expect(only.checkSchedule == (try CronSchedule(parsing: JobSettings.defaultCheckSchedule)))
        #expect(only.checkRotation == JobSettings.defaultCheckRotation)
        #expect(c.jobs.map(\.repository) == ["only", "only"])
        #expect(c.jobs.allSatisfy { $0.schedule.expression == JobSettings.defaultBackupSchedule })
        #expect(c.jobs.allSatisfy { $0.retention == JobSettings.Environment.production.retention })
        let db = try #require(c.job(named: "db"))
        #expect(db.databases == [] && db.postgres == PostgresSettings())
    }

    @Test func unknownKeysAreReportedWithTheirLineAndASuggestion() {
        let problems = Self.problems(
            """
            timezone: UTC
            pushgatway: http://prometheus:9091
            repositories:
              prod:
                repository: /srv/restic
                pasword_file: /run/secrets/restic
                password_file: /run/secrets/restic
            jobs:
              db:
                type: postgres
                shedule: "@daily"
                retention: {daily: 3, wekly: 2}
                paths: [/data]
            """)
        let top = Self.problem(problems, "pushgatway")
        #expect(top?.origin == "offsite.yml:2")
        #expect(top?.message.contains("did you mean pushgateway?") == true)
        let repo = Self.problem(problems, "repositories.prod.pasword_file")
        #expect(repo?.origin == "offsite.yml:6")
        #expect(repo?.message.contains("did you mean password_file?") == true)
        #expect(Self.problem(problems, "jobs.db.shedule")?.message.contains("did you mean schedule?") == true)
        #expect(Self.problem(problems, "jobs.db.shedule")?.origin == "offsite.yml:11")
        #expect(Self.problem(problems, "jobs.db.retention.wekly")?.message.contains("did you mean weekly?") == true)
        let other = Self.problem(problems, "jobs.db.paths")
        #expect(other?.origin == "offsite.yml:13")
        #expect(other?.message.contains("volumes jobs") == true)
        #expect(problems.count == 5)
    }

    @Test func wrongTypesAndBadValues() {
        let problems = Self.problems(
            """
            listen: localhost
            drill_schedule: "0 6 * * 8"
            repositories:
              prod:
                repository: [a, b]
                password_file: run/secrets/restic
                check_rotation: 0
                env: [AWS_ACCESS_KEY_ID]
            jobs:
              db:
                type: postgress
                retention: 30
                tags: extra
              files:
                type: volumes
                env: prodution
                port: 12
                paths: [srv/app]
                retention: {daily: -1}
              cache:
                type: redis
                port: 70000
                schedule: every day
            """)
        func at(_ variable: String) -> String? { Self.problem(problems, variable)?.origin }
        #expect(at("listen") == "offsite.yml:1")
        #expect(at("drill_schedule") == "offsite.yml:2")
        #expect(Self.problem(problems, "drill_schedule")?.message.contains("day-of-week") == true)
        #expect(at("repositories.prod.repository") == "offsite.yml:5")
        #expect(Self.problem(problems, "repositories.prod.repository")?.message.contains("a list") == true)
        #expect(at("repositories.prod.password_file") == "offsite.yml:6")
        #expect(Self.problem(problems, "repositories.prod.password_file")?.message.contains("absolute") == true)
        #expect(at("repositories.prod.check_rotation") == "offsite.yml:7")
        #expect(at("repositories.prod.env") == "offsite.yml:8")
        #expect(Self.problem(problems, "jobs.db.type")?.message.contains("did you mean postgres?") == true)
        #expect(at("jobs.db.type") == "offsite.yml:11")
        #expect(at("jobs.db.retention") == "offsite.yml:12")
        #expect(at("jobs.db.tags") == "offsite.yml:13")
        #expect(at("jobs.files.env") == "offsite.yml:16")
        #expect(Self.problem(problems, "jobs.files.port")?.message.contains("postgres and redis jobs") == true)
        #expect(at("jobs.files.paths") == "offsite.yml:18")
        #expect(at("jobs.files.retention.daily") == "offsite.yml:19")
        #expect(at("jobs.cache.port") == "offsite.yml:22")
        #expect(at("jobs.cache.schedule") == "offsite.yml:23")
    }

    @Test func missingRepositoryPasswordAndReferences() {
        let problems = Self.problems(
            """
            repositories:
              a:
                repository: /srv/a
                password_file: /run/a
              b:
                env: {AWS_ACCESS_KEY_ID: x}
              c:
                repository: /srv/c
                repository_file: /run/c
                password: x
                password_command: cat /run/c
            jobs:
              one:
                type: volumes
                paths: [/data]
              two:
                type: volumes
                repository: d
                paths: [/data]
              three:
                type: volumes
                repository: aa
            """)
        #expect(Self.problem(problems, "repositories.b.repository")?.origin == "offsite.yml:5")
        #expect(Self.problem(problems, "repositories.b.password_file")?.message.contains("missing") == true)
        #expect(Self.problem(problems, "repositories.c.repository_file")?.message.contains("mutually exclusive") == true)
        #expect(Self.problem(problems, "repositories.c.password")?.message.contains("mutually exclusive") == true)
        #expect(Self.problem(problems, "repositories.c.password")?.origin == "offsite.yml:10")
        let one = Self.problem(problems, "jobs.one.repository")
        #expect(one?.origin == "offsite.yml:13")
        #expect(one?.message.contains("a, b, c") == true)
        #expect(Self.problem(problems, "jobs.two.repository")?.origin == "offsite.yml:18")
        #expect(Self.problem(problems, "jobs.two.repository")?.message.contains("no repository is named d") == true)
        #expect(Self.problem(problems, "jobs.three.repository")?.message.contains("did you mean a?") == true)
        #expect(Self.problem(problems, "jobs.three.paths")?.origin == "offsite.yml:20")
        #expect(problems.count == 8)
    }

    @Test func duplicateAndInvalidJobNames() {
        let problems = Self.problems(
            """
            repositories:
              prod: {repository: /srv/restic, password_file: /run/p}
            jobs:
              app-db:
                type: postgres
              "bad name":
                type: redis
              a,b:
                type: redis
              app-db:
                type: redis
                shedule: "@daily"
              ok:
                type: volumes
                paths: [/data]
                tags: [app-db, "x y"]
            """)
        let duplicate = Self.problem(problems, "app-db")
        #expect(duplicate?.origin == "offsite.yml:10")
        #expect(duplicate?.message.contains("duplicate job name (first at line 4)") == true)
        #expect(Self.problem(problems, "jobs.bad name")?.origin == "offsite.yml:6")
        #expect(Self.problem(problems, "jobs.bad name")?.message.contains("blank") == true)
        #expect(Self.problem(problems, "jobs.a,b")?.message.contains("comma") == true)
        // Mistakes after the duplicate are still found.
        #expect(problems.contains { $0.variable == "jobs.ok.tags" && $0.message.contains("x y") })
        #expect(problems.contains { $0.variable == "jobs.ok.tags" && $0.message.contains("also a job's name") })
    }

    @Test func duplicateKeysInARepositoryAndInFlowStyle() {
        let problems = Self.problems(
            """
            repositories:
              prod:
                repository: /srv/restic
                password_file: /run/p
                repository: /srv/other
            jobs: {x: {type: volumes, paths: [/a], paths: [/b]}}
            """)
        #expect(Self.problem(problems, "repository")?.origin == "offsite.yml:5")
        #expect(Self.problem(problems, "repository")?.message.contains("duplicate key (first at line 3)") == true)
        #expect(Self.problem(problems, "paths")?.origin == "offsite.yml:6")
        #expect(problems.count == 2)
    }

    @Test func syntaxErrorsNameTheLineWithoutQuotingTheFile() {
        let problems = Self.problems(
            """
            repositories:
              prod:
                password: \(Self.secret)
                repository: "unterminated
            jobs: {}
            """)
        #expect(problems.count == 1)
        #expect(problems.first?.variable == "syntax")
        #expect(problems.first?.origin?.hasPrefix("offsite.yml:") == true)
    }

    @Test func emptyFileAndMissingSections() {
        #expect(Self.problems("").count == 1)
        let problems = Self.problems("host: web1\n")
        #expect(Self.problem(problems, "repositories")?.message.contains("missing") == true)
        #expect(Self.problem(problems, "jobs")?.message.contains("missing") == true)
        #expect(Self.problem(Self.problems("- a\n- b\n"), "(top level)")?.message.contains("a list") == true)
    }

    @Test func secretsNeverAppearInMessages() {
        // Each secret sits where a mistake is reported about it.
        let problems = Self.problems(
            """
            pushgateway: "http//user:\(Self.secret)@prometheus"
            repositories:
              prod:
                repository: {url: \(Self.secret)}
                password: [\(Self.secret)]
                env:
                  AWS_SECRET_ACCESS_KEY: {value: \(Self.secret)}
                  RESTIC_PASSWORD: \(Self.secret)
                  "BAD NAME": \(Self.secret)
              other:
                repository: s3:\(Self.secret)
                password: \(Self.secret)
                password_file: /run/p
            jobs:
              db:
                type: postgres
                repository: prod
                password: {x: \(Self.secret)}
                password_file: \(Self.secret)
              cache:
                type: redis
                repository: other
                password: \(Self.secret)
                password_file: /run/redis
            """)
        #expect(problems.count >= 9)
        #expect(Self.problem(problems, "repositories.prod.env.RESTIC_PASSWORD") != nil)
        #expect(Self.problem(problems, "jobs.cache.password_file")?.message.contains("mutually exclusive") == true)
        // Checked for every problem by `problems(_:)`; once more on the whole error text.
        do {
            _ = try Self.load(
                "repositories:\n  p: {repository: /r, password: \(Self.secret)}\njobs:\n  j: {type: volume, paths: [/d]}\n")
        } catch {
            #expect(!String(describing: error).contains(Self.secret))
            #expect(error.problems.count == 1)
        }
    }

    @Test func timeZoneFromTheEnvironment() {
        let problems = Self.problems(
            "repositories: {p: {repository: /r, password_file: /p}}\njobs: {d: {type: volumes, paths: [/d]}}\n",
            environment: ["TZ": "Mars/Olympus"])
        #expect(problems.count == 1)
        #expect(problems.first?.variable == "TZ" && problems.first?.origin == "environment")
    }

    @Test func loadsFromAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("offsite-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("offsite.yml").path
        try Self.full.write(toFile: file, atomically: true, encoding: .utf8)
        let c = try Configuration.load(path: file, environment: [:])
        #expect(c.jobs.count == 3)
        #expect(throws: JobsError.self) { try Configuration.load(path: dir.appendingPathComponent("none.yml").path, environment: [:]) }
        try "jobs: 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try Configuration.load(path: file, environment: [:])
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.contains { $0.origin == "\(file):1" && $0.variable == "jobs" })
        }
    }

    // MARK: .env → Configuration

    static func settings(_ variables: [String: String]) throws -> JobSettings {
        try JobSettings(variables: .merge(files: [], environment: variables))
    }

    @Test func envSettingsMakeOneRepositoryAndTheThreeJobs() throws {
        let settings = try Self.settings([
            "RESTIC_REPOSITORY": "s3:s3.amazonaws.com/bucket", "RESTIC_PASSWORD_FILE": "/run/secrets/restic",
            "BACKUP_SCHEDULE": "0 1 * * *", "BACKUP_ENV": "staging", "PGHOST": "db", "PGDATABASE": "app",
            "REDIS_HOST": "cache", "REDIS_PASSWORD": Self.secret, "BACKUP_VOLUMES": "/srv/a,/srv/b",
            "BACKUP_VAULT_PATH": "/vault/data", "BACKUP_HOST": "web1", "PRUNE_SCHEDULE": "off",
        ])
        let c = Configuration(settings: settings, environment: ["A": "b"])
        #expect(c.repositories.count == 1)
        let repository = try #require(c.repository(named: "default"))
        #expect(repository.password == .file("/run/secrets/restic"))
        #expect(repository.pruneSchedule == nil)
        #expect(repository.resticVariables()["RESTIC_REPOSITORY"] == "s3:s3.amazonaws.com/bucket")
        #expect(c.host == "web1")
        #expect(c.environment == ["A": "b"])
        #expect(c.jobs.map(\.name) == ["postgres", "redis", "volumes"])
        #expect(c.jobs.allSatisfy { $0.repository == "default" && $0.schedule.expression == "0 1 * * *" })
        #expect(c.jobs.allSatisfy { $0.retention == JobSettings.Environment.staging.retention })
        let postgres = try #require(c.job(named: "postgres"))
        #expect(postgres.postgres.host == "db")
        #expect(postgres.databases == ["app"])
        #expect(c.job(named: "redis")?.redis == RedisSettings(host: "cache", password: Secret(Self.secret)))
        let volumes = try #require(c.job(named: "volumes"))
        #expect(volumes.paths == ["/srv/a", "/srv/b", "/vault/data"])
        #expect(volumes.extraTags == ["vault"])
        #expect(!String(describing: c).contains(Self.secret))
    }

    @Test func envBackupJobsSelectsJobs() throws {
        let settings = try Self.settings([
            "RESTIC_REPOSITORY": "/srv/restic", "RESTIC_PASSWORD": Self.secret, "BACKUP_JOBS": "volumes, postgres",
            "BACKUP_POSTGRES_DATABASES": "all", "PGDATABASE": "app",
        ])
        let c = Configuration(settings: settings, environment: [:])
        #expect(c.jobs.map(\.kind) == [.volumes, .postgres])
        #expect(c.job(named: "volumes")?.paths == JobSettings.defaultVolumes)
        #expect(c.job(named: "volumes")?.extraTags == [])
        #expect(c.job(named: "postgres")?.databases == [])
        #expect(c.drillSchedule == nil)
    }
}
