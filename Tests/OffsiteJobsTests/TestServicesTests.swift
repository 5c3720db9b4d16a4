import Foundation
import OffsiteTesting
import Testing

/// The servers the orchestrator's tests run against: each starts on its own loopback port,
/// does what the tests need, and stops (leaving nothing behind).
@Suite struct TestServicesTests {
    @Test func postgresStoresRowsAndChecksPasswordsOverTCP() async throws {
        let pg = try await TestServer.postgres()
        defer { pg.stop() }
        #expect(pg.port != 5432)
        try await pg.createDatabase("app-db")
        try await pg.psql(
            """
            CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
            INSERT INTO items VALUES (1, 'one'), (2, 'two|2');
            """, database: "app-db")
        await #expect(try pg.psql("SELECT id, name FROM items ORDER BY id", database: "app-db") == "1|one\n2|two|2")
        await #expect(try pg.psql("SELECT current_user, inet_server_addr()::text") == "postgres|127.0.0.1/32")
        // The server refuses the wrong password (scram over TCP) and the psql helper throws on SQL errors.
        let wrong = try await pg.run("psql", ["-X", "-Atc", "SELECT 1"], environment: ["PGPASSWORD": "not-the-password"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("password authentication failed"))
        let none = try await pg.run("psql", ["-X", "-w", "-Atc", "SELECT 1"], environment: ["PGPASSWORD": nil])
        #expect(none.status != 0)
        await #expect(throws: (any Error).self) { try await pg.psql("SELECT * FROM missing_table") }
        // pg_dump, which the backups run, reads the table back.
        let dump = try await pg.run("pg_dump", ["--no-owner"], database: "app-db")
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdoutString.contains("CREATE TABLE public.items"))
        let environment = pg.libpqEnvironment(database: "app-db")
        #expect(environment["PGPORT"] == String(pg.port) && environment["PGHOST"] == "127.0.0.1")
        #expect(environment["PGDATABASE"] == "app-db" && environment["PGPASSWORD"] == pg.password)

        let directory = pg.directory
        pg.stop()
        #expect(!pg.server.process.isRunning)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func redisKeepsKeysBehindItsPassword() async throws {
        let redis = try await TestServer.redis(password: "s3cret pass")
        defer { redis.stop() }
        await #expect(try redis.redisCLI(["SET", "greeting", "hello world"]) == "OK")
        await #expect(try redis.redisCLI(["GET", "greeting"]) == "hello world")
        await #expect(try redis.redisCLI(["DBSIZE"]) == "1")
        // Without the password, or with a wrong one, the server refuses.
        let anonymous = try await redis.redisCLIResult(["GET", "greeting"], password: .some(nil))
        #expect(anonymous.stdoutString.hasPrefix("NOAUTH"))
        let wrong = try await redis.redisCLIResult(["GET", "greeting"], password: "wrong")
        #expect(wrong.stdoutString.hasPrefix("NOAUTH"))
        #expect(wrong.stderr.contains("WRONGPASS"))

        let directory = redis.directory
        redis.stop()
        #expect(!redis.server.process.isRunning)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func pushgatewayExposesPushedMetrics() async throws {
        let gateway = try await TestServer.pushgateway()
        defer { gateway.stop() }
        let metrics = """
            # TYPE offsite_test_last_success_timestamp_seconds gauge
            offsite_test_last_success_timestamp_seconds{repository="local"} 1700000000
            """
        let put = try LoopbackHTTP.request(
            port: gateway.port, method: "PUT", path: "/metrics/job/offsite/instance/test-host",
            headers: ["Content-Type": "text/plain; version=0.0.4"], body: Data((metrics + "\n").utf8))
        #expect(put.status == 200, "\(put.text)")
        let text = try gateway.metricsText()
        let line = text.split(separator: "\n").first { $0.hasPrefix("offsite_test_last_success_timestamp_seconds{") }
        #expect(line?.contains(#"job="offsite""#) == true)
        #expect(line?.contains(#"instance="test-host""#) == true)
        #expect(line?.contains(#"repository="local""#) == true)
        #expect(line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } == 1_700_000_000, "\(line ?? "")")

        gateway.stop()
        #expect(!gateway.process.isRunning)
    }

    @Test func promtoolChecksRules() async throws {
        try await withScratchDirectory { dir in
            let good = dir + "/good.yml", bad = dir + "/bad.yml"
            try """
            groups:
              - name: offsite
                rules:
                  - alert: OffsiteBackupStale
                    expr: time() - offsite_last_success_timestamp_seconds > 2 * 86400
                    for: 1h
            """.write(toFile: good, atomically: true, encoding: .utf8)
            try """
            groups:
              - name: offsite
                rules:
                  - alert: Broken
                    expr: time( -
            """.write(toFile: bad, atomically: true, encoding: .utf8)
            let ok = try await Promtool.run(["check", "rules", good])
            #expect(ok.status == 0, "\(ok.stdoutString) \(ok.stderr)")
            let refused = try await Promtool.run(["check", "rules", bad])
            #expect(refused.status != 0)
        }
    }
}
