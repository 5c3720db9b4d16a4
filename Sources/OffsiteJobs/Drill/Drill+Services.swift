import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Orchestrator {
    // MARK: Redis

    func drillRedis(_ job: JobDefinition, repository: RepositoryTarget, base: String, record: inout RunRecord) async throws(JobsError) {
        let snapshot = try await latestSnapshot(job, repository: repository)
        guard snapshot.paths == ["/redis.rdb"] else {
            throw JobsError(
                .repository,
                "snapshot \(snapshot.short) of \(job.name) holds \(snapshot.paths.joined(separator: ", ")), not the /redis.rdb a redis job writes"
            )
        }
        let scratch = try DrillScratch(base: base, job: job.name)
        defer { scratch.remove() }
        let directory = scratch.path + "/restore"
        let restore = try await offsite(["restore", snapshot.id, "--target", directory, "--verify"], repository: repository)
        guard restore.succeeded else {
            throw JobsError(.repository, "restoring redis.rdb from snapshot \(snapshot.short) failed: \(restore.reason())")
        }
        // redis-server opens the file by name: it must be the regular file the snapshot should
        // hold, not a symlink (to the live server's data, say), a FIFO or a device it restored.
        var st = stat()
        guard lstat(directory + "/redis.rdb", &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw JobsError(
                .repository,
                "snapshot \(snapshot.short) of \(job.name) holds no regular file /redis.rdb (a symlink, FIFO or device is not loaded): run offsite ls \(snapshot.short) to see what it holds"
            )
        }
        let size = DrillScratch.census(directory).bytes
        record.snapshotID = snapshot.id
        record.bytesProcessed = size
        let restored = try await loadRDB(directory: directory, snapshot: snapshot)
        let live = await liveKeyCount(job.redis)
        let liveText =
            live.count.map { "live server: \(Self.plural($0, "key"))" } ?? "live server not compared: \(live.problem ?? "unreachable")"
        if restored == 0, let count = live.count, count > 0 {
            throw JobsError(
                .repository, "snapshot \(snapshot.short)'s redis.rdb loads but holds no key, while the live server has \(count)")
        }
        record.success = true
        record.message =
            "restored snapshot \(snapshot.short) (redis.rdb, \(Self.bytes(size))) into a throwaway redis-server: \(Self.plural(restored, "key")) (\(liveText))"
    }

    /// Loads `directory/redis.rdb` into a throwaway redis-server on a free loopback port and returns
    /// its key count; the server is stopped whatever happens.
    func loadRDB(directory: String, snapshot: DrillSnapshot) async throws(JobsError) -> Int {
        for attempt in 1...3 {
            let port = try freeLoopbackPort()
            let outcome = ChildOutcome()
            let arguments = [
                "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--dbfilename", "redis.rdb",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "", "--databases", "256",
            ]
            let server = Task {
                let result: Result<CommandRunner.Output, JobsError>
                do {
                    result = .success(try await tool(arguments, graceSeconds: 5))
                } catch let error as JobsError {
                    result = .failure(error)
                } catch {
                    result = .failure(JobsError(.io, "\(error)"))
                }
                outcome.set(result)
            }
            let cli = ["redis-cli", "-h", "127.0.0.1", "-p", String(port)]
            var answered = false
            // Loading a large RDB takes a while: redis answers LOADING meanwhile.
            let deadline = Date().addingTimeInterval(3600)
            while outcome.result == nil, !Task.isCancelled, Date() < deadline {
                if let ping = try? await tool(cli + ["PING"], removing: ["REDISCLI_AUTH"]), ping.stdout.hasPrefix("PONG") {
                    answered = true
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            var keys: Int?
            var problem: String?
            if answered {
                let info = try? await tool(cli + ["INFO", "keyspace"], removing: ["REDISCLI_AUTH"])
                keys = info.flatMap { $0.succeeded ? Self.keyCount(infoKeyspace: $0.stdout) : nil }
                if keys == nil {
                    problem = "the throwaway redis-server did not answer INFO keyspace: \(info?.reason() ?? "redis-cli did not run")"
                }
            }
            await uncancellable {
                _ = try? await tool(cli + ["SHUTDOWN", "NOSAVE"], removing: ["REDISCLI_AUTH"])
                let stopBy = Date().addingTimeInterval(10)
                while outcome.result == nil, Date() < stopBy { try? await Task.sleep(for: .milliseconds(50)) }
                server.cancel()
                await server.value
            }
            try Task.checkCancellationAsJobsError()
            if let keys { return keys }
            if let problem { throw JobsError(.io, problem) }
            switch outcome.result {
            case .failure(let error)?:
                throw JobsError(.io, "cannot start redis-server for the drill: \(error.message)")
            case .success(let output)?:
                let log = Self.redisLogTail(output.stdout + "\n" + output.stderr)
                if log.contains("Address already in use"), attempt < 3 { continue }
                throw JobsError(
                    .repository,
                    "snapshot \(snapshot.short)'s redis.rdb does not load: \(log.isEmpty ? "redis-server exited with status \(output.status)" : log)"
                )
            case nil:
                throw JobsError(.io, "the throwaway redis-server did not become ready within an hour")
            }
        }
        throw JobsError(.io, "no free port for the throwaway redis-server")
    }

    /// The live server's key count, or why it could not be read (the drill reports, never fails on it).
    func liveKeyCount(_ settings: RedisSettings) async -> (count: Int?, problem: String?) {
        var extra: [String: String] = [:]
        do {
            if let password = try settings.resolvedPassword() { extra["REDISCLI_AUTH"] = password }
            let info = try await tool(
                ["redis-cli", "-h", settings.host, "-p", String(settings.port), "--no-auth-warning", "INFO", "keyspace"], extra: extra,
                removing: ["REDISCLI_AUTH"])
            if info.succeeded, let count = Self.keyCount(infoKeyspace: info.stdout) { return (count, nil) }
            let answer = info.stdout.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return (nil, answer.isEmpty ? info.reason() : answer)
        } catch {
            return (nil, error.message)
        }
    }

    /// The sum of `keys=` over `INFO keyspace`'s `dbN:keys=…` lines; nil when it is not such an answer.
    static func keyCount(infoKeyspace text: String) -> Int? {
        guard text.contains("# Keyspace") else { return nil }
        var total = 0
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("db") {
            for field in line.split(separator: ":").dropFirst().first?.split(separator: ",") ?? [] where field.hasPrefix("keys=") {
                total += Int(field.dropFirst(5)) ?? 0
            }
        }
        return total
    }

    /// The last meaningful lines of redis-server's log, without its pid and time prefix.
    static func redisLogTail(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { line -> String in
            for marker in [" # ", " * ", " - ", " . "] {
                if let range = line.range(of: marker) { return String(line[range.upperBound...]) }
            }
            return String(line)
        }
        let meaningful = lines.filter { !$0.isEmpty && !$0.contains("WARNING") && !$0.hasPrefix("oO0OoO0Oo") }
        return meaningful.suffix(2).joined(separator: " / ")
    }

    // MARK: Volumes

    func drillVolumes(_ job: JobDefinition, repository: RepositoryTarget, base: String, record: inout RunRecord) async throws(JobsError) {
        let snapshot = try await latestSnapshot(job, repository: repository)
        let scratch = try DrillScratch(base: base, job: job.name)
        defer { scratch.remove() }
        let target = scratch.path + "/restore"
        let restore = try await offsite(["restore", snapshot.id, "--target", target, "--verify"], repository: repository)
        try Task.checkCancellationAsJobsError()
        guard restore.succeeded else {
            throw JobsError(
                .repository,
                "restoring snapshot \(snapshot.short) with --verify failed\(restore.status == 3 ? " (some files could not be restored or verified)" : ""): \(restore.reason())"
            )
        }
        let census = DrillScratch.census(target)
        record.snapshotID = snapshot.id
        record.bytesProcessed = census.bytes
        record.success = true
        record.message =
            "restored and verified snapshot \(snapshot.short) into a scratch directory: \(Self.plural(census.files, "file")), \(Self.bytes(census.bytes))"
    }
}
