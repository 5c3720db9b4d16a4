public import Foundation
public import OffsiteFormat
public import OffsiteStorage

extension Repository {
    /// Loads a snapshot, index or lock file and returns its JSON: checks the name matches the
    /// SHA-256 of the stored bytes, checks the MAC, decrypts and decompresses.
    /// Errors name the object.
    public func loadJSON(_ type: FileType, _ id: ID) async throws -> Data {
        let handle = Handle(type, id.hex)
        let bytes = try await storage("loading \(handle)") { try await backend.load(handle) }
        guard ID.hash(bytes) == id else {
            throw EngineError(
                .invalidData, "\(handle) is damaged: its content does not match its name (SHA-256 mismatch, \(bytes.count) bytes)")
        }
        do {
            return try UnpackedFile.decode(try key.open(bytes), repositoryVersion: version)
        } catch let e as FormatError {
            throw EngineError(.invalidData, "\(handle) is damaged: \(e.message)")
        }
    }

    /// Encrypts (and in v2 compresses) a JSON document and stores it under the SHA-256 of the
    /// stored bytes. Returns that ID.
    @discardableResult
    public func saveJSON(_ type: FileType, _ json: Data) async throws -> ID {
        let sealed = key.seal(UnpackedFile.encode(json: json, repositoryVersion: version))
        let id = ID.hash(sealed)
        try await storage("saving \(type.rawValue)/\(id.hex)") { try await backend.save(Handle(type, id.hex), data: sealed) }
        return id
    }

    /// Lists the IDs of a type, skipping names that are not IDs.
    public func listIDs(_ type: FileType) async throws -> [ID] {
        try await storage("listing \(type.rawValue)") { try await backend.list(type) }.compactMap { ID(hex: $0.name) }
    }

    /// Resolves a full ID or a unique prefix among the objects of `type`.
    public func resolve(_ type: FileType, prefix: String) async throws -> ID {
        if let id = ID(hex: prefix) { return id }
        let lower = prefix.lowercased()
        guard !lower.isEmpty, Hex.decode(lower.count % 2 == 0 ? lower : lower + "0") != nil else {
            throw EngineError(.invalidArgument, "\"\(prefix)\" is not an ID or ID prefix (hex characters expected)")
        }
        let matches = try await listIDs(type).filter { $0.hex.hasPrefix(lower) }
        switch matches.count {
        case 0: throw EngineError(.notFound, "no matching ID found for prefix \"\(prefix)\" in \(type.rawValue)")
        case 1: return matches[0]
        default: throw EngineError(.ambiguous, "multiple IDs with prefix \"\(prefix)\" in \(type.rawValue); give more characters")
        }
    }

    /// Loads every index file into the master index. Errors name the damaged file.
    /// Files are read, decrypted and parsed on every core at once (a 10-million-blob index is
    /// 350 MB of encrypted JSON); at most one file per core is held in memory.
    public func loadIndex() async throws {
        let ids = try await listIDs(.index)
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, id) in ids.enumerated() {
                if n >= workers { try await group.next() }
                group.addTask {
                    let json = try await self.loadJSON(.index, id)
                    do {
                        self.index.add(try IndexFile(json: json), fromFile: id)
                    } catch let e as FormatError {
                        throw EngineError(.invalidData, "index/\(id.hex) is damaged: \(e.message)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Writes an index file for packs written in this session.
    @discardableResult
    public func saveIndex(_ file: IndexFile) async throws -> ID {
        try await saveJSON(.index, file.json)
    }

    /// Writes index files covering `packs`, in pack ID order, each holding at most `maxBlobs`
    /// blobs (restic's size for a full index file). Returns how many files were written.
    @discardableResult
    public func saveIndex(packs: [IndexFile.PackEntry], maxBlobs: Int = 50_000) async throws -> Int {
        var batch: [IndexFile.PackEntry] = []
        var blobs = 0
        var written = 0
        for entry in packs.sorted(by: { $0.id.hex < $1.id.hex }) {
            batch.append(entry)
            blobs += entry.blobs.count
            if blobs >= maxBlobs {
                try await saveIndex(IndexFile(packs: batch))
                written += 1
                batch = []
                blobs = 0
            }
        }
        if !batch.isEmpty {
            try await saveIndex(IndexFile(packs: batch))
            written += 1
        }
        return written
    }

    /// Removes files of `type` in ID order; a file that is already gone is fine.
    public func removeFiles(_ ids: some Collection<ID>, _ type: FileType) async throws {
        for id in ids.sorted(by: { $0.hex < $1.hex }) {
            try Task.checkCancellation()
            do {
                try await backend.remove(Handle(type, id.hex))
            } catch let e as StorageError where e.code == .notFound {
                continue
            } catch let e as StorageError {
                throw EngineError.storage(e, "removing \(type.rawValue)/\(id.hex)")
            }
        }
    }
}
