import Foundation
import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// Streams for `backup --stdin` and `--stdin-from-command`.
enum StreamSources {
    static func standardInput(filename: String) -> Backup.StreamSource {
        Backup.StreamSource(filename: filename) { save in
            try await save(0)
        }
    }

    /// Runs `command` (no shell, found on PATH) and backs up its standard output; its standard
    /// error goes to ours. A command that cannot start, or does not exit with status 0, fails the
    /// backup: no snapshot is written. If the backup stops first (error, Ctrl-C), the command
    /// is terminated.
    static func command(_ command: [String], filename: String) -> Backup.StreamSource {
        Backup.StreamSource(filename: filename) { save in
            let child = try ChildProcess(command)
            do {
                try await save(child.stdout)
            } catch {
                await child.stop()
                throw error
            }
            let status = await child.wait()
            guard status == 0 else {
                let how = status > 0 ? "exited with status \(status)" : "was killed by signal \(-status)"
                throw EngineError(.io, "the command \(command.joined(separator: " ")) \(how); no snapshot was saved")
            }
        }
    }
}

/// A child process started with `posix_spawnp`, its standard output in a pipe. Signal
/// dispositions and the signal mask are reset in the child, whatever this process changed.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Read end of the child's standard output.
    let stdout: Int32
    private var reaped = false

    init(_ argv: [String]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw EngineError(.io, "cannot create a pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var child: pid_t = 0
        let r = posix_spawnp(&child, argv[0], &actions, &attr, &cargs, environ)
        close(fds[1])
        guard r == 0 else {
            close(fds[0])
            throw EngineError(.invalidArgument, "cannot run \(argv.joined(separator: " ")): \(String(cString: strerror(r)))")
        }
        pid = child
        stdout = fds[0]
    }

    deinit { close(stdout) }

    /// Waits for the child; returns its exit status, or minus the signal that killed it.
    func wait() async -> Int32 { await onOwnThread("wait for \(pid)") { self.waitBlocking() } }

    /// SIGTERM, then SIGKILL after two seconds, then reaps it (whether or not the calling task
    /// was cancelled: the child must not outlive the backup).
    func stop() async { await onOwnThread("stop \(pid)") { self.stopBlocking() } }

    private func waitBlocking() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : -signal
    }

    private func stopBlocking() {
        guard !reaped else { return }
        kill(pid, SIGTERM)
        for _ in 0..<20 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return
            }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        _ = waitBlocking()
    }
}
