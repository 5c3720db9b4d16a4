public import Foundation
import OffsiteSync

/// `offsite daemon`: runs the configuration's schedules until its task is cancelled (SIGTERM,
/// SIGINT), and serves `/metrics` and `/healthz` when `listen` is set.
///
/// Schedules (one per `ScheduleEntry`):
/// - backups: when every configured job has the same schedule expression (a `.env` configuration,
///   where all share `BACKUP_SCHEDULE`), one entry `backup/all` runs them together as
///   `orchestrator.run(jobs, mode: "all")`, as `offsite run all` does. Otherwise each job is its own
///   entry `backup/JOB`, run as `orchestrator.run([job], mode: JOB)`. Expressions are compared as
///   written (`@daily` and `0 0 * * *` are different schedules);
/// - `prune/REPO` and `check/REPO` for each repository with a prune or check schedule;
/// - `drill/all` on `drillSchedule`, when a drill closure is given: each job's drill in turn.
///
/// Rules:
/// - An entry never overlaps itself: a firing that finds the previous run still going is skipped
///   (and logged).
/// - Operations on one repository never run at the same time: an entry waits for the repositories
///   it uses to be free (backups of other repositories go on).
/// - Catch-up: the state remembers each entry's last handled slot (`RunState.handledSlots`). At
///   start, an entry whose next slot after the handled one has passed runs once at once, however
///   many slots were missed. On the first start (no handled slot) nothing runs until the next slot.
///   A slot counts as handled when its run finished (or was skipped as an overlap); a run cut
///   short by shutdown is caught up at the next start.
/// - Times: cron fields are read in `configuration.timeZone`; the loop sleeps on `clock` (the wall
///   clock, which notices cancellation and clock changes within a second; tests pass a simulated
///   one). Several slots passed at once (suspend, clock jump) collapse into one run.
/// - Shutdown: cancelling the task cancels running operations (their offsite commands receive
///   SIGTERM, stop cleanly and release their locks), waits for them, stops the server and returns.
public final class Daemon: Sendable {
    public let orchestrator: Orchestrator
    /// `host:port` for `/metrics` and `/healthz`, nil for no server; port 0 picks a free port.
    public let listen: String?
    let metrics: @Sendable () -> String
    let drill: (@Sendable (JobDefinition) async -> RunRecord)?
    let entries: [ScheduleEntry]
    let clock: any DaemonClock
    private let status = Mutex(Status())
    private let queue = RepositoryQueue()

    struct Status {
        var running: Set<String> = []
        var loopAlive = false
        var stateProblem: String?
        var address: (host: String, port: Int)?
    }

    /// - Parameters:
    ///   - orchestrator: runs the operations; its `log` is the daemon's log too.
    ///   - listen: where to serve metrics (normally `configuration.listen`), nil for nowhere.
    ///   - metrics: the `/metrics` text (Prometheus exposition format 0.0.4), computed per request.
    ///   - drill: runs one job's restore drill; nil skips drills even when `drillSchedule` is set.
    ///     The daemon saves the record it returns, logs its outcome and publishes metrics.
    ///   - clock: what the schedules follow; the wall clock unless a test simulates time.
    public init(
        orchestrator: Orchestrator, listen: String?, metrics: @escaping @Sendable () -> String = { "" },
        drill: (@Sendable (JobDefinition) async -> RunRecord)? = nil, clock: any DaemonClock = WallClock()
    ) {
        self.orchestrator = orchestrator
        self.clock = clock
        self.listen = listen
        self.metrics = metrics
        self.drill = drill
        self.entries = ScheduleEntry.entries(for: orchestrator.configuration, drills: drill != nil)
    }

    var configuration: Configuration { orchestrator.configuration }
    func log(_ message: String) { orchestrator.log(message) }

    /// The address the server is bound to (the real port when `listen` asked for port 0), once
    /// `run()` has started it.
    public var boundAddress: (host: String, port: Int)? { status.withLock { $0.address } }

    /// `/healthz`: healthy while the scheduler runs and the state file can be written.
    public var health: (healthy: Bool, reason: String) {
        status.withLock { s in
            if !s.loopAlive { return (false, "scheduler not running") }
            if let problem = s.stateProblem { return (false, problem) }
            return (true, "ok")
        }
    }

