public import Foundation
import OffsiteCloud

#if canImport(Glibc)
import Glibc
#endif

/// `offsite doctor`: everything `offsite config check` finds, and per repository what makes
/// backups fail later or restores fail when they are needed: the storage's answer to the
/// credentials (403) and the bucket's existence (404) told apart, this host's clock against the
/// server's, stale locks, S3 lifecycle rules that archive or delete repository files, and per job
/// how long ago the last successful backup was. Nothing is written anywhere.
public enum Doctor {
    /// A clock this far from the server's is a warning; S3 rejects signatures beyond 15 minutes.
    public static let skewWarning: TimeInterval = 5 * 60
    public static let skewProblem: TimeInterval = 15 * 60
    /// A lock not refreshed for this long is stale (a running command refreshes it every 5 minutes).
    public static let staleLockAge: TimeInterval = 30 * 60

    public static func run(_ orchestrator: Orchestrator, now: Date = Date()) async -> [Finding] {
        var findings = await ConfigCheck.run(orchestrator)
        for repository in orchestrator.configuration.repositories {
            findings += await checkStorage(repository, orchestrator)
            findings += await checkLocks(repository, orchestrator, now: now)
        }
        findings += checkBackupAges(orchestrator, now: now)
        return findings
    }

    // MARK: Storage: credentials, bucket, clock, lifecycle

