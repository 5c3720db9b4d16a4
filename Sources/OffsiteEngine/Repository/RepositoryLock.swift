import Foundation
public import OffsiteFormat
public import OffsiteStorage
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// restic's repository locks (docs/FORMAT.md §6.5): a lock file in `locks/` says who is using the
/// repository. Shared locks (backup, restore, listing) coexist; an exclusive lock (prune,
/// forget, check, key removal) excludes every other lock. offsite and restic see each other's
/// locks.
///
/// Taking a lock: read every lock file, fail on a conflict, write ours, wait a moment, read
/// again (someone may have written theirs at the same time) and back off if a conflict
/// appeared. While held, the lock is refreshed every 5 minutes (a new file with a fresh time,
/// then the old one removed), so that others do not take it for stale. A stale lock (older than
/// 30 minutes, or from this host by a process that no longer exists) still blocks, as in
/// restic: `unlock` removes stale locks, `unlock --remove-all` every lock.
public final class RepositoryLock: Sendable {
    public enum Kind: Sendable {
        case shared, exclusive
    }

    public struct Options: Sendable {
        /// Keep trying this long when the repository is locked (`--retry-lock`).
        public var retryFor: Duration = .zero
        /// How long to wait between writing our lock and checking for others again.
        public var settle: Duration = .milliseconds(200)
        public var refreshInterval: Duration = .seconds(300)
        /// Called with a message when the lock is retried or a refresh fails.
        public var onNotice: (@Sendable (String) -> Void)? = nil
        /// Read-only work (loading the index) done while waiting to check for others again:
        /// the wait then costs nothing. Nothing may be written in it. It runs again in every
        /// attempt that gets this far (after a lost race the repository may have been changed by
        /// the winner, a prune removing packs), so it must start afresh each time.
        public var whileSettling: (@Sendable () async throws -> Void)? = nil

        public init() {}
    }

    /// A lock older than this, not refreshed, is stale (restic's rule).
    public static let staleAge: Int64 = 30 * 60

    public let repository: Repository
    public let kind: Kind
    private let current: Mutex<ID?>
    private let refresher = Mutex<Task<Void, Never>?>(nil)

    private init(repository: Repository, kind: Kind, id: ID) {
        self.repository = repository
        self.kind = kind
        self.current = Mutex(id)
    }

    /// The lock file currently held (it changes on refresh).
    public var lockID: ID? { current.withLock { $0 } }

    /// Takes a lock of `kind`, retrying for `options.retryFor` (with restic's backoff from 5 s
    /// up to 60 s). Throws `.locked` naming the holder when the repository stays locked.
    public static func acquire(_ repository: Repository, _ kind: Kind, options: Options = .init()) async throws -> RepositoryLock {
        let deadline = ContinuousClock.now + options.retryFor
        var delay = Duration.seconds(5)
        while true {
            do {
                let lock = try await attempt(repository, kind, options: options)
                lock.startRefreshing(options)
                return lock
            } catch let e as EngineError where e.code == .locked {
                let now = ContinuousClock.now
                guard now < deadline else {
                    if options.retryFor > .zero {
                        throw EngineError(
                            .locked, "repository is still locked after \(formatAge(options.retryFor.components.seconds)): \(e.message)")
                    }
                    throw e
                }
                let left = (deadline - now).components.seconds
                options.onNotice?("repository is already locked, waiting up to \(formatAge(left)) for the lock")
                try await Task.sleep(for: min(delay, deadline - now))
                delay = min(delay * 2, .seconds(60))
            }
        }
    }

    private static func attempt(_ repository: Repository, _ kind: Kind, options: Options) async throws -> RepositoryLock {
        try await checkConflicts(repository, kind, ignoring: nil)
        let id = try await repository.saveJSON(.locks, document(kind).json)
        let lock = RepositoryLock(repository: repository, kind: kind, id: id)
        do {
            let settle = options.settle
            async let wait: Void = Task.sleep(for: settle)
            if let work = options.whileSettling { try await work() }
            try await wait
            try await checkConflicts(repository, kind, ignoring: id)
        } catch {
            await lock.removeFile(id)
            // The work can fail because the holder of a conflicting lock is changing the
            // repository (a prune removing the index files being loaded): that is the conflict.
            if (error as? EngineError)?.code != .locked && !(error is CancellationError) {
                do {
                    try await checkConflicts(repository, kind, ignoring: id)
                } catch let conflict as EngineError where conflict.code == .locked {
                    throw conflict
                } catch {}
            }
            throw error
        }
        return lock
    }

    static func document(_ kind: Kind) -> LockDocument {
        LockDocument(
            time: GoTime.now(), exclusive: kind == .exclusive, hostname: SystemInfo.hostname,
            username: SystemInfo.currentUsername, pid: Int(getpid()), uid: SystemInfo.uid, gid: SystemInfo.gid)
    }

