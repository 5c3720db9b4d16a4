public import Foundation

/// What the orchestrator does; each kind has its own metrics, schedule and alert.
public enum Operation: String, Sendable, Codable, CaseIterable {
    case backup, forget, prune, check, drill
}

/// The outcome of one operation on one job (or, for prune and check, one repository): what the
/// daemon remembers, `status` shows and the metrics report. Never holds a secret.
public struct RunRecord: Sendable, Codable, Equatable {
    public var operation: Operation
    /// The job (`postgres`, `redis`, `volumes`, a name from offsite.yml), or for prune and check the
    /// repository's name (`default` for the one of a `.env` configuration).
    public var job: String
    public var success: Bool
    /// `completed` or why not (the first lines of the failing tool's error output, no secrets).
    public var message: String
    public var started: Date
    /// Seconds.
    public var duration: Double
    /// The snapshot written (backup), or the one restored (drill).
    public var snapshotID: String?
    /// Bytes the backup added to the repository (after deduplication and compression).
    public var bytesAdded: Int64?
    /// Bytes the backup read: the dump's or the volumes' size.
    public var bytesProcessed: Int64?
    public var filesNew: Int?
    public var filesChanged: Int?
    /// Snapshots of this job after the operation (forget), or in the repository (prune, check).
    public var snapshotCount: Int?
    /// Bytes of pack files in the repository (prune).
    public var repositorySize: Int64?
    /// True when the run was stopped by a shutdown (SIGTERM, Ctrl-C) rather than failing: it is
    /// shown by `status`, but the metrics keep reporting the last run that finished (nil: no).
    public var interrupted: Bool?

    public var wasInterrupted: Bool { interrupted == true }

    /// The end of a log line about this run: `completed` (what the caller says of a success),
    /// `interrupted`, or `FAILED: why`.
    func outcome(completed: String) -> String {
        success ? completed : wasInterrupted ? "interrupted" : "FAILED: \(message)"
    }

    public init(
        operation: Operation, job: String, success: Bool, message: String, started: Date, duration: Double,
        snapshotID: String? = nil, bytesAdded: Int64? = nil, bytesProcessed: Int64? = nil, filesNew: Int? = nil,
        filesChanged: Int? = nil, snapshotCount: Int? = nil, repositorySize: Int64? = nil
    ) {
        self.operation = operation
        self.job = job
        self.success = success
        self.message = message
        self.started = started
        self.duration = duration
        self.snapshotID = snapshotID
        self.bytesAdded = bytesAdded
        self.bytesProcessed = bytesProcessed
        self.filesNew = filesNew
        self.filesChanged = filesChanged
        self.snapshotCount = snapshotCount
        self.repositorySize = repositorySize
    }

    /// The key under which the state keeps the latest record of this operation and job.
    public var key: String { "\(operation.rawValue)/\(job)" }
}
