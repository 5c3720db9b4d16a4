import OffsiteStorage

extension HTTPReply {
    /// The error for a failed reply whose status means the same to every HTTP backend: a redirect
    /// is `.io` naming where it pointed (`redirectFailure`), 416 is `.invalidData` (a range past
    /// the end), 408, 429 and 5xx are `.transient` (the retry layer sends the request again),
    /// anything else is `.io`. Backends map what their service says (missing bucket, refused
    /// credentials) first and hand the rest here. `said` describes the reply (`HTTP 503 Backend Error`).
    func statusFailure(_ what: String, said: String) -> StorageError {
        if let redirect = redirectFailure(what, said: said) { return redirect }
        switch status {
        case 416: return StorageError(.invalidData, "\(what): the range asked for is past the end of the object (\(said))")
        case 408, 429, 500...599: return StorageError(.transient, "\(what): \(said)")
        default: return StorageError(.io, "\(what): \(said)")
        }
    }

    /// The error for a redirect (3xx), nil for any other status. The transport never follows
    /// one: the request and its credentials would go to a host the repository location does not
    /// name. The message names the `Location` (without user information or query, which may hold
    /// credentials) so the operator can fix the endpoint.
    func redirectFailure(_ what: String, said: String) -> StorageError? {
        guard (300...399).contains(status) else { return nil }
        let target = header("location").map { "to \(HTTPTransport.redacted($0))" } ?? "without a Location"
        return StorageError(
            .io,
            "\(what): the server redirected the request \(target) (\(said)); offsite does not follow redirects: check the endpoint in the repository location"
        )
    }
}
