import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two `offsite daemon`s: on one repository from two hosts, each with its
/// own state, they wait for each other's locks and for a third party's exclusive lock instead of
/// failing, and the repository checks clean; on one state directory the second is refused.
@Suite struct TwoDaemonsTests {
    static let password = "two daemons password"

    /// Writes the .env of one daemon: `host` backs up `root/data-<host>` into `root/repo` on the
    /// same schedules as the other, with its own state directory.
    func envFile(
        _ root: String, host: String, state: String, schedule: String = "@every 2s", prune: String = "@every 3s"
    ) throws
        -> String
    {
        let path = root + "/\(host).env"
        try """
        RESTIC_REPOSITORY=\(root)/repo
        RESTIC_PASSWORD=\(Self.password)
        BACKUP_SCHEDULE=\(schedule)
        BACKUP_JOBS=volumes
        BACKUP_VOLUMES=\(root)/data-\(host)
        BACKUP_HOST=\(host)
        BACKUP_RETENTION_DAILY=1
        BACKUP_RETENTION_WEEKLY=0
        BACKUP_RETENTION_MONTHLY=0
        PRUNE_SCHEDULE=\(prune)
        CHECK_SCHEDULE=off
        OFFSITE_STATE_DIR=\(state)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `offsite daemon --env-file env` with its output in `log`.
    func startDaemon(_ env: String, log: String) async throws -> DaemonProcess {
        try await DaemonProcess(envFile: env, listen: false, output: log, environment: ["TZ": "UTC"])
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func count(_ needle: String, in path: String) -> Int { text(path).components(separatedBy: needle).count - 1 }

    /// Polls every 100 ms, up to `polls` times, until `done` (generous: the suite shares two cores).
    func waitFor(_ what: String, polls: Int = 6000, _ done: () -> Bool) async {
        let happened = await eventually(timeout: .milliseconds(100 * polls), done)
        #expect(happened, "never happened: \(what)")
    }

    func stop(_ daemon: DaemonProcess) async {
        let stopped = await daemon.stop(timeout: .seconds(300))
        #expect(stopped.stoppedInTime, "the daemon did not stop within 300 s of SIGTERM")
        #expect(stopped.status == 0, "\(daemon.output.suffix(3000))")
    }

    func lockFiles(_ repo: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).filter { !$0.hasPrefix(".") }
    }

    /// Two hosts' daemons with the same schedules (backups every 2 s with retention, prune every
    /// 3 s) on one repository. They start while a third process (`restic key passwd`, waiting for
    /// input) holds the repository exclusively: their backups wait for it (before, they failed
    /// at once: repository locked); then their backups, forgets and prunes take turns on the
    /// repository's locks. No run fails, no lock is left, restic check --read-data is clean and
    /// each host's latest snapshot restores to its data.
    @Test func twoHostsDaemonsShareOneRepository() async throws {
        try await withScratchDirectory { root in
            let repo = root + "/repo"
            for (n, host) in ["a", "b"].enumerated() {
                let data = TreeFixture(root: root + "/data-\(host)")
                try data.dir("")
                try data.file("\(host).bin", TreeFixture.randomBytes(400_000, seed: UInt64(n + 1)))
                try data.file("shared.bin", TreeFixture.randomBytes(300_000, seed: 99))
            }
            try await TestRepository.makeLocal(at: repo, password: Self.password)

            // The third party: restic's key passwd locks exclusively, then waits for the password.
            let restic = Process()
            restic.executableURL = URL(fileURLWithPath: try Restic.path())
            restic.arguments = ["-r", repo, "--no-cache", "key", "passwd"]
            restic.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": Self.password]) { $1 }
            let input = Pipe()
            restic.standardInput = input
            restic.standardOutput = FileHandle.nullDevice
            restic.standardError = FileHandle.nullDevice
            try restic.run()
            defer { if restic.isRunning { kill(restic.processIdentifier, SIGKILL) } }
            await waitFor("restic's exclusive lock") { !lockFiles(repo).isEmpty }

            let logs = [root + "/a.log", root + "/b.log"]
            let daemons = [
                try await startDaemon(try envFile(root, host: "a", state: root + "/state-a"), log: logs[0]),
                try await startDaemon(try envFile(root, host: "b", state: root + "/state-b"), log: logs[1]),
            ]
            for log in logs { await waitFor("a backup started in \(log)") { count("volumes: backup started", in: log) > 0 } }
            // Let the backups meet the lock (a failure would be logged at once), then release it,
            // keeping the same password.
            await pause(.seconds(3))
            try input.fileHandleForWriting.write(contentsOf: Data("\(Self.password)\n\(Self.password)\n".utf8))
            try input.fileHandleForWriting.close()
            await waitFor("restic key passwd exits") { !restic.isRunning }
            restic.waitUntilExit()
            #expect(restic.terminationStatus == 0)

            for log in logs {
                await waitFor("three backups and two prunes in \(log)") {
                    count("volumes: backup completed", in: log) >= 3 && count("prune completed", in: log) >= 2
                }
            }
            for d in daemons { await stop(d) }
            for log in logs {
                // Runs cut short by the stop are logged as interrupted; everything before must have worked.
                let beforeStop = text(log).components(separatedBy: "daemon: stop requested").first ?? ""
                let failures = beforeStop.split(separator: "\n").filter { $0.contains("FAILED") }
                #expect(failures.isEmpty, "\(log): \(failures)")
                #expect(count("retention applied", in: log) >= 2, "\(text(log).suffix(3000))")
            }
            #expect(lockFiles(repo).isEmpty, "locks left: \(lockFiles(repo))")
            let check = try await Restic.run(["check", "--read-data"], repo: repo, password: Self.password)
            #expect(check.status == 0, "\(check.stdoutString.suffix(2000)) \(check.stderr)")
            for host in ["a", "b"] {
                let out = root + "/restore-\(host)"
                let r = try await Restic.run(["restore", "latest", "--host", host, "--target", out], repo: repo, password: Self.password)
                #expect(r.status == 0, "\(r.stderr)")
                let want = try TreeFixture.describe(root + "/data-\(host)", includeDirectoryTimes: false)
                let got = try TreeFixture.describe(out + root + "/data-\(host)", includeDirectoryTimes: false)
                #expect(!want.isEmpty && got == want, "host \(host) restores differently")
            }
        }
    }

    /// A second daemon on the same state directory would run every schedule a second time: it
    /// is refused, naming the running daemon's PID and the directory; once the first stops, it
    /// starts.
    @Test func aSecondDaemonOnTheSameStateIsRefused() async throws {
        try await withScratchDirectory { root in
            let data = TreeFixture(root: root + "/data-a")
            try data.dir("")
            let state = root + "/state"
            let env = try envFile(root, host: "a", state: state, schedule: "@every 1h", prune: "off")
            let first = try await startDaemon(env, log: root + "/first.log")
            await waitFor("the first daemon starts") { count("daemon: started", in: root + "/first.log") > 0 }

            let second = try await startDaemon(env, log: root + "/second.log")
            await waitFor("the second daemon exits", polls: 3000) { !second.process.isRunning }
            let status = await second.stop(timeout: .seconds(300)).status
            let output = second.output
            #expect(status == 1, "\(output)")
            #expect(
                output.contains(
                    "another offsite daemon (PID \(first.process.processIdentifier)) is already running with the state directory \(state)"),
                "\(output)")
            #expect(output.contains("OFFSITE_STATE_DIR"))
            #expect(!output.contains("daemon: started"))
            #expect(first.process.isRunning, "the first daemon stopped")

            await stop(first)
            let again = try await startDaemon(env, log: root + "/again.log")
            await waitFor("the daemon starts once the first has stopped") { again.count("daemon: started") > 0 }
            await stop(again)
        }
    }
}