    /// Runs the schedules until the calling task is cancelled, then stops running operations
    /// cleanly and returns.
    /// - Throws: `.io` when another daemon runs with the same state directory (`DaemonLock`), the
    ///   state cannot be read or the server cannot listen.
    public func run() async throws(JobsError) {
        let instance = try DaemonLock.acquire(directory: orchestrator.store.directory)
        defer { instance.release() }
        var server: MetricsServer?
        if let listen {
            let s = try await MetricsServer.start(listen: listen, metrics: metrics, health: { [self] in health })
            server = s
            status.withLock { $0.address = (s.host, s.port) }
            log("daemon: serving /metrics and /healthz on \(s.host):\(s.port)")
        }
        let plans: [(entry: ScheduleEntry, next: Date, catchUp: Date?)]
        do {
            plans = try plan(now: clock.now())
        } catch {
            await server?.stop()
            throw error
        }
        status.withLock { $0.loopAlive = true }
        log(
            "daemon: started with \(entries.count) schedule\(entries.count == 1 ? "" : "s") (time zone \(configuration.timeZone.identifier))"
        )
        for plan in plans {
            log(
                "\(plan.entry.key): schedule \"\(plan.entry.schedule.expression)\", next run \(plan.catchUp == nil ? Self.format(plan.next) : "now (catch-up)")"
            )
        }
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                // Keeps the daemon (and its server) up until cancelled, even with no schedule.
                group.addTask { _ = await WallClock().sleep(until: .distantFuture) }
                for plan in plans {
                    group.addTask { await self.loop(plan.entry, next: plan.next, catchUp: plan.catchUp) }
                }
            }
        } onCancel: {
            let running = status.withLock { $0.running.sorted() }
            log("daemon: stop requested\(running.isEmpty ? "" : ", stopping \(running.joined(separator: ", "))")")
        }
        status.withLock { $0.loopAlive = false }
        log("daemon: shutting down")
        await server?.stop()
        log("daemon: stopped")
    }

    /// Each entry's first slot, and whether a missed run is to be caught up (the first slot missed);
    /// entries never run before get `now` as their handled slot.
    func plan(now: Date) throws(JobsError) -> [(entry: ScheduleEntry, next: Date, catchUp: Date?)] {
        let state = try orchestrator.store.load()
        let zone = configuration.timeZone
        var fresh: [String] = []
        var plans: [(entry: ScheduleEntry, next: Date, catchUp: Date?)] = []
        for entry in entries {
            guard let handled = state.handledSlots[entry.key], handled <= now else {
                if state.handledSlots[entry.key] == nil { fresh.append(entry.key) }
                plans.append((entry, entry.schedule.next(after: now, in: zone), nil))
                continue
            }
            let due = entry.schedule.next(after: handled, in: zone)
            if due <= now {
                plans.append((entry, entry.schedule.next(after: now, in: zone), due))
            } else {
                plans.append((entry, due, nil))
            }
        }
        if !fresh.isEmpty {
            try orchestrator.store.update { state in
                for key in fresh where state.handledSlots[key] == nil { state.handledSlots[key] = now }
            }
        }
        return plans
    }

    /// One entry's schedule: sleeps until each slot and starts its run, or skips the slot when the
    /// previous run is still going. Returns when cancelled, after its run has stopped.
    func loop(_ entry: ScheduleEntry, next first: Date, catchUp: Date?) async {
        let zone = configuration.timeZone
        await withDiscardingTaskGroup { group in
            if let missed = catchUp {
                log("\(entry.key): the run due at \(Self.format(missed)) was missed while the daemon was stopped, running it now")
                fire(entry, slot: clock.now(), in: &group)
            }
            var next = first
            while await clock.sleep(until: next) {
                let now = clock.now()
                fire(entry, slot: next, in: &group)
                var following = entry.schedule.next(after: next, in: zone)
                if following <= now {
                    log(
                        "\(entry.key): runs after \(Self.format(next)) were missed (clock change or suspend); next run \(Self.format(entry.schedule.next(after: now, in: zone)))"
                    )
                    following = entry.schedule.next(after: now, in: zone)
                }
                next = following
            }
        }
    }

    private func fire(_ entry: ScheduleEntry, slot: Date, in group: inout DiscardingTaskGroup) {
        let busy = status.withLock { s in
            if s.running.contains(entry.key) { return true }
            s.running.insert(entry.key)
            return false
        }
        if busy {
            log("\(entry.key): skipped the run due at \(Self.format(slot)): the previous run is still going")
            markHandled(entry.key, slot)
            return
        }
        group.addTask {
            await self.execute(entry, slot: slot)
            _ = self.status.withLock { $0.running.remove(entry.key) }
        }
    }

    /// Runs one firing of `entry` once its repositories are free.
    func execute(_ entry: ScheduleEntry, slot: Date) async {
        let repositories = entry.repositories
        if await queue.isBusy(repositories) {
            log("\(entry.key): waiting for \(repositories.sorted().joined(separator: ", ")) (another operation is running)")
        }
        guard await queue.acquire(repositories) else { return }
        switch entry.action {
        case .backup(let jobs, let mode):
            _ = await orchestrator.run(jobs, mode: mode)
        case .prune(let repository):
            _ = await orchestrator.prune(repository)
        case .check(let repository):
            _ = await orchestrator.check(repository)
        case .drill(let jobs):
            if let drill {
                for job in jobs {
                    if Task.isCancelled { break }
                    log("\(job.name): drill started")
                    let record = await drill(job)
                    orchestrator.save(record)
                    log(
                        "\(job.name): drill \(record.outcome(completed: "completed in \(Orchestrator.seconds(record.duration))"))"
                    )
                }
                await orchestrator.publish()
            }
        }
        await queue.release(repositories)
        if !Task.isCancelled { markHandled(entry.key, slot) }
    }

    /// Records `slot` as handled for `key` (never moving it back); a failure to write is logged
    /// and reported by `/healthz` until a write succeeds.
    func markHandled(_ key: String, _ slot: Date) {
        do {
            try orchestrator.store.update { state in
                if let old = state.handledSlots[key], old >= slot { return }
                state.handledSlots[key] = slot
            }
            status.withLock { $0.stateProblem = nil }
        } catch {
            status.withLock { $0.stateProblem = error.message }
            log("state: \(error.message)")
        }
    }

    static func format(_ date: Date) -> String { date.formatted(.iso8601) }
}

