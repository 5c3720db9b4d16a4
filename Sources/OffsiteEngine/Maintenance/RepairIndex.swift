import Foundation
public import OffsiteFormat
public import OffsiteStorage

/// `repair index` (restic 0.14's `rebuild-index`): rebuilds the index from the packs.
///
/// Index files that load are kept as the source for packs whose size still matches; every
/// other pack in `data/` (not indexed, or of another size) has its header read and added;
/// indexed packs that are gone are dropped. Then new index files for everything are written and
/// only after that the old ones are deleted, so an interruption leaves a valid (if duplicated)
/// index. Packs whose header cannot be read are left out and reported (prune deletes them).
public struct RepairIndex: Sendable {
    public struct Report: Sendable {
        /// Index files that could not be read (replaced).
        public var invalidIndexFiles: [String] = []
        public var packsAdded: [ID] = []
        public var packsReindexed: [ID] = []
        public var packsMissing: [ID] = []
        /// Packs whose header could not be read: left out of the index.
        public var unreadablePacks: [String] = []
        public var indexFilesWritten = 0
    }

    public enum Event: Sendable {
        case phase(String)
        case warning(String)
    }

    public let repository: Repository
    /// Read every pack's header, ignoring the current index (`--read-all-packs`).
    public var readAllPacks = false
    public var onEvent: (@Sendable (Event) -> Void)?

    public init(repository: Repository, readAllPacks: Bool = false, onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.repository = repository
        self.readAllPacks = readAllPacks
        self.onEvent = onEvent
    }

    public func run() async throws -> Report {
        var report = Report()
        let oldIndexFiles = try await repository.listIDs(.index)
        var fromIndex: [ID: [PackBlob]] = [:]
        if !readAllPacks {
            onEvent?(.phase("loading indexes..."))
            let index = MasterIndex()
            for id in oldIndexFiles {
                do {
                    index.add(try IndexFile(json: try await repository.loadJSON(.index, id)), fromFile: id)
                } catch {
                    let message = "removing invalid index \(id.hex): \(error)"
                    report.invalidIndexFiles.append(message)
                    onEvent?(.warning(message))
                }
            }
            fromIndex = index.blobsByPack()
        }

        onEvent?(.phase("getting pack files to read..."))
        var keep: [IndexFile.PackEntry] = []
        var toRead: [(ID, Int)] = []
        var present = Set<ID>()
        let stored = try await storage("listing data") { try await repository.backend.list(.data) }
        for object in stored.sorted(by: { $0.name < $1.name }) {
            guard let id = ID(hex: object.name) else { continue }
            present.insert(id)
            if let blobs = fromIndex[id] {
                let size = Pack.size(of: blobs)
                if size == object.size {
                    keep.append(.init(id: id, blobs: blobs))
                    continue
                }
                onEvent?(.warning("reindexing pack file \(id.hex) with unexpected size \(object.size) instead of \(size)"))
                report.packsReindexed.append(id)
            } else if !readAllPacks {
                onEvent?(.warning("adding pack file to index \(id.hex)"))
                report.packsAdded.append(id)
            }
            toRead.append((id, object.size))
        }
        for id in fromIndex.keys.sorted(by: { $0.hex < $1.hex }) where !present.contains(id) {
            onEvent?(.warning("removing not found pack file \(id.hex)"))
            report.packsMissing.append(id)
        }

        if !toRead.isEmpty {
            onEvent?(.phase("reading pack files"))
            for (id, size) in toRead {
                try Task.checkCancellation()
                do {
                    keep.append(.init(id: id, blobs: try await readHeader(id, size: size)))
                } catch {
                    let message = "skipped incomplete pack file: \(id.hex): \(error)"
                    report.unreadablePacks.append(message)
                    onEvent?(.warning(message))
                }
            }
        }

        onEvent?(.phase("rebuilding index"))
        report.indexFilesWritten = try await repository.saveIndex(packs: keep)
        onEvent?(.phase("deleting obsolete index files"))
        try await repository.removeFiles(oldIndexFiles, .index)
        return report
    }

    /// Reads a pack's header from its tail: the last 4 bytes give the header length.
    func readHeader(_ id: ID, size: Int) async throws -> [PackBlob] {
        let handle = Handle(.data, id.hex)
        guard size >= 4 else { throw FormatError(.invalidData, "pack is \(size) bytes") }
        let trailer = try await repository.backend.load(handle, offset: size - 4, length: 4)
        let length = try Pack.headerLength(trailer: trailer, packSize: size)
        let tail = try await repository.backend.load(handle, offset: size - length - 4, length: length + 4)
        return try Pack.readHeader(tail: tail, packSize: size, key: repository.key)
    }
}
