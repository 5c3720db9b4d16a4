public import OffsiteFormat

extension Repository {
    /// Visits every tree reachable from `roots` once, in no particular order (restic's
    /// `StreamTrees`): the walk of check, prune and copy, which need each tree but no paths.
    ///
    /// `load` runs for up to `width` trees at once (it loads the tree and does any per-tree work
    /// that can run beside the others); `visit` then runs for each result, one at a time, and
    /// returns the subtrees to go on with. A tree in `skipping`, or one already visited, is not
    /// loaded again. An error thrown by `load` or `visit` ends the walk (the trees still loading
    /// are cancelled) and is rethrown.
    public func streamTrees<Loaded: Sendable>(
        from roots: [ID], skipping: Set<ID> = [], width: Int = 16,
        load: @escaping @Sendable (ID) async throws -> Loaded,
        visit: (ID, Loaded) throws -> [ID]
    ) async throws {
        var entered = skipping
        var queue: [ID] = []
        for root in roots where entered.insert(root).inserted { queue.append(root) }
        try await withThrowingTaskGroup(of: (ID, Loaded).self) { group in
            var next = 0
            var running = 0
            func schedule() {
                while running < width && next < queue.count {
                    let id = queue[next]
                    next += 1
                    running += 1
                    group.addTask { (id, try await load(id)) }
                }
            }
            schedule()
            while let (id, loaded) = try await group.next() {
                running -= 1
                for child in try visit(id, loaded) where entered.insert(child).inserted { queue.append(child) }
                schedule()
            }
        }
    }
}
