import Foundation
import OffsiteTesting
import Testing

/// A deployment as the guide sets one up, on loopback: PostgreSQL with an `app` database, Redis
/// with a password, application data and a Vault data directory, a local repository and a `.env`
/// file in the guide's words. The repository is made beforehand with a cheap key
/// (`TestRepository.makeLocal`: every command the orchestrator runs opens it), or left for the
/// first run to create when `firstRunCreatesRepository`. Servers are started here and stopped by
/// `stop()`.
final class GuideDeployment: @unchecked Sendable {
    static let resticPassword = "runbook-restic-Secret-4f1c"
    static let pgPassword = "runbook-pg-Secret-91ab"
    static let redisPassword = "runbook-redis-Secret-77de"
    static var secrets: [String] { [resticPassword, pgPassword, redisPassword] }

    let root: String
    let postgres: PostgresServer
    let redis: RedisServer
    let pushgateway: TestServer?
    var repository: String { root + "/repo" }
    var envFile: String { root + "/.env.production" }
    var stateDirectory: String { root + "/state" }
    /// Every output of offsite in this deployment, for the secrets check.
    private(set) var transcript = ""

    init(root: String, pushgateway: Bool = true, extraEnv: String = "", firstRunCreatesRepository: Bool = false) async throws {
        self.root = root
        if !firstRunCreatesRepository {
            try await TestRepository.makeLocal(at: root + "/repo", password: Self.resticPassword)
        }
        postgres = try await TestServer.postgres(password: Self.pgPassword)
        redis = try await TestServer.redis(password: Self.redisPassword)
        self.pushgateway = pushgateway ? try await TestServer.pushgateway() : nil
        try await postgres.createDatabase("app")
        try await postgres.psql(
            """
            CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, created date NOT NULL);
            INSERT INTO customers (name, created) SELECT 'customer ' || i, date '2025-01-01' + i FROM generate_series(1, 500) i;
            CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, amount numeric(10,2));
            INSERT INTO orders (customer, amount) SELECT 1 + i % 500, i * 1.25 FROM generate_series(1, 2000) i;
            """, database: "app")
        _ = try await redis.redisCLI(["MSET"] + (0..<50).flatMap { ["session:\($0)", "value-\($0)"] })
        let data = TreeFixture(root: root + "/data")
        try data.dir("")
        try data.dir("app/uploads")
        try data.file("app/config.json", Array("{\"feature\": true}\n".utf8))
        try data.file("app/uploads/report.txt", Array(String(repeating: "quarterly figures\n", count: 2000).utf8))
        let vault = TreeFixture(root: root + "/vault")
        try vault.dir("")
        try vault.dir("core")
        try vault.dir("logical")
        try vault.file("core/_keyring", Array("vault keyring placeholder\n".utf8), mode: 0o600)
        try vault.file("logical/secret.bin", Array(String(repeating: "sealed\n", count: 100).utf8), mode: 0o600)
        let unused = try TestServer.freePort()
        let gateway = self.pushgateway.map { "http://127.0.0.1:\($0.port)" } ?? "http://127.0.0.1:\(unused)"
        let env = """
            # ===================================
            # Restic Offsite Backup Configuration
            # ===================================
            RESTIC_REPOSITORY=\(repository)
            RESTIC_PASSWORD=\(Self.resticPassword)
            BACKUP_SCHEDULE=0 */6 * * *
            BACKUP_RETENTION_DAILY=30    # 30 jours quotidiens
            BACKUP_RETENTION_WEEKLY=12   # 12 semaines (3 mois)
            BACKUP_RETENTION_MONTHLY=12  # 12 mois (1 an)
            PROMETHEUS_PUSHGATEWAY=\(gateway)

            PGHOST=127.0.0.1
            PGPORT=\(postgres.port)
            PGUSER=\(postgres.superuser)
            PGPASSWORD=\(Self.pgPassword)
            PGDATABASE=app
            REDIS_HOST=127.0.0.1
            REDIS_PORT=\(redis.port)
            REDIS_PASSWORD=\(Self.redisPassword)
            BACKUP_VOLUMES=\(root)/data
            BACKUP_VAULT_PATH=\(root)/vault
            BACKUP_HOST=restic
            OFFSITE_STATE_DIR=\(stateDirectory)
            \(extraEnv)
            """
        try env.write(toFile: envFile, atomically: true, encoding: .utf8)
    }

    /// Runs offsite with the deployment's env file (for the orchestrator's commands) or repository
    /// variables (for restic's commands), PATH including PostgreSQL's programs.
    @discardableResult
    func offsite(_ arguments: [String], environment: [String: String?] = [:]) async throws -> ProcessRunner.Result {
        var env: [String: String?] = [
            "PATH": postgres.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "RESTIC_REPOSITORY": repository, "PGHOST": nil, "PGPORT": nil, "PGUSER": nil, "PGPASSWORD": nil, "PGDATABASE": nil,
            "OFFSITE_CONFIG": nil, "OFFSITE_STATE_DIR": nil,
        ]
        for (k, v) in environment { env[k] = v }
        let r = try await OffsiteBinary.run(arguments, password: Self.resticPassword, environment: env)
        transcript += r.stdoutString + r.stderr
        return r
    }

    func restic(_ arguments: [String]) async throws -> ProcessRunner.Result {
        let r = try await Restic.run(arguments, repo: repository, password: Self.resticPassword)
        #expect(r.status == 0, "restic \(arguments.joined(separator: " ")): \(r.stderr)")
        return r
    }

    /// restic's view of the snapshots: (short id, tags, paths).
    func snapshots() async throws -> [(id: String, tags: [String], paths: [String])] {
        let r = try await restic(["snapshots", "--json"])
        let list = try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]] ?? []
        return list.map { ($0["short_id"] as? String ?? "", $0["tags"] as? [String] ?? [], $0["paths"] as? [String] ?? []) }
    }

    func expectNoSecrets(_ text: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = text ?? transcript
        for secret in Self.secrets {
            #expect(!text.contains(secret), "a secret appeared in offsite's output", sourceLocation: sourceLocation)
        }
    }

    func stop() {
        postgres.stop()
        redis.stop()
        pushgateway?.stop()
    }
}
