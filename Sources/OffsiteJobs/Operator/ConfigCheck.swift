import AsyncHTTPClient
public import Foundation
import NIOCore

/// One finding of `offsite config check` or `offsite doctor`.
public struct Finding: Sendable, Equatable, Codable {
    public enum Level: String, Sendable, Codable { case ok, warning, problem }
    public var level: Level
    /// What was checked: `repository default`, `job postgres`, `pushgateway`…
    public var subject: String
    /// The result, and for a problem what to do. Never contains a secret.
    public var message: String

    public init(_ level: Level, _ subject: String, _ message: String) {
        self.level = level
        self.subject = subject
        self.message = message
    }

    public var line: String {
        let mark =
            switch level {
            case .ok: "ok     "
            case .warning: "warning"
            case .problem: "PROBLEM"
            }
        return "\(mark)  \(subject): \(message)"
    }
}

/// `offsite config check`: after the configuration parsed (every mistake in it is reported by
/// then), can each part be reached? The repository opened with its password, each database
/// answered with its credentials, Redis answered PING, each volume can be read, the pushgateway
/// answers. Nothing is written anywhere.
public enum ConfigCheck {
    public static func run(_ orchestrator: Orchestrator) async -> [Finding] {
        let configuration = orchestrator.configuration
        var findings: [Finding] = []
        for repository in configuration.repositories {
            findings.append(await checkRepository(repository, orchestrator))
        }
        for job in configuration.jobs {
            findings.append(contentsOf: await checkJob(job, orchestrator))
        }
        if let url = configuration.pushgateway {
            findings.append(await checkPushgateway(url))
        }
        return findings
    }

    static func checkRepository(_ repository: RepositoryTarget, _ orchestrator: Orchestrator) async -> Finding {
        let subject = "repository \(repository.name) (\(repository.location))"
        do {
            let out = try await orchestrator.offsite(["cat", "config", "--no-lock"], repository: repository)
            if out.succeeded { return Finding(.ok, subject, "opens with the configured password") }
            if out.status == 10 { return Finding(.warning, subject, "no repository there yet; the first run creates it") }
            if out.status == 12 {
                return Finding(
                    .problem, subject,
                    "wrong password: check RESTIC_PASSWORD (or its file or command) against the one the repository was created with")
            }
            return Finding(.problem, subject, out.reason())
        } catch {
            return Finding(.problem, subject, error.message)
        }
    }

    static func checkJob(_ job: JobDefinition, _ orchestrator: Orchestrator) async -> [Finding] {
        let subject = "job \(job.name)"
        do {
            switch job.kind {
            case .postgres:
                let env = orchestrator.environment(for: try orchestrator.repository(of: job), extra: try job.postgres.resolvedVariables())
                var findings: [Finding] = []
                for database in job.databases.isEmpty ? [job.postgres.database ?? "postgres"] : job.databases {
                    let out = try await CommandRunner.run(
                        [
                            "psql", "--no-password", "-X", "-At", "-d", database, "-c",
                            "select count(*) from pg_catalog.pg_tables where schemaname not in ('pg_catalog','information_schema')",
                        ],
                        environment: env)
                    if out.succeeded {
                        findings.append(
                            Finding(
                                .ok, subject,
                                "database \(database) answers (\(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) tables)"))
                    } else {
                        findings.append(
                            Finding(.problem, subject, "database \(database): \(out.reason()) (check PGHOST, PGPORT, PGUSER, PGPASSWORD)"))
                    }
                }
                return findings
            case .redis:
                var extra: [String: String] = [:]
                if let password = try job.redis.resolvedPassword() { extra["REDISCLI_AUTH"] = password }
                let env = orchestrator.environment(for: try orchestrator.repository(of: job), extra: extra)
                let out = try await CommandRunner.run(
                    ["redis-cli", "-h", job.redis.host, "-p", String(job.redis.port), "--no-auth-warning", "ping"], environment: env)
                let reply = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if out.succeeded && reply == "PONG" {
                    return [Finding(.ok, subject, "redis at \(job.redis.host):\(job.redis.port) answers")]
                }
                let why = reply.isEmpty ? out.reason() : reply
                return [
                    Finding(
                        .problem, subject,
                        "redis at \(job.redis.host):\(job.redis.port): \(why) (check REDIS_HOST, REDIS_PORT, REDIS_PASSWORD)")
                ]
            case .volumes:
                return job.paths.map { path in
                    var isDirectory: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                        return Finding(
                            .problem, subject, "\(path) does not exist (check BACKUP_VOLUMES, BACKUP_VAULT_PATH and the container's mounts)"
                        )
                    }
                    guard FileManager.default.isReadableFile(atPath: path) else {
                        return Finding(.problem, subject, "\(path) cannot be read by this user")
                    }
                    return Finding(.ok, subject, "\(path) is readable")
                }
            }
        } catch {
            return [Finding(.problem, subject, error.message)]
        }
    }

    static func checkPushgateway(_ url: URL) async -> Finding {
        let shown = JobSettings.redactingCredentials(url.absoluteString)
        let subject = "pushgateway \(shown)"
        var request = HTTPClientRequest(url: url.appendingPathComponent("-/healthy").absoluteString)
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            if response.status.code == 200 { return Finding(.ok, subject, "answers") }
            return Finding(.problem, subject, "answered HTTP \(response.status.code) to /-/healthy")
        } catch {
            return Finding(.problem, subject, "cannot be reached (\(type(of: error))); metrics will not be pushed, backups still run")
        }
    }
}
