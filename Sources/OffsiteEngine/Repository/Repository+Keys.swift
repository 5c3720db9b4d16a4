public import OffsiteFormat
public import OffsiteStorage

/// Key management (`key add`, `key remove`, `key passwd`), as restic 0.14 does it: every key
/// file wraps the same master key; a new key is read back and opened before it counts.
extension Repository {
    /// Who and where a new key file says it was made, and its scrypt cost.
    public struct NewKeyOptions: Sendable {
        /// restic fills an empty user name with the current user's and an empty host name with
        /// the machine's.
        public var username: String = ""
        public var hostname: String = ""
        public var scryptN: Int = KeyFile.defaultN
        public var scryptR: Int = KeyFile.defaultR
        public var scryptP: Int = KeyFile.defaultP

        public init(username: String = "", hostname: String = "") {
            self.username = username
            self.hostname = hostname
        }
    }

    /// Writes a new key file that wraps this repository's master key under `password`, then
    /// checks that the stored file opens with `password` to the same master key (restic's
    /// "switchToNewKeyAndRemoveIfBroken"): a broken new key is removed again and reported.
    /// Returns the new key's ID and file.
    public func addKey(password: String, options: NewKeyOptions = NewKeyOptions()) async throws -> (id: ID, file: KeyFile) {
        guard !password.isEmpty else { throw EngineError(.invalidArgument, "an empty password is not a password") }
        let file: KeyFile
        do {
            file = try KeyFile.make(
                masterKey: key, password: password,
                username: options.username.isEmpty ? SystemInfo.currentUsername : options.username,
                hostname: options.hostname.isEmpty ? SystemInfo.hostname : options.hostname,
                n: options.scryptN, r: options.scryptR, p: options.scryptP)
        } catch let e as FormatError {
            throw EngineError(.invalidArgument, "creating new key failed: \(e.message)")
        }
        let bytes = file.json
        let id = ID.hash(bytes)
        let handle = Handle(.keys, id.hex)
        try await storage("saving new key keys/\(id.hex)") { try await backend.save(handle, data: bytes) }

        // Read it back and open it: a key that cannot be opened must not stay behind.
        do {
            let stored = try await backend.load(handle)
            guard ID.hash(stored) == id else { throw FormatError(.invalidData, "stored key file does not match its name") }
            let opened = try KeyFile(json: stored).openMasterKey(password: password)
            guard opened == key else { throw FormatError(.invalidData, "the new key holds a different master key") }
        } catch {
            try? await backend.remove(handle)
            let reason =
                switch error {
                case let e as FormatError: e.message
                case let e as StorageError: e.message
                default: "\(error)"
                }
            throw EngineError(.invalidData, "failed to access repository with new key: \(reason)")
        }
        return (id, file)
    }

    /// Removes the key file `id`. Refuses the key this repository was opened with, as restic does.
    public func removeKey(_ id: ID) async throws {
        guard id != keyID else {
            throw EngineError(.invalidArgument, "refusing to remove key currently used to access repository")
        }
        try await storage("removing keys/\(id.hex)") { try await backend.remove(Handle(.keys, id.hex)) }
    }
}

extension Repository {
    /// `key passwd`: adds a key for `password` (user and host as `options` say, restic passes
    /// none so the current user and host are recorded), then removes the key this repository
    /// was opened with. Returns the new key.
    public func changePassword(to password: String, options: NewKeyOptions = NewKeyOptions()) async throws -> (id: ID, file: KeyFile) {
        let new = try await addKey(password: password, options: options)
        try await storage("removing the old key keys/\(keyID.hex)") { try await backend.remove(Handle(.keys, keyID.hex)) }
        return new
    }
}
