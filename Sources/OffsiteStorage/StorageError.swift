/// The one error type of OffsiteStorage. Callers decide from `code` (retry only `.transient`).
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The object or repository does not exist.
        case notFound
        /// The object exists and the operation needed it not to.
        case alreadyExists
        /// Worth retrying: a timeout, a dropped connection, a throttling reply.
        case transient
        /// Credentials missing or refused, or permission denied.
        case unauthorized
        /// The object's bytes are not what they should be (short read, wrong size).
        case invalidData
        /// Any other failure of the storage itself (disk full, I/O error, …).
        case io
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
