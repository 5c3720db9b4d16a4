public import OffsiteEngine
public import OffsiteStorage

/// Repositories for tests: in memory, with cheap scrypt parameters.
public enum TestRepository {
    public static let password = "test password"

    public static var cheapOptions: Repository.InitOptions {
        var o = Repository.InitOptions()
        o.scryptN = 1024
        o.scryptR = 8
        o.scryptP = 1
        return o
    }

    /// A new repository on `backend` (a fresh `MemoryBackend` by default).
    public static func make(version: Int = 2, backend: any StorageBackend = MemoryBackend()) async throws -> Repository {
        var o = cheapOptions
        o.version = version
        return try await Repository.initialize(backend: backend, password: password, options: o)
    }
}
