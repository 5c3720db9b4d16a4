import Foundation

/// Restore drills: proof that the latest backup of a job restores and holds data, made with the
/// same offsite binary, on scratch resources that are removed afterwards.
///
/// - postgres: for each database of the job, the latest snapshot of `/<db>.sql` (tag JOB, this
///   host) is streamed with `offsite dump` into `psql -v ON_ERROR_STOP=1` through a pipe (no
///   temporary file), into a scratch database `offsite_drill_<job>_<random>` created from
///   template0 on the job's own server (libpq's variables from the job); then the user tables are
///   counted and every one read (`SELECT count(*)`, exact). Fails when the load fails or there is
///   no table. The scratch database is always dropped (`DROP DATABASE … WITH (FORCE)`), also after
///   a failure or cancellation. A job without databases (whole-cluster `pg_dumpall` dumps) is not
///   drilled: replaying a cluster dump on a live server would recreate its roles and databases, so
///   the drill fails and asks for `BACKUP_POSTGRES_DATABASES`.
/// - redis: the latest `/redis.rdb` is restored (`--verify`) into a scratch directory and loaded by
///   a throwaway `redis-server` on a free loopback port (no persistence, no password); its key
///   count (`INFO keyspace`, all databases) is compared with the live server's, which may
///   legitimately differ. Fails when the RDB does not load, or it holds no key while the live
///   server has some. The server is stopped (`SHUTDOWN NOSAVE`, then SIGTERM/SIGKILL).
/// - volumes: `offsite restore SNAPSHOT --target SCRATCH --verify` of the latest snapshot; reports
///   files and bytes. Fails on any restore or verification error.
///
/// Scratch directories are made under `scratchDirectory` (default `$TMPDIR`, else /tmp), mode 0700,
/// and removed afterwards. Records are `.drill` records: `snapshotID` the snapshot restored,
/// `bytesProcessed` the bytes restored, `message` what was found.
extension Orchestrator {
    /// Runs `job`'s drill and returns its record (not saved: `drill(_:scratchDirectory:)` on a
    /// list, and the daemon, save and publish).
    public func drill(_ job: JobDefinition, scratchDirectory: String? = nil) async -> RunRecord {
        let started = Date()
        var record = RunRecord(operation: .drill, job: job.name, success: false, message: "", started: started, duration: 0)
        let base = scratchDirectory ?? configuration.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        do {
            let repository = try repository(of: job)
            switch job.kind {
            case .postgres: try await drillPostgres(job, repository: repository, record: &record)
            case .redis: try await drillRedis(job, repository: repository, base: base, record: &record)
            case .volumes: try await drillVolumes(job, repository: repository, base: base, record: &record)
            }
        } catch {
            record.success = false
            record.message = Task.isCancelled ? "interrupted" : error.message
            if Task.isCancelled { record.interrupted = true }
        }
        record.duration = Date().timeIntervalSince(started)
        return record
    }

    /// Drills each job in turn (a failure does not stop the others), logging, saving each record,
    /// then publishing metrics once. Returns the records in job order.
    public func drill(_ jobs: [JobDefinition], scratchDirectory: String? = nil) async -> [RunRecord] {
        var records: [RunRecord] = []
        for job in jobs {
            if Task.isCancelled { break }
            log("\(job.name): drill started")
            let record = await drill(job, scratchDirectory: scratchDirectory)
            records.append(record)
            save(record)
            log(
                "\(job.name): drill \(record.outcome(completed: "completed in \(Self.seconds(record.duration)): \(record.message)"))"
            )
        }
        await publish()
        return records
    }

    // MARK: Snapshots

    struct DrillSnapshot {
        var id: String
        var paths: [String]
        var short: String { String(id.prefix(8)) }
    }

    /// The newest snapshot of `job` from this host for each set of paths, oldest first.
    func latestSnapshots(_ job: JobDefinition, repository: RepositoryTarget) async throws(JobsError) -> [DrillSnapshot] {
        let out = try await offsite(
            ["snapshots", "--json", "--no-lock", "--tag", job.name, "--host", configuration.host, "--latest", "1"], repository: repository)
        guard out.succeeded else {
            throw JobsError(.repository, "cannot list the snapshots of \(job.name): \(out.reason())")
        }
        guard let list = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [[String: Any]] else {
            throw JobsError(.repository, "offsite snapshots printed no JSON list")
        }
        return list.compactMap { s in
            guard let id = s["id"] as? String else { return nil }
            return DrillSnapshot(id: id, paths: s["paths"] as? [String] ?? [])
        }
    }

