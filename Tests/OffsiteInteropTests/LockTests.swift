import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Repository locks against restic 0.14, both ways: restic's exclusive lock blocks offsite
/// (exit 11, the holder named), offsite's lock blocks restic's exclusive commands, stale locks
/// are recognised and removed by either tool's `unlock`, and locks go away when a command ends,
/// even on Ctrl-C.
@Suite struct LockTests {
    func makeRepository(_ dir: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.file("a.txt", Array("lock test\n".utf8))
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password)
        expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
        return repo
    }

    func lockFiles(_ repo: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).filter { !$0.hasPrefix(".") }
    }

    /// Starts `executable args` with its stdin on a pipe that stays open until the returned
    /// handle is closed: the command holds its lock while it waits for input.
    func startWaitingOnStdin(_ executable: String, _ args: [String], env: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": password, "TZ": "UTC"].merging(env) { $1 }) { $1 }
        let input = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        return (p, input, err)
    }

    /// Starts offsite with `args` in `cwd`, its stderr in the file `log` and stdout discarded.
    func startOffsite(_ args: [String], cwd: String, log: String) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": password, "TZ": "UTC"]) { $1 }
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        return p
    }

    /// Waits for a lock file (up to 2 minutes: a loaded machine starts processes slowly).
    func waitForLock(_ repo: String) async throws {
        let deadline = Date().addingTimeInterval(120)
        while lockFiles(repo).isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!lockFiles(repo).isEmpty, "the command never took its lock")
    }

    @Test func resticExclusiveLockBlocksOffsite() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            // `restic key passwd` takes an exclusive lock, then waits for the new password on stdin.
            let (restic, input, _) = try startWaitingOnStdin(try Restic.path(), ["-r", repo, "key", "passwd"])
            try await waitForLock(repo)

            let backup = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 11, "backup while locked")
            #expect(backup.stderr.contains("repository is already locked exclusively by PID \(restic.processIdentifier)"))
            #expect(backup.stderr.contains("unlock"))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 11, "snapshots while locked")
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--no-lock"], password: password), 0, "snapshots --no-lock")
            // The lock is live (its process runs): unlock leaves it alone.
            expectStatus(try await OffsiteBinary.run(["-r", repo, "unlock"], password: password), 0, "unlock")
            #expect(lockFiles(repo).count == 1)

            // --retry-lock waits until restic is done (the repository was opened with the old
            // password before the wait; the master key stays the same). restic gets its answer
            // once offsite says it is waiting.
            let log = dir + "/retry-lock.log"
            let retrying = try startOffsite(["-r", repo, "backup", "src", "--retry-lock", "2m"], cwd: dir, log: log)
            func logged() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            let deadline = Date().addingTimeInterval(120)
            while !logged().contains("waiting up to") && retrying.isRunning && Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(logged().contains("waiting up to"), "\(logged())")
            try input.fileHandleForWriting.write(contentsOf: Data("new password\nnew password\n".utf8))
            try input.fileHandleForWriting.close()
            while retrying.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(retrying.terminationStatus == 0, "backup --retry-lock: \(logged())")
            restic.waitUntilExit()
            #expect(restic.terminationStatus == 0)
            #expect(lockFiles(repo).isEmpty)
        }
    }

    @Test func offsiteLockBlocksResticExclusiveCommands() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            // A backup from stdin holds its shared lock while it waits for data.
            let (offsite, input, _) = try startWaitingOnStdin(
                try OffsiteBinary.path(), ["-r", repo, "backup", "--stdin", "--stdin-filename", "slow.txt"])
            try await waitForLock(repo)
            // restic reads offsite's lock file.
            let locks = expectStatus(
                try await Restic.run(["list", "locks", "--no-lock"], repo: repo, password: password), 0, "restic list locks")
            let lockID = locks.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
            let doc = expectStatus(
                try await Restic.run(["cat", "lock", lockID, "--no-lock"], repo: repo, password: password), 0, "restic cat lock")
            let json = try #require(try JSONSerialization.jsonObject(with: doc.stdout) as? [String: Any])
            #expect(json["exclusive"] as? Bool == false)
            #expect(json["pid"] as? Int == Int(offsite.processIdentifier))

            for command in [["prune"], ["check"], ["forget", "--keep-last", "1"]] {
                let r = try await Restic.run(command, repo: repo, password: password)
                #expect(r.status != 0, "restic \(command) ran despite offsite's lock")
                #expect(r.stderr.contains("repository is already locked by PID \(offsite.processIdentifier)"), "\(r.stderr)")
            }
            // Shared locks coexist: restic can back up at the same time.
            expectStatus(try await Restic.run(["backup", "src"], repo: repo, password: password, cwd: dir), 0, "restic backup")

            try input.fileHandleForWriting.write(contentsOf: Data("streamed\n".utf8))
            try input.fileHandleForWriting.close()
            offsite.waitUntilExit()
            #expect(offsite.terminationStatus == 0)
            #expect(lockFiles(repo).isEmpty, "offsite left its lock behind")
            expectStatus(try await Restic.run(["check"], repo: repo, password: password), 0, "restic check after")
        }
    }

    @Test func interruptReleasesTheLock() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let (offsite, _, _) = try startWaitingOnStdin(
                try OffsiteBinary.path(), ["-r", repo, "backup", "--stdin", "--stdin-filename", "slow.txt"])
            try await waitForLock(repo)
            kill(offsite.processIdentifier, SIGINT)
            offsite.waitUntilExit()
            #expect(offsite.terminationStatus == 130)
            #expect(lockFiles(repo).isEmpty)
        }
    }

    /// Every command stops on SIGINT, not only backup and restore: a `forget --prune` waiting
    /// for its exclusive lock (`--retry-lock 10m`) exits 130 at once, and the lock it waited for
    /// is untouched.
    @Test func interruptStopsAForgetWaitingForTheLock() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let (holder, input, _) = try startWaitingOnStdin(
                try OffsiteBinary.path(), ["-r", repo, "backup", "--stdin", "--stdin-filename", "slow.txt"])
            try await waitForLock(repo)
            let log = dir + "/forget.log"
            let forget = try startOffsite(["-r", repo, "forget", "--keep-last", "1", "--prune", "--retry-lock", "10m"], cwd: dir, log: log)
            defer { if forget.isRunning { kill(forget.processIdentifier, SIGKILL) } }
            func logged() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            let waiting = await eventually(timeout: .seconds(120)) { logged().contains("waiting up to") || !forget.isRunning }
            #expect(waiting && forget.isRunning, "\(logged())")

            kill(forget.processIdentifier, SIGINT)
            let stopped = await eventually(timeout: .seconds(30)) { !forget.isRunning }
            #expect(stopped, "forget still waits 30 s after SIGINT: \(logged())")
            if stopped {
                forget.waitUntilExit()
                #expect(forget.terminationStatus == 130, "\(logged())")
            }
            #expect(lockFiles(repo).count == 1, "only the backup's lock")

            try input.fileHandleForWriting.write(contentsOf: Data("streamed\n".utf8))
            try input.fileHandleForWriting.close()
            holder.waitUntilExit()
            #expect(holder.terminationStatus == 0)
            #expect(lockFiles(repo).isEmpty)
        }
    }

    @Test func staleLocksAreRemovedByBothTools() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let r = try await Repository.open(backend: LocalBackend(path: repo), password: password)
            // A process that has exited: its PID is free.
            let gone = Process()
            gone.executableURL = URL(fileURLWithPath: "/bin/true")
            try gone.run()
            gone.waitUntilExit()
            let host = SystemInfo.hostname
            let now = GoTime.now()
            let deadPID = LockDocument(time: now, exclusive: true, hostname: host, username: "x", pid: Int(gone.processIdentifier))
            let old = LockDocument(
                time: GoTime(seconds: now.seconds - 3600), exclusive: false, hostname: "elsewhere", username: "y", pid: 1)
            let live = LockDocument(time: now, exclusive: false, hostname: "elsewhere", username: "z", pid: 1)
            let deadID = try await r.saveJSON(.locks, deadPID.json)
            let oldID = try await r.saveJSON(.locks, old.json)
            let liveID = try await r.saveJSON(.locks, live.json)

            // A stale exclusive lock still blocks (restic's rule), and the message says it is stale.
            let blocked = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 11, "blocked by stale lock")
            #expect(blocked.stderr.contains("the lock is stale"))
            // restic reads offsite's lock documents and agrees on which are stale.
            expectStatus(try await Restic.run(["unlock"], repo: repo, password: password), 0, "restic unlock")
            #expect(Set(lockFiles(repo)) == [liveID.hex])

            _ = try await r.saveJSON(.locks, deadPID.json)
            _ = try await r.saveJSON(.locks, old.json)
            let unlocked = expectStatus(try await OffsiteBinary.run(["-r", repo, "unlock"], password: password), 0, "offsite unlock")
            #expect(unlocked.stdoutString.contains("successfully removed 2 locks"))
            #expect(Set(lockFiles(repo)) == [liveID.hex])
            #expect(deadID != oldID)

            expectStatus(try await OffsiteBinary.run(["-r", repo, "unlock", "--remove-all"], password: password), 0, "unlock --remove-all")
            #expect(lockFiles(repo).isEmpty)
        }
    }

    @Test func refreshReplacesTheLockFile() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let r = try await Repository.open(backend: LocalBackend(path: repo), password: password)
            var options = RepositoryLock.Options()
            options.refreshInterval = .milliseconds(300)
            options.settle = .milliseconds(10)
            let lock = try await RepositoryLock.acquire(r, .exclusive, options: options)
            let first = try #require(lock.lockID)
            // Two refreshes at least (polled: under a full parallel run the refresh task may
            // wait for a thread).
            var seen: Set<ID> = [first]
            var polls = 0
            while seen.count < 3 && polls < 6000 {
                polls += 1
                try await Task.sleep(for: .milliseconds(100))
                if let id = lock.lockID { seen.insert(id) }
            }
            #expect(seen.count >= 3)
            // The old file goes right after the new one is written.
            var files: [String] = []
            for _ in 0..<50 {
                files = lockFiles(repo)
                if files.count == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(files.count == 1 && files.first.flatMap(ID.init(hex:)).map(seen.contains) == true)
            // Another exclusive lock is refused while this one is held.
            await #expect(throws: EngineError.self) { try await RepositoryLock.acquire(r, .exclusive, options: options) }
            await lock.release()
            #expect(lockFiles(repo).isEmpty)
        }
    }

    /// An exclusive lock refreshed every 50 ms on a repository whose lock uploads are
    /// acknowledged 300 ms late (`SlowLockSaves`).
    func lockWithSlowRefreshes(
        _ dir: String
    ) async throws -> (String, SlowLockSaves, Repository, RepositoryLock.Options, RepositoryLock) {
        let repo = try await makeRepository(dir)
        let slow = SlowLockSaves(LocalBackend(path: repo))
        let r = try await Repository.open(backend: slow, password: password)
        var options = RepositoryLock.Options()
        options.refreshInterval = .milliseconds(50)
        options.settle = .milliseconds(10)
        return (repo, slow, r, options, try await RepositoryLock.acquire(r, .exclusive, options: options))
    }

    /// A slow backend: a refresh whose upload is still being acknowledged when the lock is
    /// released must not leave its new lock file behind (seen once in CI: release removed the
    /// old file while the refresh in flight then made its new one current).
    @Test func releaseDuringASlowRefreshLeavesNoLock() async throws {
        try await withScratchDirectory { dir in
            let (repo, slow, r, options, lock) = try await lockWithSlowRefreshes(dir)
            // Wait until a refresh has written its file and is waiting on the acknowledgement.
            var polls = 0
            while slow.lockSaves < 2 && polls < 3000 {
                try await Task.sleep(for: .milliseconds(10))
                polls += 1
            }
            #expect(slow.lockSaves >= 2, "no refresh started")
            await lock.release()
            #expect(lockFiles(repo).isEmpty, "left behind: \(lockFiles(repo))")
            // A refresh that failed or was never acknowledged is retried by the next one, and
            // the lock still works after it.
            let again = try await RepositoryLock.acquire(r, .exclusive, options: options)
            await again.release()
            #expect(lockFiles(repo).isEmpty)
        }
    }

    /// A refresh slower than the refresh interval (uploads acknowledged after 300 ms, a refresh
    /// every 50 ms): refreshes do not overlap or pile up, so at most two lock files exist at
    /// any moment (the new one written, the old one not yet removed), and release leaves none.
    @Test func refreshSlowerThanTheIntervalDoesNotPileUp() async throws {
        try await withScratchDirectory { dir in
            let (repo, slow, _, _, lock) = try await lockWithSlowRefreshes(dir)
            var most = 0, polls = 0
            while slow.lockSaves < 5 && polls < 6000 {
                most = max(most, lockFiles(repo).count)
                try await Task.sleep(for: .milliseconds(10))
                polls += 1
            }
            #expect(slow.lockSaves >= 5, "only \(slow.lockSaves - 1) refreshes")
            #expect(most >= 1 && most <= 2, "\(most) lock files at once")
            await lock.release()
            #expect(lockFiles(repo).isEmpty, "left behind: \(lockFiles(repo))")
        }
    }

    /// With --retry-lock, an attempt whose second look finds a conflicting lock (a prune that
    /// started while ours settled) backs off. The index it loaded while settling may be out of
    /// date when the lock is finally taken (the prune removed packs and index files), so the
    /// work runs again in the attempt that wins: a backup deduplicating against the old index
    /// would write snapshots referring to deleted packs. (It ran once only: the repository
    /// kept the removed index's blobs.)
    @Test func aLostRaceLoadsTheIndexAgain() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let r = try await Repository.open(backend: LocalBackend(path: repo), password: password)
            let pruner = LockDocument(time: GoTime.now(), exclusive: true, hostname: "elsewhere", username: "prune", pid: 1)
            let runs = Mutex(0), firstLoad = Mutex(0), otherLock = Mutex<String?>(nil)
            var options = RepositoryLock.Options()
            options.settle = .milliseconds(10)
            options.retryFor = .seconds(3600)
            options.whileSettling = {
                // What `RepositoryOpener` does: load the index from scratch.
                r.index.removeAll()
                try await r.loadIndex()
                guard
                    runs.withLock({ n in
                        n += 1; return n
                    }) == 1
                else { return }
                firstLoad.withLock { $0 = r.index.blobsByPack().count }
                // The first time, another host's prune takes its lock meanwhile; once we have
                // backed off, it removes every pack and index file, and goes.
                let other = try await r.saveJSON(.locks, pruner.json)
                otherLock.withLock { $0 = other.hex }
            }
            options.onNotice = { _ in
                guard
                    let other = otherLock.withLock({ id in
                        defer { id = nil }; return id
                    })
                else { return }
                for folder in ["index", "data"] { removeTree(repo + "/" + folder) }
                try? FileManager.default.createDirectory(atPath: repo + "/index", withIntermediateDirectories: true)
                try? FileManager.default.removeItem(atPath: repo + "/locks/" + other)
            }
            let lock = try await RepositoryLock.acquire(r, .shared, options: options)
            #expect(firstLoad.withLock { $0 } > 0, "the first attempt loaded no pack")
            #expect(runs.withLock { $0 } == 2)
            #expect(r.index.blobsByPack().isEmpty, "the index still lists the packs the prune removed")
            await lock.release()
            #expect(lockFiles(repo).isEmpty)
        }
    }
}

/// Writes lock files at once, then holds the acknowledgement back for 300 ms regardless of
/// cancellation, as a slow network upload that has already reached the server does.
final class SlowLockSaves: StorageBackend {
    let inner: any StorageBackend
    private let saves = Mutex(0)

    init(_ inner: any StorageBackend) { self.inner = inner }

    var lockSaves: Int { saves.withLock { $0 } }
    var location: String { inner.location }
    func create() async throws { try await inner.create() }
    func save(_ handle: Handle, data: Data) async throws {
        try await inner.save(handle, data: data)
        guard handle.type == .locks else { return }
        saves.withLock { $0 += 1 }
        await Task.detached { try? await Task.sleep(for: .milliseconds(300)) }.value
    }
    func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try await inner.load(handle, offset: offset, length: length)
    }
    func size(_ handle: Handle) async throws -> Int { try await inner.size(handle) }
    func list(_ type: FileType) async throws -> [ObjectInfo] { try await inner.list(type) }
    func remove(_ handle: Handle) async throws { try await inner.remove(handle) }
}
