public import OffsiteFormat
import OffsiteStorage
import OffsiteSync

/// Tree loading for object storage, where every request is a network round trip (and a
/// billed GET): a tree that is not in memory is read together with the other trees stored
/// near it in its pack, in one ranged read of at most `window` bytes, and those trees wait in
/// a bounded cache for the walk to ask for them. A restore of a snapshot with 1,500
/// directories reads its tree pack in one request instead of 1,500 (restic gets the same
/// effect from its local cache of tree packs).
///
/// Each tree is verified as always (MAC, decompression, SHA-256) before it is cached. Anything
/// unusual (a blob not in the index, a failed read, a damaged blob) falls back to the
/// single-blob path, which tries other copies and reports errors as it always has.
final class TreeWindows: Sendable {
    static let window = 4 << 20
    /// Decoded trees waiting to be asked for, by their JSON size.
    static let maxCachedBytes = 64 << 20

    private struct Key: Hashable {
        var pack: ID
        var slot: Int
    }

    private struct State {
        /// Tree blobs per pack, in offset order, from the index as it was first needed.
        var byPack: [ID: [PackBlob]]? = nil
        var cache: [ID: (tree: Tree, size: Int)] = [:]
        /// Cached IDs, oldest first (evicted first).
        var order: [ID] = []
        var orderStart = 0
        var cachedBytes = 0
        var inflight: [Key: Task<[ID: (Tree, Int)], Never>] = [:]

        mutating func take(_ id: ID) -> Tree? {
            guard let entry = cache.removeValue(forKey: id) else { return nil }
            cachedBytes -= entry.size
            return entry.tree
        }

        mutating func insert(_ trees: [ID: (Tree, Int)], except wanted: ID) {
            for (id, (tree, size)) in trees where id != wanted && cache[id] == nil {
                cache[id] = (tree, size)
                cachedBytes += size
                order.append(id)
            }
            while cachedBytes > TreeWindows.maxCachedBytes && orderStart < order.count {
                let oldest = order[orderStart]
                orderStart += 1
                if let e = cache.removeValue(forKey: oldest) { cachedBytes -= e.size }
            }
            if orderStart > 4096 && orderStart * 2 > order.count {
                order.removeFirst(orderStart)
                orderStart = 0
            }
        }
    }

    private let state = Mutex(State())

    /// The tree `id`, from the cache or read with its neighbours; nil when the caller should
    /// load it on its own.
    func tree(_ id: ID, in repository: Repository) async throws -> Tree? {
        if let tree = state.withLock({ $0.take(id) }) { return tree }
        let handle = BlobHandle(id: id, type: .tree)
        guard let location = repository.index.locations(of: handle).first else { return nil }
        let pack = location.packID
        let slot = Int(location.blob.offset) / Self.window
        let key = Key(pack: pack, slot: slot)
        let (task, started) = state.withLock { s -> (Task<[ID: (Tree, Int)], Never>?, Bool) in
            if s.byPack == nil { s.byPack = repository.index.blobsByPack(type: .tree) }
            if let running = s.inflight[key] { return (running, false) }
            guard let all = s.byPack?[pack] else { return (nil, false) }
            let blobs = all.filter { Int($0.offset) / Self.window == slot }
            guard blobs.contains(where: { $0.id == id }) else { return (nil, false) }
            let task = Task { await Self.read(blobs, of: pack, from: repository) }
            s.inflight[key] = task
            return (task, true)
        }
        guard let task else { return nil }
        let trees = await task.value
        try Task.checkCancellation()
        return state.withLock { s in
            if started {
                s.inflight[key] = nil
                s.insert(trees, except: id)
            } else {
                // The reader may have cached this tree for us already.
                _ = s.take(id)
            }
            return trees[id]?.0
        }
    }

    /// Reads the span of `blobs` in one request and decodes every tree that verifies.
    private static func read(_ blobs: [PackBlob], of pack: ID, from repository: Repository) async -> [ID: (Tree, Int)] {
        guard let first = blobs.first else { return [:] }
        let start = Int(first.offset)
        let end = blobs.map { Int($0.offset + $0.length) }.max()!
        guard let span = try? await repository.backend.load(Handle(.data, pack.hex), offset: start, length: end - start) else {
            return [:]
        }
        var trees: [ID: (Tree, Int)] = [:]
        for blob in blobs {
            let from = span.startIndex + Int(blob.offset) - start
            guard let json = try? repository.decodeBlob(span[from..<from + Int(blob.length)], blob),
                let tree = try? Tree(json: json)
            else { continue }
            trees[blob.id] = (tree, json.count)
        }
        return trees
    }
}
