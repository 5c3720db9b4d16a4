import Foundation
import Testing

@testable import OffsiteJobs

@Suite struct JobSettingsTests {
    /// Section 2 of the operators' guide, `.env.production`, as written (the password placeholder included).
    static let guideProduction = """
        # ===================================
        # Restic Offsite Backup Configuration
        # ===================================

        # Repository cloud (S3 ou B2)
        RESTIC_REPOSITORY=s3:s3.amazonaws.com/cartae-backups-prod

        # Credentials AWS/B2
        AWS_ACCESS_KEY_ID=AKIA...
        AWS_SECRET_ACCESS_KEY=...
        AWS_DEFAULT_REGION=eu-west-1

        # Password encryption Restic (IMPORTANT : sauvegarder dans Vault)
        RESTIC_PASSWORD=<généré avec: openssl rand -base64 32>

        # Schedule backup (toutes les 6h)
        BACKUP_SCHEDULE=0 */6 * * *

        # Politique rétention (production)
        BACKUP_RETENTION_DAILY=30    # 30 jours quotidiens
        BACKUP_RETENTION_WEEKLY=12   # 12 semaines (3 mois)
        BACKUP_RETENTION_MONTHLY=12  # 12 mois (1 an)

        # Prometheus monitoring
        PROMETHEUS_PUSHGATEWAY=http://prometheus:9091
        """

    /// Option A (AWS S3).
    static let guideOptionA = """
        # .env.production (ou .env.{deployment})
        RESTIC_REPOSITORY=s3:s3.amazonaws.com/cartae-backups-prod
        AWS_ACCESS_KEY_ID=AKIA...
        AWS_SECRET_ACCESS_KEY=...
        AWS_DEFAULT_REGION=eu-west-1  # ou us-east-1

        # Politique rétention production
        BACKUP_RETENTION_DAILY=30
        BACKUP_RETENTION_WEEKLY=12
        BACKUP_RETENTION_MONTHLY=12
        """

    /// Option B (Backblaze B2).
    static let guideOptionB = """
        # .env.production
        RESTIC_REPOSITORY=s3:s3.us-west-004.backblazeb2.com/cartae-backups-prod
        AWS_ACCESS_KEY_ID=<B2_KEY_ID>
        AWS_SECRET_ACCESS_KEY=<B2_APPLICATION_KEY>

        # Endpoint B2 spécifique région
        RESTIC_S3_ENDPOINT=https://s3.us-west-004.backblazeb2.com
        """

    /// Option C (Google Cloud Storage).
    static let guideOptionC = """
        RESTIC_REPOSITORY=gs:cartae-backups-prod:/
        GOOGLE_PROJECT_ID=my-project
        GOOGLE_APPLICATION_CREDENTIALS=/path/to/service-account.json
        """

    func settings(_ text: String, environment: [String: String] = [:]) throws -> JobSettings {
        let file = try EnvFile.parse(text, path: ".env.production")
        return try JobSettings(variables: .merge(files: [file], environment: environment))
    }

    func problems(_ text: String, environment: [String: String] = [:]) -> [SettingsProblem] {
        do {
            _ = try settings(text, environment: environment)
            Issue.record("expected invalid settings")
            return []
        } catch let error as JobsError {
            #expect(error.code == .invalidSettings)
            return error.problems
        } catch {
            Issue.record("unexpected \(error)")
            return []
        }
    }

    @Test func guideProductionFile() throws {
        let s = try settings(Self.guideProduction, environment: ["TZ": "Europe/Paris"])
        #expect(s.repository == .url(Secret("s3:s3.amazonaws.com/cartae-backups-prod")))
        #expect(s.repository.description == "s3:s3.amazonaws.com/cartae-backups-prod")
        #expect(s.password == .value(Secret("<généré avec: openssl rand -base64 32>")))
        #expect(s.backupSchedule.expression == "0 */6 * * *")
        #expect(s.retention == RetentionSettings(daily: 30, weekly: 12, monthly: 12))
        #expect(s.environment == .production)
        #expect(s.pushgateway == URL(string: "http://prometheus:9091"))
        #expect(s.timeZone.identifier == "Europe/Paris")
        #expect(s.pruneSchedule?.expression == JobSettings.defaultPruneSchedule)
        #expect(s.checkSchedule?.expression == JobSettings.defaultCheckSchedule)
        #expect(s.checkRotation == 10)
        #expect(s.volumes == ["/data"])
    }

