import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteJobs

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The daemon end to end: the real offsite binary backs up a scratch directory into a local
/// repository on `@every 2s` schedules. Waits are generous (the suite runs in parallel on few
/// cores, where one offsite command can take seconds).
@Suite struct DaemonTests {
    static let password = "daemon test password"

    /// One scratch directory: `repo`, `state`, `data` (a few files), `daemon.log`.
    struct Fixture {
        let dir: String
        var repo: String { dir + "/repo" }
        var data: String { dir + "/data" }
        var store: StateStore { StateStore(directory: dir + "/state") }
        var logFile: String { dir + "/daemon.log" }

        init(_ dir: String, files: [String: Int] = ["a.txt": 100, "b.txt": 2000]) throws {
            self.dir = dir
            try FileManager.default.createDirectory(atPath: dir + "/data/sub", withIntermediateDirectories: true)
            var random = TreeFixture.RandomBytes(seed: 1006)
            for (name, size) in files {
                try Data(random.next(size)).write(to: URL(fileURLWithPath: dir + "/data/sub/" + name))
            }
        }

        func configuration(
            schedule: String, password: JobSettings.PasswordSource = .value(Secret(DaemonTests.password)), listen: String? = nil,
            uploadKiB: Int? = nil
        ) throws -> Configuration {
            var environment = ProcessInfo.processInfo.environment
            environment["TZ"] = "UTC"
            if let uploadKiB { environment["BACKUP_LIMIT_UPLOAD"] = String(uploadKiB) }
            environment["XDG_CACHE_HOME"] = dir + "/cache"
            let repository = RepositoryTarget(
                name: "default", location: .url(Secret(repo)), password: password, pruneSchedule: nil, checkSchedule: nil,
                checkRotation: 1)
            let job = JobDefinition(
                name: "volumes", kind: .volumes, repository: "default", schedule: try CronSchedule(parsing: schedule),
                retention: RetentionSettings(daily: 0, weekly: 0, monthly: 0), paths: [data])
            return Configuration(
                repositories: [repository], jobs: [job], listen: listen, host: "daemon-test", timeZone: TimeZone(identifier: "UTC")!,
                environment: environment)
        }

        func daemon(
            _ configuration: Configuration, metrics: @escaping @Sendable () -> String = { "" }, clock: any DaemonClock = WallClock()
        ) throws -> Daemon {
            let log = try EventLog(path: logFile, echo: false)
            let orchestrator = Orchestrator(configuration: configuration, offsite: try OffsiteBinary.path(), store: store, log: log.sink)
            return Daemon(orchestrator: orchestrator, listen: configuration.listen, metrics: metrics, clock: clock)
        }

        var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

        func count(_ text: String) -> Int { log.components(separatedBy: text).count - 1 }

        /// The repository's snapshots, through `offsite snapshots --json`; 0 while it does not exist.
        func snapshots() async throws -> Int {
            guard FileManager.default.fileExists(atPath: repo + "/config") else { return 0 }
            let out = try await OffsiteBinary.run(
                ["snapshots", "--json", "--no-lock"], password: DaemonTests.password, environment: ["RESTIC_REPOSITORY": repo])
            guard out.status == 0, let list = try JSONSerialization.jsonObject(with: out.stdout) as? [Any] else { return 0 }
            return list.count
        }

