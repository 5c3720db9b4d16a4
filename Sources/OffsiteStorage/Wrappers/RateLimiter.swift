public import Foundation
import OffsiteSync

/// Paces bytes to an average rate (`--limit-upload`, `--limit-download`): each `take(n)`
/// reserves the next `n / rate` seconds of the line and returns when that time is over, so
/// concurrent transfers share the rate. An idle line keeps a quarter second of credit, which
/// small requests spend without waiting.
public final class RateLimiter: Sendable {
    public let bytesPerSecond: Double
    private let nextFree = Mutex<ContinuousClock.Instant?>(nil)
    private static let burst: Duration = .milliseconds(250)

    public init(bytesPerSecond: Double) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
    }

    /// restic's flags are in KiB/s.
    public convenience init(kibPerSecond: Int) {
        self.init(bytesPerSecond: Double(kibPerSecond) * 1024)
    }

    /// Waits until `bytes` more may go.
    public func take(_ bytes: Int) async throws {
        guard bytes > 0 else { return }
        let cost = Duration.nanoseconds(Int64(Double(bytes) / bytesPerSecond * 1e9))
        let now = ContinuousClock.now
        // The transfer occupies the line from when it is free (at most `burst` back, the
        // credit an idle line keeps) for `cost`; it is done when that slot ends.
        let end = nextFree.withLock { next -> ContinuousClock.Instant in
            let begin = max(next ?? now - Self.burst, now - Self.burst)
            next = begin + cost
            return begin + cost
        }
        let wait = end - now
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}

/// Paces whole objects through a backend that cannot stream (the local disk): an upload waits
/// for its share of `upload` before it is written, a download after it was read. The average
/// rate holds; single objects still move at full speed.
public final class RateLimitedBackend: StorageBackend {
    let inner: any StorageBackend
    let upload: RateLimiter?
    let download: RateLimiter?

    public init(_ inner: any StorageBackend, upload: RateLimiter?, download: RateLimiter?) {
        self.inner = inner
        self.upload = upload
        self.download = download
    }

    public var location: String { inner.location }
    public var preferredConcurrency: Int { inner.preferredConcurrency }

    public func create() async throws { try await inner.create() }

    public func save(_ handle: Handle, data: Data) async throws {
        try await upload?.take(data.count)
        try await inner.save(handle, data: data)
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        let data = try await inner.load(handle, offset: offset, length: length)
        try await download?.take(data.count)
        return data
    }

    public func size(_ handle: Handle) async throws -> Int { try await inner.size(handle) }
    public func list(_ type: FileType) async throws -> [ObjectInfo] { try await inner.list(type) }
    public func remove(_ handle: Handle) async throws { try await inner.remove(handle) }
}