/// One schedule of the daemon: what runs, when, and the repositories it uses.
public struct ScheduleEntry: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case backup([JobDefinition], mode: String)
        case prune(RepositoryTarget)
        case check(RepositoryTarget)
        case drill([JobDefinition])
    }

    /// `backup/all`, `backup/JOB`, `prune/REPO`, `check/REPO` or `drill/all`: the name in the log
    /// and the key of `RunState.handledSlots`.
    public var key: String
    public var schedule: CronSchedule
    public var action: Action

    /// The repositories the action writes to or reads.
    public var repositories: Set<String> {
        switch action {
        case .backup(let jobs, _), .drill(let jobs): Set(jobs.map(\.repository))
        case .prune(let r), .check(let r): [r.name]
        }
    }

    /// The daemon's schedules for `configuration` (see `Daemon` for the grouping rule).
    public static func entries(for configuration: Configuration, drills: Bool) -> [ScheduleEntry] {
        var entries: [ScheduleEntry] = []
        let jobs = configuration.jobs
        if let first = jobs.first, jobs.allSatisfy({ $0.schedule.expression == first.schedule.expression }) {
            entries.append(ScheduleEntry(key: "backup/all", schedule: first.schedule, action: .backup(jobs, mode: "all")))
        } else {
            for job in jobs {
                entries.append(ScheduleEntry(key: "backup/\(job.name)", schedule: job.schedule, action: .backup([job], mode: job.name)))
            }
        }
        for repository in configuration.repositories {
            if let schedule = repository.pruneSchedule {
                entries.append(ScheduleEntry(key: "prune/\(repository.name)", schedule: schedule, action: .prune(repository)))
            }
            if let schedule = repository.checkSchedule {
                entries.append(ScheduleEntry(key: "check/\(repository.name)", schedule: schedule, action: .check(repository)))
            }
        }
        if drills, let schedule = configuration.drillSchedule, !jobs.isEmpty {
            entries.append(ScheduleEntry(key: "drill/all", schedule: schedule, action: .drill(jobs)))
        }
        return entries
    }

    /// The entry whose schedule runs `job`'s backups.
    public static func backupKey(of job: JobDefinition, in entries: [ScheduleEntry]) -> String? {
        entries.first { entry in
            if case .backup(let jobs, _) = entry.action { return jobs.contains { $0.name == job.name } }
            return false
        }?.key
    }

    /// The next run after `now`, given the slot last handled (for `@every`, slots follow the
    /// handled one; a slot already passed means a catch-up is due, reported as `now`).
    public func nextRun(after now: Date, handled: Date?, in timeZone: TimeZone) -> Date {
        guard let handled, handled <= now else { return schedule.next(after: now, in: timeZone) }
        let due = schedule.next(after: handled, in: timeZone)
        return due <= now ? now : due
    }
}

/// Serialises operations per repository: an operation holds every repository it uses until it
/// ends; others wait (polling, so a cancelled waiter simply leaves).
actor RepositoryQueue {
    private var held: Set<String> = []

    func isBusy(_ names: Set<String>) -> Bool { !held.isDisjoint(with: names) }

    /// Waits until none of `names` is held and takes them all. False when cancelled first.
    func acquire(_ names: Set<String>) async -> Bool {
        while !held.isDisjoint(with: names) {
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                return false
            }
        }
        if Task.isCancelled { return false }
        held.formUnion(names)
        return true
    }

    func release(_ names: Set<String>) { held.subtract(names) }
}
