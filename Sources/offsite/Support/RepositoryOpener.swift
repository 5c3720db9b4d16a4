import Foundation
import OffsiteEngine
import OffsiteStorage

/// The one place that turns a repository location into a concrete backend (DESIGN.md).
enum RepositoryOpener {
    static func backend(for location: String) throws -> any StorageBackend {
        if location.hasPrefix("local:") {
            return LocalBackend(path: String(location.dropFirst("local:".count)))
        }
        for scheme in ["s3:", "gs:", "rest:", "b2:", "azure:", "sftp:", "swift:", "rclone:"] where location.hasPrefix(scheme) {
            throw CLIError.fatal("the \(scheme.dropLast()) backend is not supported yet by offsite; use a local path or local:PATH")
        }
        return LocalBackend(path: location)
    }

    /// Opens the repository named by the global options and loads its index.
    static func open(_ g: GlobalOptions, loadIndex: Bool = true) async throws -> Repository {
        let location = try g.repositoryLocation()
        let backend = try backend(for: location)
        // Fail fast on a missing repository before asking for a password.
        if !(try await backend.exists(.config)) {
            throw EngineError(
                .repositoryNotFound,
                "unable to open config file: \(backend.location)/config does not exist. Is there a repository at the following location?\n\(location)"
            )
        }
        let password = try Password.resolve(g)
        let repo = try await Repository.open(
            backend: backend, password: password,
            keyHint: g.keyHint ?? g.environment["RESTIC_KEY_HINT"])
        if loadIndex { try await repo.loadIndex() }
        return repo
    }
}
