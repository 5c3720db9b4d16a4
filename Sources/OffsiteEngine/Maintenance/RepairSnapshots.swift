import Foundation
public import OffsiteFormat
import OffsiteStorage

/// `repair snapshots` as restic 0.16–0.18 does it (`cmd/restic/cmd_repair_snapshots.go` and
/// `filterAndReplaceSnapshot` in `cmd_rewrite.go`): every selected snapshot is walked and what
/// cannot be read is taken out of a copy of it.
///
/// The rules, restic's:
/// - A file whose content names data blobs that are not in the index keeps the blobs that are,
///   in their order, and its size becomes the sum of their lengths ("removed missing
///   content"); a file whose blobs are all there but whose size is not their sum gets that sum
///   ("fixed incorrect size"). Every file node's content is written as a list (`[]`, never
///   `null`).
/// - Nodes of type `irregular` are left out ("removed node with invalid type"; restic 0.17+,
///   which also drops nodes without a type: offsite cannot decode a tree holding one, so that
///   whole directory is treated as unreadable).
/// - A directory whose tree cannot be loaded becomes an empty directory (its subtree is the
///   tree `{"nodes":null}`, restic's empty tree).
/// - A snapshot whose root tree cannot be loaded is removed (with or without `forget`; restic
///   does the same), or in a dry run reported as "would delete empty snapshot".
/// - A snapshot that changed is saved again with `original` set to its old ID (always, even
///   when it already had one) and the tree replaced; without `forget` it also gets the tag
///   `repaired` (when it does not have it yet), with `forget` it does not, and its old file is
///   removed after the new one is saved.
///
/// The repair depends on a correct index (run `repair index` first): a blob counts as present
/// when the index lists it. Data blobs are not read.
///
/// Order of writes, for each changed snapshot: the new trees go into packs, the packs' index
/// is written, then the new snapshot file, then (with `forget`) the old snapshot is removed;
/// an interruption at any point leaves a valid repository (at worst with both snapshots). A
/// dry run computes everything and writes nothing. Snapshots are handled one at a time in the
/// order given; the first failure stops the run and is thrown (`EngineError` saying which
/// snapshot), what was done before it stays done. The caller holds an exclusive lock unless
/// it is a dry run (restic takes none then).
public struct RepairSnapshots: Sendable {
    public struct Options: Sendable {
        /// Compute and report, write nothing (`--dry-run`).
        public var dryRun = false
        /// Remove each original snapshot once its repaired copy is saved (`--forget`).
        public var forget = false
        public var compression: Zstd.Level = .auto
        public var targetPackSize = Pack.defaultTargetSize
        public init() {}
    }

    /// What happens, in order, for the caller to print (restic's messages are in the comments).
    public enum Event: Sendable, Equatable {
        /// A snapshot is about to be walked ("snapshot 1a2b3c4d of [/src] at … by user@host").
        case snapshot(ID, Snapshot)
        /// `  file "/path": removed node with invalid type "irregular"`
        case removedInvalidNode(path: [UInt8], type: String)
        /// `  file "/path": removed missing content`
        case removedMissingContent(path: [UInt8])
        /// `  file "/path": fixed incorrect size`
        case fixedIncorrectSize(path: [UInt8])
        /// `  dir "/path": removed entry "..": the name ".." (the parent directory)`: a name no
        /// path may be built from, or one an earlier entry has (offsite only; restic keeps them)
        case removedUnsafeName(directory: [UInt8], name: [UInt8], problem: NodeName.Problem)
        /// `  dir "/": not readable`
        case rootNotReadable
        /// `  dir "/path": replaced with empty directory`
        case replacedWithEmptyDirectory(path: [UInt8])
        /// `would delete empty snapshot` (dry run)
        case wouldDeleteEmptySnapshot
        /// `removed empty snapshot 1a2b3c4d`
        case removedEmptySnapshot(ID)
        /// `would save new snapshot` (dry run)
        case wouldSaveNewSnapshot
        /// `would remove old snapshot` (dry run with `forget`)
        case wouldRemoveOldSnapshot
        /// `saved new snapshot 5e6f7a8b`
        case savedNewSnapshot(ID)
        /// `removed old snapshot 1a2b3c4d`
        case removedOldSnapshot(ID)
    }

    /// What became of one snapshot.
    public enum Outcome: Sendable, Equatable {
        case unchanged
        /// Saved again as `new` (nil in a dry run); the old one removed when `forget` was set.
        case repaired(new: ID?)
        /// Its root tree could not be loaded: removed (or, in a dry run, would be).
        case removed
    }

    public struct Report: Sendable {
        public var outcomes: [(id: ID, outcome: Outcome)] = []
        /// Snapshots repaired or removed (restic's "modified N snapshots").
        public var modified: Int { outcomes.filter { $0.outcome != .unchanged }.count }
    }

