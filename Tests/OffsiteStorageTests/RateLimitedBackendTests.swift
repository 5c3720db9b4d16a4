import Foundation
import OffsiteStorage
import Testing

/// `--limit-upload/--limit-download` on backends that cannot stream (the local disk): whole
/// objects wait for their share of the rate, before a save and after a load.
@Suite struct RateLimitedBackendTests {
    @Test func wholeObjectsArePaced() async throws {
        let memory = MemoryBackend()
        try await memory.create()
        let limited = RateLimitedBackend(
            memory, upload: RateLimiter(kibPerSecond: 2048), download: RateLimiter(kibPerSecond: 2048))
        let data = Data(repeating: 7, count: 2 << 20)
        let h = Handle(.data, String(repeating: "0f", count: 32))
        let clock = ContinuousClock()
        let up = try await clock.measure { try await limited.save(h, data: data) }
        var back = Data()
        let down = try await clock.measure { back = try await limited.load(h) }
        #expect(back == data)
        // 2 MiB at 2 MiB/s, less the quarter second an idle line may spend at once.
        #expect(up >= .milliseconds(700), "\(up)")
        #expect(down >= .milliseconds(700), "\(down)")
        // Small objects on an idle line do not wait.
        let small = try await clock.measure {
            try await limited.save(Handle(.keys, String(repeating: "1a", count: 32)), data: Data(count: 100))
        }
        #expect(small < .seconds(5), "\(small)")
        #expect(limited.preferredConcurrency == memory.preferredConcurrency)
    }
}
