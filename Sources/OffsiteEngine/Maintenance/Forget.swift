public import OffsiteFormat
import OffsiteStorage

/// restic 0.14's `forget`: a plan (which snapshots each group keeps and removes, a pure
/// function), then an execute step that removes the snapshot files.
///
/// Only snapshot files are removed; the data they referenced stays until a prune. The caller
/// holds an exclusive lock on the repository while it removes (restic's rule).
public enum Forget {
    /// One group's outcome.
    public struct GroupPlan: Sendable {
        public var key: SnapshotGrouping.Key
        public var decision: ForgetPolicy.Decision
    }

    /// Applies `policy` to each group of `snapshots` (see `ForgetPolicy.apply` and
    /// `SnapshotGrouping.group`; equal times keep the order of `snapshots`). An empty policy
    /// plans nothing (restic 0.14 prints a note and removes nothing).
    public static func plan(
        _ snapshots: [(id: ID, snapshot: Snapshot)], policy: ForgetPolicy, grouping: SnapshotGrouping, now: GoTime,
        zone: LocalZone = .system
    ) -> [GroupPlan] {
        guard !policy.isEmpty else { return [] }
        return grouping.group(snapshots).map { group in
            GroupPlan(key: group.key, decision: policy.apply(to: group.snapshots, now: now, zone: zone))
        }
    }

    /// Every snapshot the plan removes, each once, sorted by ID.
    public static func removals(_ plan: [GroupPlan]) -> [ID] {
        Array(Set(plan.flatMap { $0.decision.remove.map(\.id) })).sorted()
    }

    /// Removes the snapshot files `ids`, one at a time in the order given, calling `removed`
    /// after each. Stops at the first failure and throws it (`EngineError(.storage)` naming
    /// the file); the files removed before it stay removed. A file that is already gone counts
    /// as removed (another forget got there first).
    public static func remove(_ ids: [ID], from repository: Repository, removed: (ID) -> Void = { _ in }) async throws {
        for id in ids {
            do {
                try await repository.backend.remove(Handle(.snapshots, id.hex))
            } catch let e as StorageError where e.code == .notFound {
                // Already gone: the goal is reached.
            } catch let e as StorageError {
                throw EngineError.storage(e, "removing snapshots/\(id.hex)")
            }
            removed(id)
        }
    }
}
