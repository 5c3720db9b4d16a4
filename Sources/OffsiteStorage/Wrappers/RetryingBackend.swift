public import Foundation

/// Retries the operations of a backend that fail with `.transient` errors (timeouts, dropped
/// connections, 5xx, 429, 503 SlowDown), with exponential backoff and jitter, until an
/// attempt limit or an overall deadline. Every other error is returned at once: a refused
/// signature or a missing bucket does not get better by asking again.
///
/// Every operation may be repeated safely: objects are content-addressed, so saving one twice
/// stores the same bytes; a removal whose first attempt succeeded without the reply arriving
/// finds the object gone on the retry, which counts as success.
public final class RetryingBackend: StorageBackend {
    public struct Policy: Sendable {
        public var initialDelay: Duration = .milliseconds(500)
        public var multiplier = 2.0
        public var maxDelay: Duration = .seconds(60)
        /// Give up when the next wait would end after this long since the first attempt.
        public var maxElapsed: Duration = .seconds(15 * 60)
        public var maxAttempts = 10

        public init() {}
    }

    let inner: any StorageBackend
    public let policy: Policy
    let onRetry: (@Sendable (String) -> Void)?

    /// `onRetry` hears about each retry ("saving data/ab/… failed, retrying in 1.3 s: …").
    public init(_ inner: any StorageBackend, policy: Policy = Policy(), onRetry: (@Sendable (String) -> Void)? = nil) {
        self.inner = inner
        self.policy = policy
        self.onRetry = onRetry
    }

    public var location: String { inner.location }
    public var preferredConcurrency: Int { inner.preferredConcurrency }

    func retrying<T>(_ what: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let start = clock.now
        var delay = policy.initialDelay
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let e as StorageError where e.code == .transient {
                let wait = delay * Double.random(in: 0.5...1.5)
                guard attempt < policy.maxAttempts, clock.now - start + wait <= policy.maxElapsed else {
                    throw StorageError(.transient, "\(e.message) (gave up after \(attempt) attempts in \(Self.seconds(clock.now - start)))")
                }
                onRetry?("\(what()) failed, retrying in \(Self.seconds(wait)): \(e.message)")
                try await Task.sleep(for: wait)
                delay = min(delay * policy.multiplier, policy.maxDelay)
                attempt += 1
            }
        }
    }

    static func seconds(_ d: Duration) -> String {
        let (s, atto) = d.components
        return String(format: "%.1f s", Double(s) + Double(atto) / 1e18)
    }

    public func create() async throws {
        try await retrying("creating \(location)") { try await inner.create() }
    }

    public func save(_ handle: Handle, data: Data) async throws {
        try await retrying("saving \(handle)") { try await inner.save(handle, data: data) }
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try await retrying("loading \(handle)") { try await inner.load(handle, offset: offset, length: length) }
    }

    public func size(_ handle: Handle) async throws -> Int {
        try await retrying("reading the size of \(handle)") { try await inner.size(handle) }
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        try await retrying("listing \(type.rawValue)") { try await inner.list(type) }
    }

    public func remove(_ handle: Handle) async throws {
        var failedOnce = false
        try await retrying("removing \(handle)") {
            do {
                try await inner.remove(handle)
            } catch let e as StorageError where e.code == .notFound && failedOnce {
                return
            } catch let e as StorageError where e.code == .transient {
                failedOnce = true
                throw e
            }
        }
    }
}
