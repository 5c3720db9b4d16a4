public import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension TestServer {
    /// A PostgreSQL server of its own (Debian's `postgresql`) on a free loopback port: a new
    /// cluster in a scratch directory, removed again by `stop()`.
    public static func postgres(superuser: String = "postgres", password: String? = nil) async throws -> PostgresServer {
        try await PostgresServer(superuser: superuser, password: password)
    }
}

/// A PostgreSQL cluster made for one test: `initdb` into a scratch directory, then `postgres`
/// listening on 127.0.0.1 only (and on a Unix socket in the scratch directory, never the
/// system's). Local connections are trusted; TCP ones must give the superuser's password
/// (scram-sha-256), so a test can try a right and a wrong one. The system's own cluster, if
/// Debian started one, is not used.
///
/// PostgreSQL refuses to run as root: when the tests do, the cluster belongs to the `postgres`
/// system user and its programs run as that user (`setpriv`).
public final class PostgresServer: @unchecked Sendable {
    public let server: TestServer
    public let host = "127.0.0.1"
    public let superuser: String
    public let password: String
    /// The directory of the server's programs (`pg_dump`, `psql`, …): the newest
    /// `/usr/lib/postgresql/*/bin`.
    public let binDirectory: String
    /// The scratch directory: the cluster in `data/`, the Unix socket beside it.
    public let directory: String
    public var port: Int { server.port }
    public var dataDirectory: String { directory + "/data" }