    @Test func guideOptionsNeedOnlyAPassword() throws {
        let password = ["RESTIC_PASSWORD": "from-vault"]
        let a = try settings(Self.guideOptionA, environment: password)
        #expect(a.retention == RetentionSettings(daily: 30, weekly: 12, monthly: 12))
        #expect(a.backupSchedule.expression == "0 */6 * * *")
        let b = try settings(Self.guideOptionB, environment: password)
        #expect(b.s3Endpoint == "https://s3.us-west-004.backblazeb2.com")
        #expect(b.repository == .url(Secret("s3:s3.us-west-004.backblazeb2.com/cartae-backups-prod")))
        let c = try settings(Self.guideOptionC, environment: password)
        #expect(c.repository == .url(Secret("gs:cartae-backups-prod:/")))
        #expect(c.pushgateway == nil)
    }

    @Test func guideTroubleshootingQuotedSchedule() throws {
        let s = try settings(Self.guideOptionA + "\nBACKUP_SCHEDULE=\"0 */12 * * *\"\n", environment: ["RESTIC_PASSWORD": "x"])
        #expect(s.backupSchedule.expression == "0 */12 * * *")
    }

    @Test(arguments: [
        ("production", RetentionSettings(daily: 30, weekly: 12, monthly: 12)),
        ("staging", RetentionSettings(daily: 7, weekly: 4, monthly: 3)),
        ("dev", RetentionSettings(daily: 3, weekly: 2, monthly: 0)),
        ("Development", RetentionSettings(daily: 3, weekly: 2, monthly: 0)),
    ])
    func presets(environment: String, expected: RetentionSettings) throws {
        let s = try settings("RESTIC_REPOSITORY=/srv/repo\nRESTIC_PASSWORD=x\nBACKUP_ENV=\(environment)\n")
        #expect(s.retention == expected)
    }

    @Test func retentionVariablesOverrideThePresetOneByOne() throws {
        let s = try settings("RESTIC_REPOSITORY=/srv/repo\nRESTIC_PASSWORD=x\nBACKUP_ENV=staging\nBACKUP_RETENTION_DAILY=14\n")
        #expect(s.retention == RetentionSettings(daily: 14, weekly: 4, monthly: 3))
        // The guide's staging block, with BACKUP_ENV=dev: the variables win.
        let t = try settings(
            """
            RESTIC_REPOSITORY=/srv/repo
            RESTIC_PASSWORD=x
            BACKUP_ENV=dev
            BACKUP_RETENTION_DAILY=7     # 1 semaine quotidien
            BACKUP_RETENTION_WEEKLY=4    # 1 mois hebdomadaire
            BACKUP_RETENTION_MONTHLY=3   # 3 mois mensuel
            """)
        #expect(t.retention == RetentionSettings(daily: 7, weekly: 4, monthly: 3))
    }

    @Test func environmentOverridesTheFile() throws {
        let s = try settings(Self.guideProduction, environment: ["BACKUP_SCHEDULE": "@daily", "RESTIC_PASSWORD": "other"])
        #expect(s.backupSchedule.expression == "@daily")
        #expect(s.password == .value(Secret("other")))
    }

