import OffsiteStorage

extension HTTPReply {
    /// The error for a failed reply whose status means the same to every HTTP backend: 416 is
    /// `.invalidData` (a range past the end), 408, 429 and 5xx are `.transient` (the retry layer
    /// sends the request again), anything else is `.io`. Backends map what their service says
    /// (missing bucket, refused credentials) first and hand the rest here. `said` describes the
    /// reply (`HTTP 503 Backend Error`).
    func statusFailure(_ what: String, said: String) -> StorageError {
        switch status {
        case 416: return StorageError(.invalidData, "\(what): the range asked for is past the end of the object (\(said))")
        case 408, 429, 500...599: return StorageError(.transient, "\(what): \(said)")
        default: return StorageError(.io, "\(what): \(said)")
        }
    }
}
