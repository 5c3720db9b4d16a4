public import OffsiteFormat
import OffsiteStorage

/// Changes the tags of snapshots as restic 0.14's `tag` command does.
///
/// A snapshot file cannot change (its name is the hash of its content), so a snapshot whose tags
/// change is written again as a new file, with `original` set to the old ID when it had none
/// (an existing `original` is kept: it always names the first version), and only then is the old
/// file removed. A failure at any point leaves at least one complete copy of the snapshot: if
/// the new file cannot be written the old one stays; if the old one cannot be removed both stay
/// (restic behaves the same way).
///
/// Takes no lock (offsite has no locks yet; restic takes an exclusive one). Snapshots are
/// handled one at a time, in the order given; a failure on one is recorded in the report and the
/// others go on.
public struct Tag: Sendable {
    public struct Options: Sendable {
        /// Replaces the tags (`--set`). When not empty, `add` and `remove` are not used.
        public var set: [String]
        /// Appended when missing (`--add`), in order.
        public var add: [String]
        /// Removed when present (`--remove`).
        public var remove: [String]

        /// Tags as restic's `TagLists.Flatten` gives them: empty tags are dropped, so
        /// `--set ""` sets nothing (restic 0.14 then changes no snapshot).
        public init(set: [String] = [], add: [String] = [], remove: [String] = []) {
            self.set = set.filter { !$0.isEmpty }
            self.add = add.filter { !$0.isEmpty }
            self.remove = remove.filter { !$0.isEmpty }
        }
    }

    /// One snapshot rewritten: its old file was removed, `new` names its replacement.
    public struct Change: Sendable, Equatable {
        public var old: ID
        public var new: ID
        public var snapshot: Snapshot
    }

    /// A snapshot whose tags could not be changed, and why.
    public struct Failure: Sendable {
        public var id: ID
        public var message: String
    }

    public struct Report: Sendable {
        public var changed: [Change] = []
        public var failures: [Failure] = []
        /// Snapshots whose tags were already as asked.
        public var unchanged: [ID] = []
    }

    public let repository: Repository
    public let options: Options

    public init(repository: Repository, options: Options) {
        self.repository = repository
        self.options = options
    }

    /// Rewrites every snapshot of `snapshots` whose tags change.
    public func run(snapshots: [(id: ID, snapshot: Snapshot)]) async -> Report {
        var report = Report()
        for (id, snapshot) in snapshots {
            guard let updated = Self.retagged(snapshot, id: id, options: options) else {
                report.unchanged.append(id)
                continue
            }
            do {
                let newID = try await repository.saveJSON(.snapshots, updated.json)
                try await storage("removing snapshots/\(id.hex)") {
                    try await repository.backend.remove(Handle(.snapshots, id.hex))
                }
                report.changed.append(Change(old: id, new: newID, snapshot: updated))
            } catch {
                report.failures.append(Failure(id: id, message: "\(error)"))
            }
        }
        return report
    }

    /// The snapshot with its tags changed and `original` set, or nil when nothing changes.
    ///
    /// restic's rules: `set` always counts as a change (even to the same tags) and keeps the
    /// given order and duplicates; `add` appends each tag not yet present; `remove` takes out
    /// the first occurrence of each tag by moving the last tag into its place.
    public static func retagged(_ snapshot: Snapshot, id: ID, options: Options) -> Snapshot? {
        var s = snapshot
        var changed = false
        if !options.set.isEmpty {
            s.tags = options.set
            changed = true
        } else {
            for tag in options.add where !s.tags.contains(tag) {
                s.tags.append(tag)
                changed = true
            }
            for tag in options.remove {
                guard let i = s.tags.firstIndex(of: tag) else { continue }
                s.tags[i] = s.tags[s.tags.count - 1]
                s.tags.removeLast()
                changed = true
            }
        }
        guard changed else { return nil }
        if s.original == nil { s.original = id }
        return s
    }
}
