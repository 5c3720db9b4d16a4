import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per state directory. Two daemons sharing a state would both run every schedule
/// (each slot backed up twice, two prunes queued) and record each other's runs, so the daemon
/// holds an exclusive `flock` on `daemon.pid` in the state directory for as long as it runs, with
/// its PID in the file; a second one is refused with a message naming that PID and the
/// directory. The lock goes with the process, however it ends (no stale file to remove by hand).
/// Daemons on other hosts, or with their own state directories, may share a repository: the
/// repository's locks keep them apart.
final class DaemonLock {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock of `directory` (created 0700 if missing).
    /// - Throws: `.io` when another daemon holds it, naming its PID, or when the file cannot be
    ///   opened or locked.
    static func acquire(directory: String) throws(JobsError) -> DaemonLock {
        try StateStore(directory: directory).createDirectory()
        let path = directory + "/daemon.pid"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JobsError(.io, "\(path): cannot open (\(String(cString: strerror(errno))))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            if error == EINTR { continue }
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            guard error == EWOULDBLOCK else { throw JobsError(.io, "\(path): cannot lock (\(String(cString: strerror(error))))") }
            throw JobsError(
                .io,
                "another offsite daemon\(holder.isEmpty ? "" : " (PID \(holder))") is already running with the state directory \(directory): stop it first, or give this one its own state directory (--state-dir or OFFSITE_STATE_DIR)"
            )
        }
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 || text.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) != text.count {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw JobsError(.io, "\(path): cannot write (\(reason))")
        }
        return DaemonLock(fd: fd)
    }

    /// Releases the lock (the file stays, unlocked). Safe to call more than once.
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
