public import OffsiteFormat
public import OffsiteStorage

/// An open repository: the backend, the master key, the config and the master index.
///
/// Create one with `Repository.initialize` (new repository) or `Repository.open` (existing).
/// Safe to share between tasks; the index is internally synchronised.
public final class Repository: Sendable {
    public let backend: any StorageBackend
    public let key: CryptoKey
    /// The key file that opened the repository.
    public let keyID: ID
    public let config: Config
    public let index: MasterIndex
    public let chunkerTables: Chunker.Tables
    /// Tree reads in pack windows, for backends where each request is a round trip.
    let treeWindows: TreeWindows?

    /// How many key files `open` tries without a hint, as restic does.
    public static let maxKeysTried = 20

    init(backend: any StorageBackend, key: CryptoKey, keyID: ID, config: Config) {
        self.backend = backend
        self.key = key
        self.keyID = keyID
        self.config = config
        self.index = MasterIndex()
        self.chunkerTables = Chunker.Tables(polynomial: config.chunkerPolynomial)
        self.treeWindows = backend.preferredConcurrency > 1 ? TreeWindows() : nil
    }

    public var version: Int { config.version }

    /// Options for a new repository.
    public struct InitOptions: Sendable {
        public var version: Int = 2
        public var username: String = SystemInfo.currentUsername
        public var hostname: String = SystemInfo.hostname
        /// scrypt cost; tests lower `n` to run fast.
        public var scryptN: Int = KeyFile.defaultN
        public var scryptR: Int = KeyFile.defaultR
        public var scryptP: Int = KeyFile.defaultP
        /// Copy this polynomial instead of choosing a random one.
        public var chunkerPolynomial: Polynomial? = nil

        public init() {}
    }

    /// Creates a new repository at `backend`: directory structure, key file, config.
    /// Throws `.alreadyInitialized` if a config already exists there.
    public static func initialize(
        backend: any StorageBackend, password: String, options: InitOptions = InitOptions()
    ) async throws -> Repository {
        guard !password.isEmpty else { throw EngineError(.invalidArgument, "an empty password is not allowed") }
        if try await storage("checking for an existing repository at \(backend.location)", { try await backend.exists(.config) }) {
            throw EngineError(.alreadyInitialized, "config file already exists at \(backend.location): a repository is already there")
        }
        var config = try Config.new(version: options.version)
        if let pol = options.chunkerPolynomial { config.chunkerPolynomial = pol }
        let master = CryptoKey.random()
        let keyFile = try KeyFile.make(
            masterKey: master, password: password, username: options.username,
            hostname: options.hostname, n: options.scryptN, r: options.scryptR, p: options.scryptP)
        let keyBytes = keyFile.json
        let keyID = ID.hash(keyBytes)
        try await storage("creating the repository at \(backend.location)") {
            try await backend.create()
            try await backend.save(Handle(.keys, keyID.hex), data: keyBytes)
            // The config goes last: a repository exists once it does.
            try await backend.save(.config, data: master.seal(config.json))
        }
        return Repository(backend: backend, key: master, keyID: keyID, config: config)
    }

    /// Opens an existing repository: finds a key file the password opens (the hinted one first,
    /// then up to 20 others), decrypts the config. Does not load the index (`loadIndex`).
    ///
    /// Throws `.repositoryNotFound` when there is no config, `.wrongPassword` when no key opens,
    /// `.invalidData` naming the object when a key file or the config is damaged.
    public static func open(backend: any StorageBackend, password: String, keyHint: String? = nil) async throws -> Repository {
        let hasConfig = try await storage("opening the repository at \(backend.location)") {
            try await backend.exists(.config)
        }
        guard hasConfig else {
            throw EngineError(
                .repositoryNotFound,
                "unable to open config file: \(backend.location)/config does not exist. Is there a repository at this location? (create one with `offsite init`)"
            )
        }
        let (master, keyID) = try await findKey(backend: backend, password: password, keyHint: keyHint)
        let sealedConfig = try await storage("loading config") { try await backend.load(.config) }
        let config: Config
        do {
            config = try Config(json: try master.open(sealedConfig))
        } catch let e as FormatError {
            throw EngineError(.invalidData, "config at \(backend.location) is damaged: \(e.message)")
        }
        return Repository(backend: backend, key: master, keyID: keyID, config: config)
    }

    static func findKey(backend: any StorageBackend, password: String, keyHint: String?) async throws -> (CryptoKey, ID) {
        guard !password.isEmpty else { throw EngineError(.wrongPassword, "an empty password is not allowed") }
        let listed = try await storage("listing keys") { try await backend.list(.keys) }
        var names = listed.map(\.name).filter { ID(hex: $0) != nil }.sorted()
        if let hint = keyHint, let match = names.first(where: { $0.hasPrefix(hint) }) {
            names.removeAll { $0 == match }
            names.insert(match, at: 0)
        } else if names.count > maxKeysTried {
            names = Array(names.prefix(maxKeysTried))
        }
        var damaged: [String] = []
        for name in names {
            do {
                let bytes = try await backend.load(Handle(.keys, name))
                guard ID.hash(bytes).hex == name else {
                    damaged.append("keys/\(name): content does not match its name (damaged file)")
                    continue
                }
                let file = try KeyFile(json: bytes)
                let master = try file.openMasterKey(password: password)
                return (master, ID(hex: name)!)
            } catch let e as FormatError where e.code == .authenticationFailed {
                continue
            } catch let e as FormatError {
                damaged.append("keys/\(name): \(e.message)")
            } catch let e as StorageError {
                damaged.append("keys/\(name): \(e.message)")
            }
        }
        if !damaged.isEmpty {
            throw EngineError(.invalidData, "wrong password or no key found; damaged key files: " + damaged.joined(separator: "; "))
        }
        throw EngineError(.wrongPassword, "wrong password or no key found")
    }
}

/// Runs a storage call and turns its `StorageError` into an `EngineError` that says what we were doing.
func storage<T>(
    _ context: @autoclosure () -> String, isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    do {
        return try await body()
    } catch let e as StorageError {
        throw EngineError.storage(e, context())
    }
}
