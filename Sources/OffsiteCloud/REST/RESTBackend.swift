public import OffsiteStorage

/// restic's REST server protocol (`rest:http://user:pass@host:8000/path`). Not written yet.
public enum RESTBackend {
    public static func make(location: String, environment: [String: String], options: [String: String]) throws -> any StorageBackend {
        throw StorageError(.io, "the rest backend is not supported yet by offsite; use a local path or local:PATH")
    }
}
