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

/// Local repositories for the tests that drive the `offsite` and `restic` binaries.
///
/// Every command that opens a repository runs scrypt over its key file. With the production
/// cost (N=32768, r=8; restic 0.14 calibrates p to its machine, 4 here) that is the slowest
/// step of most commands in a debug build: about 0.5 s for offsite's key and 1.5-2 s for
/// restic's, per command. These repositories get a key with `TestRepository.cheapOptions`
/// instead. restic reads N, r and p from the key file, so both tools open them as usual;
/// `init` with the real cost stays covered by the tests that run `offsite init` and
/// `restic init` themselves.
extension TestRepository {
    /// Makes a repository at `path` the way `tool` ("offsite" or "restic") makes one, with
    /// `password` and a key file of cheap scrypt parameters.
    ///
    /// - "offsite": the engine's `init` (as `offsite init` runs it).
    /// - "restic": `restic init`, so the config and the master key are restic's; its key is
    ///   then replaced by one for the same password and master key with cheap parameters, as
    ///   `key passwd` does.
    public static func makeLocal(
        at path: String, password: String, tool: String = "offsite", version: Int = 2
    ) async throws {
        switch tool {
        case "offsite":
            var o = cheapOptions
            o.version = version
            _ = try await Repository.initialize(backend: LocalBackend(path: path), password: password, options: o)
        case "restic":
            let made = try await Restic.run(["init", "--repository-version", String(version)], repo: path, password: password)
            guard made.status == 0 else {
                throw FixtureError(message: "restic init \(path): exit \(made.status): \(made.stderr)")
            }
            let repository = try await Repository.open(backend: LocalBackend(path: path), password: password)
            var o = Repository.NewKeyOptions()
            o.scryptN = cheapOptions.scryptN
            o.scryptR = cheapOptions.scryptR
            o.scryptP = cheapOptions.scryptP
            _ = try await repository.changePassword(to: password, options: o)
        default:
            throw FixtureError(message: "no tool \(tool) makes repositories")
        }
    }
}
