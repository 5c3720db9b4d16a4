import Foundation
public import OffsiteEngine
import OffsiteFormat
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
    /// - "restic": a copy of a repository `restic init` made, so the config and the master key
    ///   are restic's, with a key file of its own wrapping that master key under `password`
    ///   with cheap parameters (see `ResticTemplates`).
    public static func makeLocal(
        at path: String, password: String, tool: String = "offsite", version: Int = 2
    ) async throws {
        switch tool {
        case "offsite":
            var o = cheapOptions
            o.version = version
            _ = try await Repository.initialize(backend: LocalBackend(path: path), password: password, options: o)
        case "restic":
            try await ResticTemplates.shared.copy(version: version, to: path, password: password)
        default:
            throw FixtureError(message: "no tool \(tool) makes repositories")
        }
    }
}

/// `restic init` costs about 2.5 s of CPU (it calibrates its scrypt cost, then runs it) and
/// opening its key another 2 s in a debug build, so restic's repositories are made once per
/// test process and repository version: each `makeLocal(tool: "restic")` copies that
/// repository (config and empty directories, as restic left them) and writes its own key file
/// for the master key. The copies share the repository ID and chunker parameters (random for
/// each test run); neither tool keys anything on them, and restic runs with `--no-cache`.
actor ResticTemplates {
    static let shared = ResticTemplates()

    struct Template: Sendable {
        let path: String
        let masterKey: CryptoKey
        let username: String
        let hostname: String
    }

    private var made: [Int: Task<Template, any Error>] = [:]
    private static let password = "restic template password"
    /// Where the templates live; removed when the test process exits.
    nonisolated static let directory: String = {
        let base = ProcessInfo.processInfo.environment["OFFSITE_TEST_TMP"] ?? NSTemporaryDirectory()
        let dir = (base as NSString).appendingPathComponent("offsite-restic-templates-\(getpid())")
        atexit { removeTree(ResticTemplates.directory) }
        return dir
    }()

    func template(version: Int) async throws -> Template {
        if let task = made[version] { return try await task.value }
        let task = Task { try await Self.make(version: version) }
        made[version] = task
        return try await task.value
    }

    private static func make(version: Int) async throws -> Template {
        let path = directory + "/v\(version)"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let made = try await Restic.run(["init", "--repository-version", String(version)], repo: path, password: password)
        guard made.status == 0 else {
            throw FixtureError(message: "restic init \(path): exit \(made.status): \(made.stderr)")
        }
        let keys = try FileManager.default.contentsOfDirectory(atPath: path + "/keys")
        guard keys.count == 1, let data = FileManager.default.contents(atPath: path + "/keys/" + keys[0]) else {
            throw FixtureError(message: "restic init \(path) left \(keys.count) key files, 1 expected")
        }
        let file = try KeyFile(json: data)
        let template = Template(
            path: path, masterKey: try file.openMasterKey(password: password), username: file.username, hostname: file.hostname)
        removeTree(path + "/keys/" + keys[0])
        return template
    }

    /// A copy of the template for `version` at `path` (which must not exist yet), opened by
    /// `password` through a key file with cheap parameters.
    func copy(version: Int, to path: String, password: String) async throws {
        let template = try await template(version: version)
        let copied = try await ProcessRunner.run("/bin/cp", ["-a", "--", template.path, path])
        guard copied.status == 0 else { throw FixtureError(message: "cp -a \(template.path) \(path): \(copied.stderr)") }
        let o = TestRepository.cheapOptions
        let key = try KeyFile.make(
            masterKey: template.masterKey, password: password, username: template.username, hostname: template.hostname,
            n: o.scryptN, r: o.scryptR, p: o.scryptP)
        let bytes = key.json
        let keyPath = path + "/keys/" + ID.hash(bytes).hex
        // restic's local backend leaves repository files read-only.
        guard FileManager.default.createFile(atPath: keyPath, contents: bytes, attributes: [.posixPermissions: 0o400]) else {
            throw FixtureError(message: "cannot write \(keyPath)")
        }
    }
}