        func locks() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? [] }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls `condition` every `interval` seconds until it holds; throws after `timeout / interval`
    /// polls. Polls are counted, not wall-clock time: under the parallel suite this task and the
    /// daemon's can both wait many minutes for a thread, and a deadline would expire while neither
    /// ran (seen in a clean-clone run: the daemon logged its start at the moment the wait gave up).
    static func wait(
        _ what: String, timeout: Double = 180, interval: Double = 0.5, log: @autoclosure () -> String = "",
        until condition: () async throws -> Bool
    ) async throws {
        let polls = Int(timeout / interval)
        var polled = 0
        while try await !condition() {
            guard polled < polls else { throw TimedOut(description: "timed out waiting for \(what); log:\n\(log())") }
            polled += 1
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }

    static func get(_ port: Int, _ path: String) async throws -> (status: Int, type: String, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        let http = response as! HTTPURLResponse
        return (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "", String(decoding: data, as: UTF8.self))
    }

    // MARK: - End to end

    @Test func runsTheScheduleAndServesMetricsAndHealth() async throws {
        try await withScratchDirectory { dir in
            let f = try Fixture(dir)
            let store = f.store
            let daemon = try f.daemon(
                try f.configuration(schedule: "@every 2s", listen: "127.0.0.1:0"),
                metrics: { "offsite_test_records \((try? store.load().records.count) ?? -1)\n" })
            let task = Task { try await daemon.run() }
            try await Self.wait("the server", log: f.log) { daemon.boundAddress != nil }
            let port = daemon.boundAddress!.port

            let health = try await Self.get(port, "/healthz")
            #expect(health.status == 200)
            #expect(health.body == "ok\n")
            let missing = try await Self.get(port, "/nothing")
            #expect(missing.status == 404)

            try await Self.wait("two snapshots", interval: 1, log: f.log) { try await f.snapshots() >= 2 }
            let metrics = try await Self.get(port, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.type.hasPrefix("text/plain; version=0.0.4"))
            #expect(metrics.body.hasPrefix("offsite_test_records "))
            #expect(metrics.body != "offsite_test_records 0\n")

            task.cancel()
            try await task.value
            #expect(!daemon.health.healthy)
            let log = f.log
            #expect(log.contains("backup/all: schedule \"@every 2s\""))
            #expect(log.contains("volumes: backup completed"))
            #expect(log.contains("daemon: shutting down"))
            #expect(log.contains("daemon: stopped"))
            // Every line is `<ISO 8601 time> <message>`.
            for line in log.split(separator: "\n") {
                #expect(line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S.*/) != nil, "\(line)")
            }
            let state = try f.store.load()
            #expect(state.handledSlots["backup/all"] != nil)
            // The cancellation can land in a third run, which is then recorded as interrupted;
            // anything else must be a success (the two snapshots above are the completed runs).
            let latest = try #require(state.latest(.backup, "volumes"))
            #expect(latest.success || (latest.wasInterrupted && latest.message == "interrupted, no snapshot saved"), "\(latest)")
            // The last run of every job that finished: an interrupted one does not replace it.
            let all = try #require(state.lastAll)
            #expect(all.success && all.message == "completed", "\(all)")
            #expect(MetricsRenderer.render(state, now: Date()).contains("backup_success{mode=\"all\"} 1\n"))
            // The server is gone.
            await #expect(throws: (any Error).self) { _ = try await Self.get(port, "/healthz") }
        }
    }

    /// A run slower than its period: the firings during it are skipped and logged, never run
    /// alongside. The password command holds the job until the test lets it go.
    @Test func neverOverlapsARunWithItself() async throws {
        try await withScratchDirectory { dir in
            let f = try Fixture(dir)
            let gate = dir + "/release"
            let daemon = try f.daemon(
                try f.configuration(
                    schedule: "@every 2s",
                    password: .command("while [ ! -e '\(gate)' ]; do sleep 0.1; done; echo '\(Self.password)'")))
            let task = Task { try await daemon.run() }
            try await Self.wait("a skipped firing", log: f.log) { f.log.contains("backup/all: skipped the run due at") }
            #expect(f.count("volumes: backup started") == 1)
            #expect(FileManager.default.createFile(atPath: gate, contents: Data()))
            try await Self.wait("the slow run's end", log: f.log) { f.log.contains("volumes: backup completed") }
            task.cancel()
            try await task.value

            // Runs strictly alternate: started, ended, started, ended…
            var running = false
            for line in f.log.split(separator: "\n") {
                if line.contains("volumes: backup started") {
                    #expect(!running, "a run started while another was going:\n\(f.log)")
                    running = true
                } else if line.contains("volumes: backup completed") || line.contains("volumes: backup FAILED") {
                    running = false
                }
            }
            #expect(f.count("the previous run is still going") >= 1)
            await #expect(try f.snapshots() >= 1)
        }
    }

    /// 2026-01-01T10:15:00Z, where the simulated-clock tests start.
    static let quarterPastTen = Date(timeIntervalSince1970: 1_767_262_500)

    /// On simulated time, an hourly schedule: after downtime that missed two slots, one run at
    /// once (not two) and then the daemon waits for 11:00; at 11:00 one run; after a jump to
    /// 15:30 (suspend, clock step) one run, the missed slots logged, and the next at 16:00.
    @Test func catchesUpOneMissedRunThenFollowsTheClock() async throws {
        try await withScratchDirectory { dir in
            let f = try Fixture(dir)
            let start = Self.quarterPastTen
            let clock = SimulatedClock(start)
            let hour: (Int) -> Date = { start.addingTimeInterval(Double($0 * 3600 - 36_900)) }  // hour(11) is 11:00 that day
            try f.store.update { $0.handledSlots["backup/all"] = start.addingTimeInterval(-7200) }
            let daemon = try f.daemon(try f.configuration(schedule: "0 * * * *"), clock: clock)
            let task = Task { try await daemon.run() }

            // The catch-up run, and then nothing but the wait for 11:00.
            try await Self.wait("the catch-up run to be handled", log: f.log) {
                try f.store.load().handledSlots["backup/all"] == start && clock.deadlines == [hour(11)]
            }
            await #expect(try f.snapshots() == 1)
            #expect(f.count("was missed while the daemon was stopped, running it now") == 1)
            #expect(f.count("volumes: backup started") == 1)

            clock.advance(to: hour(11))
            try await Self.wait("the 11:00 run", log: f.log) {
                try f.store.load().handledSlots["backup/all"] == hour(11) && clock.deadlines == [hour(12)]
            }
            #expect(f.count("volumes: backup started") == 2)

            clock.advance(to: hour(15).addingTimeInterval(1800))
            try await Self.wait("one run for the slots the jump passed", log: f.log) {
                try f.store.load().handledSlots["backup/all"] == hour(12) && clock.deadlines == [hour(16)]
            }
            #expect(f.count("volumes: backup started") == 3)
            #expect(f.count("were missed (clock change or suspend)") == 1)
            task.cancel()
            try await task.value
            await #expect(try f.snapshots() == 3)
        }
    }

    /// The first start runs nothing at once: it records now as handled and waits for the next slot.
    @Test func firstStartWaitsForTheNextSlot() async throws {
        try await withScratchDirectory { dir in
            let f = try Fixture(dir)
            let clock = SimulatedClock(Self.quarterPastTen)
            let daemon = try f.daemon(try f.configuration(schedule: "0 0 1 1 *"), clock: clock)
            let task = Task { try await daemon.run() }
            let nextNewYear = Date(timeIntervalSince1970: 1_798_761_600)  // 2027-01-01T00:00:00Z
            try await Self.wait("the wait for the next slot", log: f.log) { clock.deadlines == [nextNewYear] }
            task.cancel()
            try await task.value

            let state = try f.store.load()
            #expect(state.handledSlots["backup/all"] == Self.quarterPastTen)
            #expect(state.records.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: f.repo))
            #expect(f.log.contains("backup/all: schedule \"0 0 1 1 *\", next run 2027-01-01T00:00:00Z"))
        }
    }

    /// SIGTERM's path: cancelling the daemon's task mid-backup stops offsite cleanly (its lock
    /// released, nothing half-written that restic objects to) and the daemon returns.
    @Test func cancellationMidRunStopsCleanly() async throws {
        try await withScratchDirectory { dir in
            // 4 MiB at 8 KiB/s takes 512 s at least, so the backup is still uploading when the
            // task is cancelled however fast or slow the machine is (on a loaded CI machine a
            // backup whose upload took 32 s at least ran 265 s and finished before the
            // cancellation reached it). The test only takes that long when cancellation fails.
            let mib = 1 << 20
            let f = try Fixture(dir, files: ["big1": 2 * mib, "big2": 2 * mib, "small": 10])
            let daemon = try f.daemon(try f.configuration(schedule: "@every 2s", uploadKiB: 8))
            let task = Task { try await daemon.run() }
            try await Self.wait("the backup's lock", interval: 0.01, log: f.log) { !f.locks().isEmpty }
            let cancelled = Date()
            task.cancel()
            try await task.value
            let stopping = Date().timeIntervalSince(cancelled)
            // Loose: under the parallel suite a resumed task can wait minutes for a thread.
            #expect(stopping < 600, "the daemon took \(stopping) s to stop")

            #expect(f.locks().isEmpty, "locks left: \(f.locks()), after \(stopping) s; log:\n\(f.log)")
            let check = try await Restic.run(["check"], repo: f.repo, password: Self.password)
            #expect(check.status == 0, "restic check: \(check.stderr)")
            #expect(f.log.contains("daemon: stop requested, stopping backup/all"))
            #expect(f.log.contains("daemon: stopped"))
            let record = try #require(try f.store.load().latest(.backup, "volumes"))
            #expect(!record.success, "the backup finished before the cancellation; make the data larger")
            #expect(record.message == "interrupted, no snapshot saved", "offsite did not exit with 130: \(record.message)")
            // Interrupted, not failed: no backup_success 0 (a false BackupFailed after a restart).
            #expect(record.wasInterrupted)
            let metrics = MetricsRenderer.render(try f.store.load(), now: Date())
            #expect(!metrics.contains("backup_success"), "\(metrics)")
        }
    }

    // MARK: - Pieces

    @Test func serverAnswersUnhealthyAndUnknownPaths() async throws {
        let server = try await MetricsServer.start(
            listen: "127.0.0.1:0", metrics: { "m 1\n" }, health: { (false, "state file not writable") })
        let health = try await Self.get(server.port, "/healthz")
        #expect(health.status == 503)
        #expect(health.body == "state file not writable\n")
        let metrics = try await Self.get(server.port, "/metrics?x=1")
        #expect(metrics.status == 200)
        #expect(metrics.body == "m 1\n")
        #expect(try await Self.get(server.port, "/").status == 404)
        await server.stop()
    }

    @Test func listenAddresses() throws {
        func parse(_ listen: String) throws -> String {
            let (host, port) = try MetricsServer.parse(listen)
            return "\(host) \(port)"
        }
        #expect(try parse("127.0.0.1:9100") == "127.0.0.1 9100")
        #expect(try parse(":9100") == "0.0.0.0 9100")
        #expect(try parse("[::1]:0") == "::1 0")
        #expect(throws: JobsError.self) { try MetricsServer.parse("localhost") }
        #expect(throws: JobsError.self) { try MetricsServer.parse("localhost:99999") }
    }

    @Test func entriesGroupJobsSharingOneSchedule() throws {
        let repo = RepositoryTarget(
            name: "default", location: .url(Secret("/r")), password: .value(Secret("p")),
            pruneSchedule: try CronSchedule(parsing: "0 3 * * 0"), checkSchedule: try CronSchedule(parsing: "0 5 * * 0"), checkRotation: 10)
        func job(_ name: String, _ schedule: String) throws -> JobDefinition {
            JobDefinition(
                name: name, kind: .volumes, repository: "default", schedule: try CronSchedule(parsing: schedule),
                retention: RetentionSettings(daily: 1, weekly: 0, monthly: 0))
        }
        var config = Configuration(
            repositories: [repo], jobs: [try job("postgres", "0 2 * * *"), try job("redis", "0 2 * * *")], host: "h",
            timeZone: TimeZone(identifier: "UTC")!, drillSchedule: try CronSchedule(parsing: "@weekly"), environment: [:])
        #expect(
            ScheduleEntry.entries(for: config, drills: true).map(\.key) == ["backup/all", "prune/default", "check/default", "drill/all"])
        #expect(ScheduleEntry.entries(for: config, drills: false).map(\.key) == ["backup/all", "prune/default", "check/default"])
        config.jobs[1].schedule = try CronSchedule(parsing: "0 4 * * *")
        #expect(
            ScheduleEntry.entries(for: config, drills: false).map(\.key) == [
                "backup/postgres", "backup/redis", "prune/default", "check/default",
            ])
        if case .backup(let jobs, let mode) = ScheduleEntry.entries(for: config, drills: false)[1].action {
            #expect(jobs.map(\.name) == ["redis"] && mode == "redis")
        } else {
            Issue.record("not a backup")
        }
    }

    @Test func statusReport() throws {
        let utc = TimeZone(identifier: "UTC")!
        let now = Date(timeIntervalSince1970: 1_795_773_600)  // 2026-11-27T10:00:00Z
        let repo = RepositoryTarget(
            name: "default", location: .url(Secret("/r")), password: .value(Secret("p")),
            pruneSchedule: try CronSchedule(parsing: "0 3 * * 0"), checkSchedule: nil, checkRotation: 10)
        let jobs = [
            JobDefinition(
                name: "postgres", kind: .postgres, repository: "default", schedule: try CronSchedule(parsing: "0 2 * * *"),
                retention: RetentionSettings(daily: 7, weekly: 0, monthly: 0)),
            JobDefinition(
                name: "volumes", kind: .volumes, repository: "default", schedule: try CronSchedule(parsing: "30 * * * *"),
                retention: RetentionSettings(daily: 7, weekly: 0, monthly: 0)),
        ]
        let config = Configuration(repositories: [repo], jobs: jobs, host: "h", timeZone: utc, environment: [:])
        var state = RunState()
        state.record(
            RunRecord(
                operation: .backup, job: "postgres", success: true, message: "completed", started: now.addingTimeInterval(-8 * 3600),
                duration: 12.5, snapshotID: "abcdef0123", bytesAdded: 2048, bytesProcessed: 3 * 1024 * 1024))
        state.record(
            RunRecord(
                operation: .backup, job: "volumes", success: false, message: "permission denied", started: now.addingTimeInterval(-1800),
                duration: 2))

        let rows = StatusReport.rows(configuration: config, state: state, now: now)
        #expect(rows.map { "\($0.operation.rawValue)/\($0.target)" } == ["backup/postgres", "backup/volumes", "prune/default"])
        #expect(rows[0].nextRun == Date(timeIntervalSince1970: 1_795_831_200))  // 2026-11-28T02:00:00Z
        #expect(rows[1].result == "FAILED")
        #expect(rows[2].result == "never run")

        let text = StatusReport.text(configuration: config, state: state, now: now)
        #expect(text.contains("2026-11-27 02:00:00 (8h ago)"))
        #expect(text.contains("3.0 MiB read, 2.0 KiB added"))
        #expect(text.contains("2026-11-28 02:00:00 (in 16h)"))
        #expect(text.contains("backup volumes: permission denied"))
        #expect(text.hasPrefix("OPERATION  TARGET"))

        let json = StatusReport.json(configuration: config, state: state, now: now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let list = try #require(object["rows"] as? [[String: Any]])
        #expect(list.count == 3)
        #expect(list[0]["lastRun"] as? String == "2026-11-27T02:00:00Z")
        #expect(object["timeZone"] as? String == utc.identifier)
    }
}