    func latestSnapshot(_ job: JobDefinition, repository: RepositoryTarget) async throws(JobsError) -> DrillSnapshot {
        guard let newest = try await latestSnapshots(job, repository: repository).last else {
            throw JobsError(
                .repository, "no snapshot of \(job.name) from host \(configuration.host) to drill: run `offsite run \(job.name)` first")
        }
        return newest
    }

    /// Runs a program other than offsite (psql, redis-cli, redis-server) with the configuration's
    /// environment plus `extra`, and none of the repository's secrets.
    func tool(
        _ argv: [String], extra: [String: String] = [:], removing: [String] = [], graceSeconds: Int = 10
    ) async throws(JobsError) -> CommandRunner.Output {
        var env = configuration.environment
        for name in RepositoryTarget.locationVariables + removing { env[name] = nil }
        env.merge(extra) { $1 }
        return try await CommandRunner.run(argv, environment: env, graceSeconds: graceSeconds)
    }

    /// Runs `body`'s cleanup even when the drill's task is cancelled (a cancelled task would stop
    /// the cleanup's own commands at once).
    func uncancellable(_ body: @escaping @Sendable () async -> Void) async {
        await Task.detached { await body() }.value
    }

    // MARK: PostgreSQL

    func drillPostgres(_ job: JobDefinition, repository: RepositoryTarget, record: inout RunRecord) async throws(JobsError) {
        guard !job.databases.isEmpty else {
            throw JobsError(
                .invalidSettings,
                "\(job.name) dumps the whole cluster with pg_dumpall; a drill would replay roles and databases on the live server, so it needs the databases listed: set BACKUP_POSTGRES_DATABASES (or the job's databases in offsite.yml)"
            )
        }
        let snapshots = try await latestSnapshots(job, repository: repository)
        var libpq = try job.postgres.resolvedVariables()
        libpq["PGCONNECT_TIMEOUT"] = libpq["PGCONNECT_TIMEOUT"] ?? configuration.environment["PGCONNECT_TIMEOUT"] ?? "30"
        var restored: [(database: String, snapshot: DrillSnapshot, tables: Int, rows: Int64)] = []
        for database in job.databases {
            try Task.checkCancellationAsJobsError()
            guard let snapshot = snapshots.last(where: { $0.paths == ["/\(database).sql"] }) else {
                throw JobsError(
                    .repository,
                    "no snapshot of \(database).sql (tag \(job.name), host \(configuration.host)) to drill: run `offsite run \(job.name)` first"
                )
            }
            let counts = try await restoreDump(
                snapshot: snapshot, database: database, scratch: Self.scratchDatabaseName(job: job.name), libpq: libpq,
                repository: repository)
            restored.append((database, snapshot, counts.tables, counts.rows))
            record.snapshotID = snapshot.id
            record.bytesProcessed = (record.bytesProcessed ?? 0) + counts.bytes
        }
        let tables = restored.reduce(0) { $0 + $1.tables }
        let rows = restored.reduce(0) { $0 + $1.rows }
        record.success = true
        if let only = restored.first, restored.count == 1 {
            record.message =
                "restored snapshot \(only.snapshot.short) (\(only.database)) into a scratch database: \(Self.plural(tables, "table")), \(Self.plural(rows, "row"))"
        } else {
            let each = restored.map {
                "\($0.database) from \($0.snapshot.short): \(Self.plural($0.tables, "table")), \(Self.plural($0.rows, "row"))"
            }
            record.message =
                "restored \(restored.count) databases into scratch databases: \(Self.plural(tables, "table")), \(Self.plural(rows, "row")) (\(each.joined(separator: "; ")))"
        }
    }