    public init(superuser: String = "postgres", password: String? = nil, timeout: Double = 60) async throws {
        self.superuser = superuser
        self.password = password ?? "pg-" + UUID().uuidString.prefix(18).lowercased()
        binDirectory = try Self.findBinDirectory()
        let runAs = try Self.runAsPostgres()
        directory = Self.scratchBase() + "/offsite-pg-" + UUID().uuidString.prefix(8).lowercased()
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let pwfile = directory + "/pwfile"
            fm.createFile(atPath: pwfile, contents: Data((self.password + "\n").utf8), attributes: [.posixPermissions: 0o600])
            if let owner = runAs.owner {
                for path in [directory, pwfile] where chown(path, owner.uid, owner.gid) != 0 {
                    throw ProcessRunner.NotFound(description: "chown \(path) to postgres: \(String(cString: strerror(errno)))")
                }
            }
            let initdb = try await ProcessRunner.run(
                runAs.executable,
                runAs.prefix + [
                    binDirectory + "/initdb", "-D", directory + "/data", "-U", superuser, "--pwfile=" + pwfile,
                    "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "--encoding=UTF8", "--no-sync",
                ],
                environment: ["LANG": "C", "LC_ALL": "C"], currentDirectory: directory)
            try? fm.removeItem(atPath: pwfile)
            guard initdb.status == 0 else {
                throw ProcessRunner.NotFound(
                    description: "initdb failed (\(initdb.status)): \(initdb.stderr.suffix(2000)) \(initdb.stdoutString.suffix(1000))")
            }
            let dir = directory, bin = binDirectory
            server = try await TestServer(runAs.executable, install: "apt-get install postgresql", timeout: timeout) { port in
                runAs.prefix + [
                    bin + "/postgres", "-D", dir + "/data", "-p", String(port), "-k", dir,
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                ]
            }
        } catch {
            removeTree(directory)
            throw error
        }
        // The port accepts before the server is ready ("the database system is starting up").
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let ready = try? await ProcessRunner.run(binDirectory + "/pg_isready", ["-h", host, "-p", String(port), "-t", "2"])
            if ready?.status == 0 { break }
            if Date() > deadline || !server.process.isRunning {
                let output = server.output
                stop()
                throw ProcessRunner.NotFound(description: "postgres did not become ready: \(output.suffix(2000))")
            }
            await pause(.milliseconds(50))
        }
    }

    /// libpq's variables for connecting to `database` as the superuser over TCP.
    public func libpqEnvironment(database: String = "postgres") -> [String: String] {
        ["PGHOST": host, "PGPORT": String(port), "PGUSER": superuser, "PGPASSWORD": password, "PGDATABASE": database]
    }

    /// `postgresql://user:password@127.0.0.1:PORT/database`.
    public func url(database: String = "postgres") -> String {
        let user = superuser.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? superuser
        let pass = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "postgresql://\(user):\(pass)@\(host):\(port)/\(database)"
    }

    /// Runs one of the server's client programs (`psql`, `pg_dump`, `pg_restore`, …) against
    /// `database` with libpq's variables set (the password in `PGPASSWORD`, never in the
    /// arguments) and the caller's own `PG*` settings (service files, passfiles) left out.
    /// `environment` entries override (nil removes).
    public func run(
        _ program: String, _ arguments: [String], database: String = "postgres", environment: [String: String?] = [:],
        stdin: Data? = nil
    ) async throws -> ProcessRunner.Result {
        var env: [String: String?] = [
            "PGSERVICE": nil, "PGSERVICEFILE": nil, "PGPASSFILE": nil, "PGOPTIONS": nil, "PGSSLMODE": nil,
            "PGCONNECT_TIMEOUT": "10", "PSQLRC": nil,
        ]
        for (k, v) in libpqEnvironment(database: database) { env[k] = v }
        for (k, v) in environment { env[k] = v }
        return try await ProcessRunner.run(binDirectory + "/" + program, arguments, environment: env, stdin: stdin)
    }

    /// Runs `sql` (any number of statements) with psql as the superuser over TCP, stopping at
    /// the first error (which it throws); returns psql's unaligned, tuples-only output
    /// (`|`-separated columns, a line a row) without the last newline.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let r = try await run("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-"], database: database, stdin: Data(sql.utf8))
        guard r.status == 0 else {
            throw ProcessRunner.NotFound(description: "psql failed (\(r.status)) on \(database): \(r.stderr.suffix(2000))")
        }
        var out = r.stdoutString
        if out.hasSuffix("\n") { out.removeLast() }
        return out
    }

    /// Creates an empty database named `name` (any characters; quoted as an identifier).
    public func createDatabase(_ name: String) async throws {
        try await psql("CREATE DATABASE \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
    }

    /// Stops the server with a fast shutdown (SIGINT: clients disconnected, no waiting for
    /// them), then an immediate one (SIGQUIT), then SIGKILL; removes the cluster.
    public func stop() {
        server.stop(signals: [SIGINT, SIGQUIT], grace: 10)
        removeTree(directory)
    }

    deinit { stop() }

    /// `OFFSITE_PG_BIN`, the newest `/usr/lib/postgresql/<version>/bin` (Debian), or the
    /// directory of `postgres` on PATH.
    static func findBinDirectory() throws -> String {
        if let dir = ProcessInfo.processInfo.environment["OFFSITE_PG_BIN"] { return dir }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/postgres") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        if let newest = versions.last { return "\(root)/\(newest)/bin" }
        if let postgres = ProcessRunner.which("postgres") { return (postgres as NSString).deletingLastPathComponent }
        throw ProcessRunner.NotFound(description: "postgres is not installed: apt-get install postgresql (or run `make deps`)")
    }

    /// How to run the server's programs: as the `postgres` system user when the tests run as
    /// root (`setpriv`, which execs, so that the server's pid is the postmaster's), else as is.
    static func runAsPostgres() throws -> (executable: String, prefix: [String], owner: (uid: uid_t, gid: gid_t)?) {
        guard geteuid() == 0 else { return ("/usr/bin/env", [], nil) }
        guard let user = getpwnam("postgres") else {
            throw ProcessRunner.NotFound(description: "no postgres system user (PostgreSQL refuses root): apt-get install postgresql")
        }
        let uid = user.pointee.pw_uid, gid = user.pointee.pw_gid
        guard let setpriv = ProcessRunner.which("setpriv") else {
            throw ProcessRunner.NotFound(description: "setpriv is not installed: apt-get install util-linux")
        }
        return (setpriv, ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"], (uid, gid))
    }

    /// The temporary directory, if the postgres user can reach it (every ancestor searchable
    /// by others), else /tmp.
    static func scratchBase() -> String {
        let base = ProcessInfo.processInfo.environment["OFFSITE_TEST_TMP"] ?? NSTemporaryDirectory()
        var path = (base as NSString).standardizingPath
        guard geteuid() == 0 else { return path }
        let reachable = sequence(first: path) { $0 == "/" ? nil : ($0 as NSString).deletingLastPathComponent }.allSatisfy {
            var st = stat()
            return stat($0, &st) == 0 && st.st_mode & S_IXOTH != 0
        }
        if !reachable { path = "/tmp" }
        return path
    }
}