    /// The repository's location as offsite reads it (`RESTIC_REPOSITORY_FILE` read), or nil.
    static func location(of repository: RepositoryTarget) -> String? {
        switch repository.location {
        case .url(let url): return url.reveal()
        case .file(let path):
            return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    static func checkStorage(_ repository: RepositoryTarget, _ orchestrator: Orchestrator) async -> [Finding] {
        guard let location = location(of: repository) else { return [] }
        let environment = orchestrator.environment(for: repository)
        let prefix = "repository \(repository.name)"
        do {
            if location.hasPrefix("s3:") {
                guard let backend = try S3Backend.make(location: location, environment: environment, options: [:]) as? S3Backend else {
                    return []
                }
                return await checkS3(backend, subject: prefix)
            }
            // Other HTTP backends: the clock only (their credentials are checked by opening the repository).
            let url: String
            if location.hasPrefix("rest:") {
                url = try RESTConfig.parse(location, environment: environment).url
            } else if location.hasPrefix("gs:") {
                url = try GCSConfig.parse(location, environment: environment, options: [:]).endpoint + "/"
            } else {
                return []
            }
            let started = Date()
            let reply = try await HTTPTransport.shared().send(HTTPRequest(method: "HEAD", url: url), maxBody: 1 << 16)
            return [clockFinding(reply, started: started, finished: Date(), subject: prefix + " clock")]
        } catch {
            return [Finding(.warning, prefix + " clock", "could not ask the server for its time: \(error)")]
        }
    }

    static func checkS3(_ backend: S3Backend, subject: String) async -> [Finding] {
        let config = backend.config
        let where_ = "bucket \(config.bucket) at \(config.endpoint)"
        var findings: [Finding] = []
        let started = Date()
        let listing: HTTPReply
        do {
            listing = try await backend.bucketRequest(query: [
                ("list-type", "2"), ("max-keys", "1"), ("prefix", config.prefix.isEmpty ? "" : config.prefix + "/"),
            ])
        } catch {
            return [Finding(.problem, subject + " bucket", "\(where_) cannot be reached: \(error)")]
        }
        findings.append(clockFinding(listing, started: started, finished: Date(), subject: subject + " clock"))
        let s3Error = S3Backend.errorCode(listing)
        switch (listing.status, s3Error?.code ?? "") {
        case (200, _):
            findings.append(Finding(.ok, subject + " bucket", "\(where_) answers; the credentials are accepted"))
        case (404, _):
            findings.append(
                Finding(
                    .problem, subject + " bucket",
                    "\(where_) does not exist (HTTP 404 \(s3Error?.code ?? "")): check the bucket name in the repository location and the endpoint; `offsite init` creates it"
                ))
            return findings
        case (403, "InvalidAccessKeyId"):
            findings.append(
                Finding(
                    .problem, subject + " bucket",
                    "credentials rejected by \(config.endpoint) (HTTP 403 InvalidAccessKeyId): the server does not know AWS_ACCESS_KEY_ID; check it (and that it is a key of this provider and account)"
                ))
            return findings
        case (403, "SignatureDoesNotMatch"):
            findings.append(
                Finding(
                    .problem, subject + " bucket",
                    "credentials rejected by \(config.endpoint) (HTTP 403 SignatureDoesNotMatch): AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID"
                ))
            return findings
        case (403, "RequestTimeTooSkewed"):
            findings.append(
                Finding(
                    .problem, subject + " bucket",
                    "\(config.endpoint) rejects every request because this host's clock is too far from its own (HTTP 403 RequestTimeTooSkewed); fix the clock (NTP)"
                ))
            return findings
        case (401, _), (403, _):
            findings.append(
                Finding(
                    .problem, subject + " bucket",
                    "access denied to \(where_) (HTTP \(listing.status) \(s3Error?.code ?? "")): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the key's permissions on the bucket (s3:ListBucket)"
                ))
            return findings
        default:
            let said = [s3Error?.code, s3Error?.message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            findings.append(
                Finding(.problem, subject + " bucket", "\(where_) answered HTTP \(listing.status) \(said) (region \(config.region))"))
            return findings
        }
        findings.append(await checkLifecycle(backend, subject: subject + " lifecycle"))
        return findings
    }

    static func checkLifecycle(_ backend: S3Backend, subject: String) async -> Finding {
        let config = backend.config
        let reply: HTTPReply
        do {
            reply = try await backend.bucketRequest(query: [("lifecycle", "")])
        } catch {
            return Finding(.warning, subject, "could not read the bucket's lifecycle rules: \(error)")
        }
        let code = S3Backend.errorCode(reply)?.code ?? ""
        switch reply.status {
        case 200: break
        case 404 where code == "NoSuchLifecycleConfiguration":
            return Finding(.ok, subject, "no lifecycle rules on bucket \(config.bucket)")
        case 403:
            return Finding(
                .warning, subject,
                "the key may not read bucket \(config.bucket)'s lifecycle rules (HTTP 403 \(code), s3:GetLifecycleConfiguration): check them in the provider's console; a transition to GLACIER or DEEP_ARCHIVE makes packs unreadable"
            )
        case 501:
            return Finding(
                .ok, subject, "\(config.endpoint) has no S3 lifecycle API (HTTP 501); check the provider's own lifecycle settings")
        default:
            return Finding(.warning, subject, "could not read the bucket's lifecycle rules (HTTP \(reply.status) \(code))")
        }
        guard let rules = S3LifecycleRule.parse(reply.body) else {
            return Finding(.warning, subject, "the bucket's lifecycle configuration did not parse (\(reply.body.count) bytes)")
        }
        return lifecycleFinding(rules, keyPrefix: config.prefix, bucket: config.bucket, subject: subject)
    }

    /// What `rules` do to the repository under `keyPrefix`: archiving to GLACIER or DEEP_ARCHIVE
    /// and expiring current objects are problems; GLACIER_IR is a warning (readable, but billed
    /// 90 days minimum and per GB read); other classes are fine.
    static func lifecycleFinding(_ rules: [S3LifecycleRule], keyPrefix: String, bucket: String, subject: String) -> Finding {
        var problems: [String] = []
        var warnings: [String] = []
        for rule in rules where rule.enabled && rule.selects(keyPrefix: keyPrefix) && !rule.filtersOnTags {
            let name = "rule \"\(rule.id.isEmpty ? "(no ID)" : rule.id)\""
            for t in rule.transitions {
                let when = t.days.map { "after \($0) days" } ?? t.date.map { "on \($0)" } ?? ""
                switch t.storageClass {
                case "GLACIER", "DEEP_ARCHIVE":
                    problems.append(
                        "\(name) moves repository files to \(t.storageClass) \(when): packs there cannot be read without a restore request, so restore, check --read-data and prune fail on them; remove the transition (deploy/aws/s3-lifecycle.json has a safe rule)"
                    )
                case "GLACIER_IR":
                    warnings.append(
                        "\(name) moves repository files to GLACIER_IR \(when): still readable at once, but billed for 90 days minimum and per GB read, so prune and check --read-data cost extra"
                    )
                default: break
                }
            }
            if rule.expirationDays != nil || rule.expirationDate != nil {
                let when = rule.expirationDays.map { "\($0) days after upload" } ?? rule.expirationDate.map { "on \($0)" } ?? ""
                problems.append(
                    "\(name) deletes repository files \(when): packs still used by recent snapshots would vanish; let offsite forget and prune do the retention"
                )
            }
        }
        if !problems.isEmpty { return Finding(.problem, subject, (problems + warnings).joined(separator: "; ")) }
        if !warnings.isEmpty { return Finding(.warning, subject, warnings.joined(separator: "; ")) }
        return Finding(
            .ok, subject,
            "\(rules.count) lifecycle rule\(rules.count == 1 ? "" : "s") on bucket \(bucket), none archives or deletes the repository's current files"
        )
    }

    /// The server's `Date` header against this host's clock, at the middle of the request.
    static func clockFinding(_ reply: HTTPReply, started: Date, finished: Date, subject: String) -> Finding {
        guard let text = reply.header("Date"), let server = httpDate.date(from: text) else {
            return Finding(.warning, subject, "the server sent no Date header; the clock could not be compared")
        }
        let local = started.addingTimeInterval(finished.timeIntervalSince(started) / 2)
        // The header has whole seconds: a second either way is no skew.
        let skew = server.timeIntervalSince(local)
        let said = "this host's clock is \(describe(abs(skew))) \(skew > 0 ? "behind" : "ahead of") the server's"
        if abs(skew) > skewProblem {
            return Finding(.problem, subject, "\(said): S3 rejects requests signed more than 15 minutes off; fix the clock (NTP)")
        }
        if abs(skew) > skewWarning {
            return Finding(.warning, subject, "\(said); S3 rejects requests beyond 15 minutes: fix the clock (NTP)")
        }
        return Finding(.ok, subject, "within \(describe(max(abs(skew), 1))) of the server's")
    }

    static let httpDate: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f
    }()

    // MARK: Locks

    static func checkLocks(_ repository: RepositoryTarget, _ orchestrator: Orchestrator, now: Date) async -> [Finding] {
        let subject = "repository \(repository.name) locks"
        do {
            let listed = try await orchestrator.offsite(["list", "locks", "--no-lock"], repository: repository)
            // A repository that cannot be opened was reported by the configuration check.
            guard listed.succeeded else {
                return listed.status == 10 || listed.status == 12
                    ? [] : [Finding(.warning, subject, "cannot list the locks: \(listed.reason())")]
            }
            let ids = listed.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            if ids.isEmpty { return [Finding(.ok, subject, "no locks")] }
            var findings: [Finding] = []
            for id in ids {
                let out = try await orchestrator.offsite(["cat", "lock", id, "--no-lock"], repository: repository)
                // Removed meanwhile (its command finished): nothing to report.
                guard out.succeeded else { continue }
                guard let lock = try? JSONDecoder().decode(LockDocument.self, from: Data(out.stdout.utf8)) else {
                    findings.append(
                        Finding(.warning, subject, "lock \(id.prefix(8)) cannot be read; run offsite unlock if no command is running"))
                    continue
                }
                findings.append(lockFinding(lock, id: id, now: now, hostname: Configuration.systemHostName(), subject: subject))
            }
            return findings
        } catch {
            return [Finding(.warning, subject, "cannot list the locks: \(error.message)")]
        }
    }

    struct LockDocument: Decodable {
        var time: String
        var exclusive: Bool
        var hostname: String
        var username: String?
        var pid: Int32
    }

    /// As `offsite unlock` decides: stale when not refreshed for 30 minutes, or taken on this host
    /// by a process that no longer exists.
    static func lockFinding(_ lock: LockDocument, id: String, now: Date, hostname: String, subject: String) -> Finding {
        let taken = parseLockTime(lock.time)
        let age = taken.map { now.timeIntervalSince($0) }
        let who =
            "lock \(id.prefix(8)) (\(lock.exclusive ? "exclusive" : "shared"), pid \(lock.pid) on \(lock.hostname)\(age.map { ", refreshed \(describe(max($0, 0))) ago" } ?? ""))"
        var stale: String?
        if let age, age > staleLockAge {
            stale = "not refreshed for over 30 minutes"
        } else if lock.hostname == hostname && lock.pid > 0 && !processExists(lock.pid) {
            stale = "its process no longer exists"
        }
        if let stale {
            return Finding(
                .warning, subject,
                "\(who) is stale: \(stale); it blocks \(lock.exclusive ? "every command" : "prune, check and other exclusive commands"): run offsite unlock"
            )
        }
        return Finding(.ok, subject, "\(who) held by a running command")
    }

    /// RFC 3339 with any fraction of a second (Go writes nanoseconds) and any offset.
    static func parseLockTime(_ text: String) -> Date? {
        var t = text
        if let dot = t.firstIndex(of: "."), let end = t[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            t.removeSubrange(dot..<end)
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: t)
    }

    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    // MARK: Last backups

    static func checkBackupAges(_ orchestrator: Orchestrator, now: Date) -> [Finding] {
        let state: RunState
        do {
            state = try orchestrator.store.load()
        } catch {
            return [Finding(.problem, "state", error.message)]
        }
        let configuration = orchestrator.configuration
        return configuration.jobs.map { job in
            backupAgeFinding(job, state: state, timeZone: configuration.timeZone, now: now, stateDirectory: orchestrator.store.directory)
        }
    }

    static func backupAgeFinding(_ job: JobDefinition, state: RunState, timeZone: TimeZone, now: Date, stateDirectory: String) -> Finding {
        let subject = "job \(job.name) last backup"
        let latest = state.latest(.backup, job.name)
        let failed = latest.flatMap { $0.success ? nil : " (the latest attempt failed: \($0.message))" } ?? ""
        guard let success = state.lastSuccessful["\(Operation.backup.rawValue)/\(job.name)"] else {
            return Finding(
                .problem, subject,
                "no successful backup recorded in \(stateDirectory)\(failed); run offsite run \(job.name) (or check the daemon is running)")
        }
        let finished = success.started.addingTimeInterval(success.duration)
        let age = max(now.timeIntervalSince(finished), 0)
        let interval = scheduleInterval(job.schedule, timeZone: timeZone, from: finished)
        let said = "last successful backup \(describe(age)) ago"
        if age > 2 * interval {
            return Finding(
                .warning, subject,
                "\(said), more than twice the schedule's interval (\(job.schedule), every \(describe(interval)))\(failed); check the daemon and the logs"
            )
        }
        return Finding(.ok, subject, said + failed)
    }

    /// The longest gap between consecutive runs of `schedule` (weekday schedules have uneven gaps).
    static func scheduleInterval(_ schedule: CronSchedule, timeZone: TimeZone, from start: Date) -> TimeInterval {
        if let every = schedule.interval { return TimeInterval(every.components.seconds) }
        var previous = schedule.next(after: start, in: timeZone)
        var longest: TimeInterval = 60
        for _ in 0..<8 {
            let next = schedule.next(after: previous, in: timeZone)
            longest = max(longest, next.timeIntervalSince(previous))
            previous = next
        }
        return longest
    }

    /// `45 s`, `12 min`, `5 h 3 min`, `3 d 4 h`.
    static func describe(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86400 { return "\(s / 3600) h" + (s % 3600 / 60 > 0 ? " \(s % 3600 / 60) min" : "") }
        return "\(s / 86400) d" + (s % 86400 / 3600 > 0 ? " \(s % 86400 / 3600) h" : "")
    }
}
