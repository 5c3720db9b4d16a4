public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the orchestrator remembers between runs: the latest record of every operation and job, the
/// last `run all`, the schedule slots already handled (for catch-up after downtime) and each
/// repository's check rotation. `offsite run`, `offsite daemon` and `offsite status` share it.
public struct RunState: Sendable, Codable, Equatable {
    /// Latest record per `RunRecord.key`.
    public var records: [String: RunRecord] = [:]
    /// The latest `run all` (or scheduled run of every job): success only if every job succeeded.
    public var lastAll: RunRecord?
    /// Per schedule (see `Daemon`), the last slot that was run or deliberately skipped.
    public var handledSlots: [String: Date] = [:]
    /// Per repository name, how many rotating checks have run (the next reads part `n % rotation + 1`).
    public var checkCounter: [String: Int] = [:]
    /// Latest successful record per `RunRecord.key`, kept when a later run fails: the metrics
    /// report the last success's time (staleness alerts) and the size of what was last backed up.
    public var lastSuccessful: [String: RunRecord] = [:]
    /// Latest record per `RunRecord.key` of a run that finished, succeeded or failed: a run
    /// interrupted by a shutdown is in `records` only, so a planned restart mid-backup does not
    /// turn into a failure in the metrics (and a false BackupFailed alert).
    public var finished: [String: RunRecord] = [:]

    public init() {}

    public mutating func record(_ record: RunRecord) {
        records[record.key] = record
        if !record.wasInterrupted { finished[record.key] = record }
        if record.success { lastSuccessful[record.key] = record }
    }

    /// A state file written before a field existed still loads (the field starts empty).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        records = try c.decodeIfPresent([String: RunRecord].self, forKey: .records) ?? [:]
        lastAll = try c.decodeIfPresent(RunRecord.self, forKey: .lastAll)
        handledSlots = try c.decodeIfPresent([String: Date].self, forKey: .handledSlots) ?? [:]
        checkCounter = try c.decodeIfPresent([String: Int].self, forKey: .checkCounter) ?? [:]
        lastSuccessful = try c.decodeIfPresent([String: RunRecord].self, forKey: .lastSuccessful) ?? [:]
        finished = try c.decodeIfPresent([String: RunRecord].self, forKey: .finished) ?? records.filter { !$0.value.wasInterrupted }
    }

    public func latest(_ operation: Operation, _ job: String) -> RunRecord? { records["\(operation.rawValue)/\(job)"] }
}

/// The state file, `state.json` in the state directory (`OFFSITE_STATE_DIR`; default
/// `/var/lib/offsite` for root, else `$XDG_STATE_HOME/offsite` or `~/.local/state/offsite`). The
/// directory is created 0700 and the file 0600; every update holds an exclusive `flock` on
/// `state.lock`, reads, changes and replaces the file atomically (temporary file, fsync, rename),
/// so concurrent `offsite run` and the daemon never lose each other's records.
public struct StateStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The default directory for this user and environment.
    public static func defaultDirectory(environment: [String: String]) -> String {
        if let dir = environment["OFFSITE_STATE_DIR"], !dir.isEmpty { return dir }
        if getuid() == 0 { return "/var/lib/offsite" }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/offsite" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state/offsite"
    }

    var file: String { directory + "/state.json" }

    /// The state, or an empty one if none was saved yet.
    /// - Throws: `.io` if the file exists but cannot be read or decoded (named, with what to do).
    public func load() throws(JobsError) -> RunState {
        guard FileManager.default.fileExists(atPath: file) else { return RunState() }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            return try Self.decoder.decode(RunState.self, from: data)
        } catch {
            throw JobsError(.io, "\(file): cannot read the orchestrator's state (\(error)); move it aside to start afresh")
        }
    }

    /// Reads, changes and saves the state under the lock; returns the saved state.
    @discardableResult
    public func update(_ change: (inout RunState) -> Void) throws(JobsError) -> RunState {
        try createDirectory()
        let lockPath = directory + "/state.lock"
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JobsError(.io, "\(lockPath): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw JobsError(.io, "\(lockPath): cannot lock (\(String(cString: strerror(errno))))") }
        }
        var state = try load()
        change(&state)
        try save(state)
        return state
    }

    /// Creates the state directory (0700) if it does not exist yet.
    func createDirectory() throws(JobsError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw JobsError(
                .io,
                "\(directory): cannot create the state directory (\(error.localizedDescription)); set OFFSITE_STATE_DIR to a writable directory"
            )
        }
    }

    private func save(_ state: RunState) throws(JobsError) {
        let data: Data
        do { data = try Self.encoder.encode(state) } catch { throw JobsError(.io, "cannot encode the state: \(error)") }
        try AtomicFile.write(data, to: file, mode: 0o600)
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}

/// Whole-file replacement that a crash cannot leave half-written: a temporary file in the same
/// directory, created with `mode`, written, fsynced, renamed over the target, and the directory fsynced.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t) throws(JobsError) {
        let dir = (path as NSString).deletingLastPathComponent
        let temp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw JobsError(.io, "\(temp): cannot create (\(String(cString: strerror(errno))))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temp, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temp)
            throw JobsError(.io, "\(path): cannot write (\(failure))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