    static func plural<N: BinaryInteger>(_ n: N, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    /// `offsite_drill_<job>_<random>`, lowercase letters, digits and `_`, within PostgreSQL's 63 bytes.
    static func scratchDatabaseName(job: String) -> String {
        let safe = String(
            job.lowercased().unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" }.prefix(36))
        let random = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        return "offsite_drill_\(safe)_\(random)"
    }

    /// Creates `scratch`, loads the dump into it, counts, and drops it whatever happened.
    func restoreDump(
        snapshot: DrillSnapshot, database: String, scratch: String, libpq: [String: String], repository: RepositoryTarget
    ) async throws(JobsError) -> (tables: Int, rows: Int64, bytes: Int64) {
        // Administrative statements connect to the database that was dumped (it exists on this server).
        var admin = libpq
        admin["PGDATABASE"] = database
        let quoted = "\"\(scratch)\""
        let create = try await tool(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE \(quoted) TEMPLATE template0"], extra: admin)
        guard create.succeeded else {
            throw JobsError(.io, "cannot create the scratch database \(scratch): \(create.reason())")
        }
        let result: Result<(tables: Int, rows: Int64, bytes: Int64), JobsError>
        do {
            result = .success(
                try await loadAndCount(snapshot: snapshot, database: database, scratch: scratch, libpq: libpq, repository: repository))
        } catch {
            result = .failure(error)
        }
        await uncancellable { [admin] in
            await dropScratchDatabase(quoted, admin: admin)
        }
        return try result.get()
    }

    func dropScratchDatabase(_ quoted: String, admin: [String: String]) async {
        var dropped = try? await tool(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)"], extra: admin)
        if dropped?.succeeded != true {
            // PostgreSQL before 13 has no FORCE; the load's connections are gone by now.
            dropped = try? await tool(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "DROP DATABASE IF EXISTS \(quoted)"], extra: admin)
        }
        if dropped?.succeeded != true {
            log("drill: could not drop the scratch database \(quoted): \(dropped?.reason() ?? "psql did not run"); drop it by hand")
        }
    }

    func loadAndCount(
        snapshot: DrillSnapshot, database: String, scratch: String, libpq: [String: String], repository: RepositoryTarget
    ) async throws(JobsError) -> (tables: Int, rows: Int64, bytes: Int64) {
        var target = configuration.environment
        for name in RepositoryTarget.locationVariables { target[name] = nil }
        target.merge(libpq) { $1 }
        target["PGDATABASE"] = scratch
        let (dump, load) = try await DrillPipe.run(
            producer: [offsite, "dump", snapshot.id, "/\(database).sql"], producerEnvironment: environment(for: repository),
            consumer: ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null"], consumerEnvironment: target)
        try Task.checkCancellationAsJobsError()
        guard dump.succeeded else {
            throw JobsError(.repository, "offsite dump of \(database).sql from snapshot \(snapshot.short) failed: \(dump.reason())")
        }
        guard load.succeeded else {
            throw JobsError(.io, "\(database).sql from snapshot \(snapshot.short) does not load: \(load.reason())")
        }
        // Exact counts: every user table read with count(*) (statistics such as reltuples are estimates).
        let userTables = """
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
            """
        let list = try await tool(
            [
                "psql", "-X", "-At", "-0", "-v", "ON_ERROR_STOP=1", "-c",
                "SELECT pg_catalog.format('(SELECT count(*) FROM %I.%I)', n.nspname, c.relname) \(userTables) ORDER BY 1",
            ], extra: target)
        guard list.succeeded else {
            throw JobsError(.io, "cannot list the tables of the restored \(database): \(list.reason())")
        }
        let counts = list.stdout.split(separator: "\0").map(String.init).filter { !$0.isEmpty }
        let tables = counts.count
        guard tables > 0 else {
            throw JobsError(.io, "\(database).sql from snapshot \(snapshot.short) loaded but holds no table")
        }
        var arguments = [
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c",
            "SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0) \(userTables)",
        ]
        for start in stride(from: 0, to: counts.count, by: 200) {
            arguments += ["-c", "SELECT " + counts[start..<min(start + 200, counts.count)].joined(separator: " + ")]
        }
        let summed = try await tool(arguments, extra: target)
        guard summed.succeeded else {
            throw JobsError(.io, "cannot count the rows of the restored \(database): \(summed.reason())")
        }
        let numbers = summed.stdout.split(whereSeparator: \.isNewline).compactMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        let bytes = numbers.first ?? 0
        let rows = numbers.dropFirst().reduce(0, +)
        return (tables, rows, bytes)
    }
}

extension Task where Success == Never, Failure == Never {
    static func checkCancellationAsJobsError() throws(JobsError) {
        if Task.isCancelled { throw JobsError(.io, "interrupted") }
    }
}
