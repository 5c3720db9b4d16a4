import OffsiteFormat
import OffsiteSync

/// A directory whose tree blob is being assembled while its children are still being saved.
///
/// The walker reserves a slot per child in name order (`reserve`), children fill their slot
/// when done (`fill`, from any task; `nil` leaves the child out), and the walker calls `close`
/// after listing the last child. When the tree is closed and every slot is filled, the task that
/// filled the last slot serialises the tree, stores its blob and runs `onComplete` with its ID,
/// which fills this directory's own slot in its parent: trees complete bottom-up as soon as their
/// contents are stored, and no directory waits in a thread.
final class PendingTree: Sendable {
    private struct State {
        var slots: [Node?] = []
        var remaining = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let uploader: PackUploader
    private let onComplete: @Sendable (ID) async throws -> Void

    init(uploader: PackUploader, onComplete: @escaping @Sendable (ID) async throws -> Void) {
        self.uploader = uploader
        self.onComplete = onComplete
    }

    /// Reserves the next slot; children must be reserved in bytewise name order.
    func reserve() -> Int {
        state.withLock { s in
            s.slots.append(nil)
            s.remaining += 1
            return s.slots.count - 1
        }
    }

    /// Stores a child's node (nil: the child is left out of the tree).
    func fill(_ slot: Int, _ node: Node?) async throws {
        let ready = state.withLock { s -> [Node]? in
            s.slots[slot] = node
            s.remaining -= 1
            return s.closed && s.remaining == 0 ? s.slots.compactMap { $0 } : nil
        }
        if let ready { try await complete(ready) }
    }

    /// No more children will be reserved.
    func close() async throws {
        let ready = state.withLock { s -> [Node]? in
            s.closed = true
            return s.remaining == 0 ? s.slots.compactMap { $0 } : nil
        }
        if let ready { try await complete(ready) }
    }

    private func complete(_ nodes: [Node]) async throws {
        let json = try Tree(nodes: nodes).json
        let id = ID.hash(json)
        try await uploader.save(.tree, json, id: id)
        try await onComplete(id)
    }
}