    /// Fails with `.locked` if any lock other than `ignoring` conflicts with one of `kind`.
    static func checkConflicts(_ repository: Repository, _ kind: Kind, ignoring: ID?) async throws {
        for holder in try await list(repository) where holder.id != ignoring {
            guard let doc = holder.document else {
                throw EngineError(
                    .locked,
                    "lock \(holder.id.shortHex) cannot be read (\(holder.problem ?? "damaged")); if no other process is using the repository, remove it with `offsite unlock --remove-all`"
                )
            }
            if kind == .exclusive || doc.exclusive {
                throw EngineError(.locked, describeConflict(holder.id, doc))
            }
        }
    }

    /// restic's message for a lock that is in the way, with what to do about it.
    static func describeConflict(_ id: ID, _ doc: LockDocument) -> String {
        let age = max(0, GoTime.now().seconds - doc.time.seconds)
        var message =
            "unable to create lock in backend: repository is already locked \(doc.exclusive ? "exclusively " : "")by PID \(doc.pid) on \(doc.hostname) by \(doc.username) (UID \(doc.uid), GID \(doc.gid))\n"
            + "lock was created at \(doc.time.inLocalOffset.displayString) (\(formatAge(age)) ago)\n"
            + "storage ID \(id.shortHex)\n"
        if isStale(doc) {
            message +=
                "the lock is stale (\(age >= staleAge ? "not refreshed for over 30 minutes" : "its process no longer runs")): if no other process is using the repository, remove it with `offsite unlock`"
        } else {
            message += "the `unlock` command can be used to remove stale locks"
        }
        return message
    }

    static func formatAge(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(seconds % 3600 / 60)m\(seconds % 60)s"
    }

    /// Stale: not refreshed for 30 minutes, or taken on this host by a process that is gone.
    public static func isStale(_ doc: LockDocument, now: GoTime = .now()) -> Bool {
        if now.seconds - doc.time.seconds >= staleAge { return true }
        if doc.hostname == SystemInfo.hostname && doc.pid > 0 {
            return kill(pid_t(doc.pid), 0) != 0 && errno == ESRCH
        }
        return false
    }

    public struct Holder: Sendable {
        public var id: ID
        /// nil when the file could not be read (see `problem`).
        public var document: LockDocument?
        public var problem: String?
    }

    /// Every lock file with its document. Files removed while listing (a refresh elsewhere)
    /// are left out.
    public static func list(_ repository: Repository) async throws -> [Holder] {
        var out: [Holder] = []
        for id in try await repository.listIDs(.locks) {
            do {
                out.append(Holder(id: id, document: try LockDocument(json: try await repository.loadJSON(.locks, id))))
            } catch let e as EngineError where e.code == .storage && e.storageCode == .notFound {
                continue
            } catch let e as EngineError {
                out.append(Holder(id: id, document: nil, problem: e.message))
            } catch let e as FormatError {
                out.append(Holder(id: id, document: nil, problem: e.message))
            }
        }
        return out
    }

    /// `unlock`: removes stale locks, or with `all` every lock. Returns the removed IDs.
    @discardableResult
    public static func removeLocks(_ repository: Repository, all: Bool) async throws -> [ID] {
        var removed: [ID] = []
        for holder in try await list(repository) {
            let stale = holder.document.map { isStale($0) } ?? false
            guard all || stale else { continue }
            try await storage("removing lock \(holder.id.hex)") {
                try await repository.backend.remove(Handle(.locks, holder.id.hex))
            }
            removed.append(holder.id)
        }
        return removed
    }

    // MARK: Holding

    private func startRefreshing(_ options: Options) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: options.refreshInterval)
                } catch {
                    return
                }
                guard let self else { return }
                do {
                    try await self.refresh()
                } catch {
                    options.onNotice?("refreshing the repository lock failed: \(error)")
                }
            }
        }
        refresher.withLock { $0 = task }
    }

    /// Writes a new lock file with the current time, then removes the old one.
    public func refresh() async throws {
        let new = try await repository.saveJSON(.locks, Self.document(kind).json)
        let old = current.withLock { id -> ID? in
            let old = id
            id = new
            return old
        }
        if let old { await removeFile(old) }
    }

    /// Stops refreshing and removes the lock file. Safe to call more than once, and during
    /// cancellation (the removal runs outside the cancelled task).
    public func release() async {
        let task = refresher.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        // Wait for a refresh in flight: it may have written a new lock file and not yet made it
        // current, and that file would outlive the release.
        task?.cancel()
        await task?.value
        let id = current.withLock { id -> ID? in
            defer { id = nil }
            return id
        }
        if let id { await removeFile(id) }
    }

    private func removeFile(_ id: ID) async {
        let backend = repository.backend
        await Task.detached { try? await backend.remove(Handle(.locks, id.hex)) }.value
    }
}