    /// The tag a repaired snapshot gets when its original is kept.
    public static let repairedTag = "repaired"
    /// restic's empty tree (`json.Marshal` of a tree without nodes), which replaces directories
    /// that cannot be loaded.
    static let emptyTreeJSON = Data("{\"nodes\":null}\n".utf8)

    public let repository: Repository
    public let options: Options
    public var onEvent: (@Sendable (Event) -> Void)?

    public init(repository: Repository, options: Options, onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.repository = repository
        self.options = options
        self.onEvent = onEvent
    }

    /// Repairs `snapshots` (as loaded, with their IDs) one after another.
    public func run(snapshots: [(id: ID, snapshot: Snapshot)]) async throws -> Report {
        var report = Report()
        var rewriter = makeRewriter()
        for (id, snapshot) in snapshots {
            onEvent?(.snapshot(id, snapshot))
            do {
                report.outcomes.append((id, try await repair(id, snapshot, with: &rewriter)))
            } catch  where error is CancellationError || Task.isCancelled {
                throw CancellationError()
            } catch let e as EngineError {
                throw EngineError(e.code, Self.failure(id, e.message), storageCode: e.storageCode)
            } catch {
                throw EngineError(.invalidData, Self.failure(id, "\(error)"))
            }
        }
        return report
    }

    static func failure(_ id: ID, _ message: String) -> String {
        "unable to rewrite snapshot ID \"\(id.shortHex)\": \(message)"
    }

    private func repair(_ id: ID, _ snapshot: Snapshot, with rewriter: inout TreeRewriter) async throws -> Outcome {
        let repository = repository
        let (newTree, _) = try await repository.withPackUploader(
            compression: options.compression, targetPackSize: options.targetPackSize, dryRun: options.dryRun
        ) { uploader in
            try await rewriter.rewrite(
                snapshot.tree, at: Array("/".utf8),
                load: { try await repository.loadTree($0) },
                save: { json in
                    let treeID = ID.hash(json)
                    try await uploader.save(.tree, json, id: treeID)
                    return treeID
                })
        }

        guard let newTree else {
            if options.dryRun {
                onEvent?(.wouldDeleteEmptySnapshot)
            } else {
                try await Forget.remove([id], from: repository)
                onEvent?(.removedEmptySnapshot(id))
            }
            return .removed
        }
        guard newTree != snapshot.tree else { return .unchanged }
        if options.dryRun {
            onEvent?(.wouldSaveNewSnapshot)
            if options.forget { onEvent?(.wouldRemoveOldSnapshot) }
            return .repaired(new: nil)
        }

        var repaired = snapshot
        repaired.original = id
        repaired.tree = newTree
        if !options.forget && !repaired.tags.contains(Self.repairedTag) { repaired.tags.append(Self.repairedTag) }
        let newID = try await repository.saveJSON(.snapshots, repaired.json)
        onEvent?(.savedNewSnapshot(newID))
        if options.forget {
            try await Forget.remove([id], from: repository)
            onEvent?(.removedOldSnapshot(id))
        }
        return .repaired(new: newID)
    }

    private func makeRewriter() -> TreeRewriter {
        let index = repository.index
        let onEvent = onEvent
        return TreeRewriter(
            rewriteNode: { node, path in Self.repairedNode(node, path: path, index: index, onEvent: onEvent) },
            rewriteFailedTree: { path, _ in
                if path == Array("/".utf8) {
                    onEvent?(.rootNotReadable)
                    return nil
                }
                onEvent?(.replacedWithEmptyDirectory(path: path))
                return Self.emptyTreeJSON
            },
            rewriteRejected: { rejection, directory in
                onEvent?(.removedUnsafeName(directory: directory, name: rejection.node.name, problem: rejection.problem))
            })
    }

    /// restic's node rule for `repair snapshots` (see the type's comment).
    static func repairedNode(_ node: Node, path: [UInt8], index: MasterIndex, onEvent: (@Sendable (Event) -> Void)?) -> Node? {
        if node.type == .irregular {
            onEvent?(.removedInvalidNode(path: path, type: node.type.rawValue))
            return nil
        }
        guard node.type == .file else { return node }
        var content: [ID] = []
        var size: UInt64 = 0
        var missing = false
        for blob in node.content ?? [] {
            if let length = index.plaintextLength(of: BlobHandle(id: blob, type: .data)) {
                content.append(blob)
                size &+= UInt64(length)
            } else {
                missing = true
            }
        }
        if missing {
            onEvent?(.removedMissingContent(path: path))
        } else if size != node.size {
            onEvent?(.fixedIncorrectSize(path: path))
        }
        var repaired = node
        repaired.content = content
        repaired.size = size
        return repaired
    }
}