    @Test func passwordPrecedenceFollowsRestic() throws {
        let base = "RESTIC_REPOSITORY=/srv/repo\n"
        #expect(
            try settings(base + "RESTIC_PASSWORD=x\nRESTIC_PASSWORD_FILE=/run/secrets/restic\n").password == .file("/run/secrets/restic"))
        #expect(
            try settings(base + "RESTIC_PASSWORD=x\nRESTIC_PASSWORD_COMMAND=vault kv get -field=password secret/restic\n").password
                == .command("vault kv get -field=password secret/restic"))
        let both = problems(base + "RESTIC_PASSWORD_FILE=/a\nRESTIC_PASSWORD_COMMAND=cat /a\n")
        #expect(both.map(\.variable) == ["RESTIC_PASSWORD_FILE"])
        #expect(try settings("RESTIC_REPOSITORY_FILE=/run/repo\nRESTIC_PASSWORD=x\n").repository == .file("/run/repo"))
    }

    @Test func databaseRedisAndVolumes() throws {
        let s = try settings(
            """
            RESTIC_REPOSITORY=/srv/repo
            RESTIC_PASSWORD=x
            PGHOST=postgres
            PGPORT=5433
            PGUSER=cartae
            PGPASSWORD=pg-secret
            PGDATABASE=cartae_prod
            REDIS_HOST=redis
            REDIS_PASSWORD=redis-secret
            BACKUP_VOLUMES=/data/app, /data/uploads
            BACKUP_VAULT_PATH=/vault/data
            """)
        #expect(
            s.postgres
                == PostgresSettings(host: "postgres", port: 5433, user: "cartae", password: Secret("pg-secret"), database: "cartae_prod"))
        #expect(s.redis == RedisSettings(host: "redis", port: 6379, password: Secret("redis-secret")))
        #expect(s.volumes == ["/data/app", "/data/uploads"])
        #expect(s.vaultPath == "/vault/data")
        let defaults = try settings("RESTIC_REPOSITORY=/srv/repo\nRESTIC_PASSWORD=x\n")
        #expect(defaults.postgres == PostgresSettings())
        #expect(defaults.redis == RedisSettings(host: "127.0.0.1", port: 6379, password: nil))
    }

    @Test func disablingPruneAndCheck() throws {
        let s = try settings("RESTIC_REPOSITORY=/srv/repo\nRESTIC_PASSWORD=x\nPRUNE_SCHEDULE=off\nCHECK_SCHEDULE=\nCHECK_ROTATION=4\n")
        #expect(s.pruneSchedule == nil && s.checkSchedule == nil && s.checkRotation == 4)
    }

    @Test func everyMistakeIsNamedAtOnce() {
        let found = problems(
            """
            BACKUP_SHEDULE=0 3 * * *
            BACKUP_SCHEDULE=0 25 * * *
            BACKUP_RETENTION_DAYLY=7
            BACKUP_RETENTION_WEEKLY=four
            BACKUP_ENV=prodution
            RESTIC_PASWORD=hunter2
            PRUNE_SCHEDULE=0 3 * * funday
            CHECK_ROTATION=0
            PGPORT=abc
            PROMETHEUS_PUSHGATEWAY=prometheus:9091
            TZ=Mars/Olympus
            BACKUP_VOLUMES=data
            """)
        let byVariable = Dictionary(found.map { ($0.variable, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(
            Set(found.map(\.variable)) == [
                "BACKUP_SHEDULE", "BACKUP_SCHEDULE", "BACKUP_RETENTION_DAYLY", "BACKUP_RETENTION_WEEKLY", "BACKUP_ENV",
                "RESTIC_PASWORD", "PRUNE_SCHEDULE", "CHECK_ROTATION", "PGPORT", "PROMETHEUS_PUSHGATEWAY", "TZ",
                "BACKUP_VOLUMES", "RESTIC_REPOSITORY", "RESTIC_PASSWORD",
            ])
        #expect(byVariable["BACKUP_SHEDULE"]?.message.contains("did you mean BACKUP_SCHEDULE?") == true)
        #expect(byVariable["BACKUP_RETENTION_DAYLY"]?.message.contains("did you mean BACKUP_RETENTION_DAILY?") == true)
        #expect(byVariable["RESTIC_PASWORD"]?.message.contains("did you mean RESTIC_PASSWORD?") == true)
        #expect(byVariable["BACKUP_SCHEDULE"]?.message.contains("hour field \"25\"") == true)
        #expect(byVariable["BACKUP_SCHEDULE"]?.origin == ".env.production:2")
        #expect(byVariable["PRUNE_SCHEDULE"]?.message.contains("day-of-week field \"funday\"") == true)
        #expect(byVariable["BACKUP_RETENTION_WEEKLY"]?.message.contains("\"four\" is not a whole number") == true)
        #expect(byVariable["RESTIC_REPOSITORY"]?.message.hasPrefix("missing") == true)
        #expect(byVariable["RESTIC_PASSWORD"]?.message.hasPrefix("missing") == true)
        #expect(byVariable["RESTIC_PASSWORD"]?.origin == nil)
    }

    @Test func unrelatedVariablesAreIgnored() throws {
        _ = try settings("RESTIC_REPOSITORY=/srv/repo\nRESTIC_PASSWORD=x\nAWS_PROFILE=p\nGOOGLE_PROJECT_ID=g\nHOME=/root\nBACKUPS=1\n")
    }

    @Test func farOffNamesGetNoSuggestion() {
        let found = problems("RESTIC_REPOSITORY=/r\nRESTIC_PASSWORD=x\nBACKUP_SOMETHING_ELSE_ENTIRELY=1\n")
        #expect(found.count == 1)
        #expect(found.first?.message.contains("did you mean") == false)
    }

    // MARK: - Secrets never show

    static let secrets = [
        "RESTIC_PASSWORD": "Sup3rS3cretResticPw", "PGPASSWORD": "PgS3cretPw", "REDIS_PASSWORD": "RedisS3cretPw",
        "AWS_SECRET_ACCESS_KEY": "AwsS3cretKey", "RESTIC_REST_PASSWORD": "RestS3cretPw", "RESTIC_FROM_PASSWORD": "FromS3cretPw",
    ]

    func assertNoSecret(in text: String, _ comment: Comment? = nil) {
        for secret in Self.secrets.values + ["UrlS3cretPw", "GwS3cretPw", "hunter2"] {
            #expect(!text.contains(secret), comment)
        }
    }

    @Test func secretsNeverAppearInMessages() {
        // Every kind of mistake at once, next to every secret (including a mistyped name holding one,
        // a secret in a pushgateway URL and a secret pasted into a quoted value that never closes).
        var text = Self.secrets.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        text += """

            RESTIC_PASWORD=hunter2
            RESTIC_PASSWORD_FILE=/run/pw
            RESTIC_PASSWORD_COMMAND=cat /run/pw
            BACKUP_SCHEDULE=0 */6 * *
            BACKUP_RETENTION_DAILY=x
            BACKUP_ENV=prd
            PGPORT=99999
            PROMETHEUS_PUSHGATEWAY=ftp://user:GwS3cretPw@host
            """
        let found = problems(text)
        #expect(found.count >= 7)
        for problem in found { assertNoSecret(in: problem.description) }
        do {
            _ = try settings(text)
        } catch {
            assertNoSecret(in: "\(error)")
            assertNoSecret(in: String(reflecting: error))
        }
        #expect {
            try EnvFile.parse("A=1\nRESTIC_PASSWORD=\"Sup3rS3cretResticPw\n", path: ".env")
        } throws: { error in
            !"\(error)".contains("Sup3rS3cretResticPw") && !String(reflecting: error).contains("Sup3rS3cretResticPw")
        }
    }

    @Test func secretsNeverAppearInDescriptions() throws {
        var environment = Self.secrets
        environment["RESTIC_REPOSITORY"] = "rest:https://backup:UrlS3cretPw@rest.example.com/repo"
        let s = try JobSettings(variables: .merge(files: [], environment: environment))
        #expect(s.repository.description == "rest:https://backup:***@rest.example.com/repo")
        assertNoSecret(in: String(describing: s))
        assertNoSecret(in: String(reflecting: s))
        var dumped = ""
        dump(s, to: &dumped)
        assertNoSecret(in: dumped)
        #expect(dumped.contains("<redacted>") || !dumped.isEmpty)
        #expect(s.postgres.password?.reveal() == "PgS3cretPw")
        #expect(s.password == .value(Secret("Sup3rS3cretResticPw")))
    }
}
