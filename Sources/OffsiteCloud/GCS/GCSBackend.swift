public import OffsiteStorage

/// Google Cloud Storage through its JSON API (`gs:BUCKET:/prefix`). Not written yet.
public enum GCSBackend {
    public static func make(location: String, environment: [String: String], options: [String: String]) throws -> any StorageBackend {
        throw StorageError(.io, "the gs backend is not supported yet by offsite; use a local path or local:PATH")
    }
}
