public import OffsiteStorage

/// The one error type of OffsiteEngine. The executable maps `code` to restic's exit codes.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No repository at the location (no config object).
        case repositoryNotFound
        /// `init` on a location that already holds a repository.
        case alreadyInitialized
        /// No key file opens with the given password.
        case wrongPassword
        /// A repository object failed to decrypt, hash-check or decode.
        case invalidData
        /// A snapshot, blob or other named thing does not exist (or a prefix matches nothing).
        case notFound
        /// A prefix matches more than one ID.
        case ambiguous
        /// The caller's request cannot be carried out as given.
        case invalidArgument
        /// The storage failed; `storageCode` says how.
        case storage
        /// Reading or writing the local filesystem failed.
        case io
        /// The local filesystem is full (or the user's quota is used up): nothing more can be
        /// written, so the command stops instead of failing file after file.
        case noSpace
        /// Work finished, but some items could not be processed (restic exit code 3).
        case incomplete
        /// The repository is locked by another process (restic exit code 11).
        case locked
    }

    public var code: Code
    public var message: String
    /// For `.storage`: the backend's error code (to tell transient from permanent).
    public var storageCode: StorageError.Code?

    public init(_ code: Code, _ message: String, storageCode: StorageError.Code? = nil) {
        self.code = code
        self.message = message
        self.storageCode = storageCode
    }

    public var description: String { message }

    /// Wraps a storage error, adding what was being done.
    static func storage(_ e: StorageError, _ context: String) -> EngineError {
        EngineError(.storage, "\(context): \(e.message)", storageCode: e.code)
    }
}
