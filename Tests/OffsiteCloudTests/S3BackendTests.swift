import Foundation
import OffsiteStorage
import OffsiteSync
import OffsiteTestTraits
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// The S3 backend against moto's S3 server on loopback, one for the suite (each test makes
/// buckets of its own).
@Suite(.sharedServers(.moto)) struct S3BackendTests {
    static let credentials = AWSCredentials(accessKeyID: "offsite-test", secretAccessKey: "offsite-test-secret")

    static func backend(
        _ moto: TestServer, bucket: String = "bucket-\(UUID().uuidString.prefix(8).lowercased())", prefix: String = "repo"
    )
        throws -> S3Backend
    {
        let config = try S3Config.parse(
            "s3:http://127.0.0.1:\(moto.port)/\(bucket)/\(prefix)", environment: [:], options: ["s3.storage-class": "STANDARD_IA"])
        return S3Backend(config: config, credentials: credentials)
    }

    @Test(arguments: BackendConformance.cases)
    func conformance(_ c: BackendConformance.Case) async throws {
        let moto = try SharedServers.server(.moto)
        let b = try Self.backend(moto)
        try await b.create()
        try await c.run(b)
    }

    /// Listings longer than one page (moto pages at 1000 keys) are followed to the end, and a
    /// prefix keeps two repositories in one bucket apart.
    @Test func listingFollowsContinuationAndPrefix() async throws {
        let moto = try SharedServers.server(.moto)
        let shared = "shared-\(UUID().uuidString.prefix(8).lowercased())"
        let a = try Self.backend(moto, bucket: shared, prefix: "one/repo")
        let b = try Self.backend(moto, bucket: shared, prefix: "two")
        try await a.create()
        try await b.create()
        let names = (0..<1_050).map { String(format: "%064x", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, name) in names.enumerated() {
                if i >= 16 { try await group.next() }
                group.addTask { try await a.save(Handle(.index, name), data: Data(name.utf8)) }
            }
            try await group.waitForAll()
        }
        try await b.save(Handle(.index, names[0]), data: Data("b".utf8))
        let listed = try await a.list(.index)
        #expect(listed.count == names.count)
        #expect(Set(listed.map(\.name)) == Set(names))
        #expect(listed.allSatisfy { $0.size == 64 })
        #expect(try await b.list(.index) == [ObjectInfo(name: names[0], size: 1)])
        #expect(try await a.list(.snapshots).isEmpty)
    }

    /// `-o s3.storage-class` goes on data packs only; metadata stays STANDARD.
    @Test func storageClassOnDataPacksOnly() async throws {
        let moto = try SharedServers.server(.moto)
        let b = try Self.backend(moto)
        try await b.create()
        let id = String(repeating: "ab", count: 32)
        try await b.save(Handle(.data, id), data: Data("pack".utf8))
        try await b.save(Handle(.index, id), data: Data("index".utf8))
        let data = try await b.send("HEAD", key: Handle(.data, id).path)
        let index = try await b.send("HEAD", key: Handle(.index, id).path)
        #expect(data.header("x-amz-storage-class") == "STANDARD_IA")
        #expect(index.header("x-amz-storage-class") == nil || index.header("x-amz-storage-class") == "STANDARD")
    }

    /// Permanent errors fail fast and say what to check; transient ones are retried.
    @Test func errorsSayWhatToCheck() async throws {
        let moto = try SharedServers.server(.moto)
        let missing = try Self.backend(moto, bucket: "no-such-bucket")
        do {
            _ = try await missing.list(.snapshots)
            Issue.record("listing a missing bucket succeeded")
        } catch let e as StorageError {
            #expect(e.code == .notFound && e.message.contains("bucket no-such-bucket does not exist"), "\(e.message)")
        }
        // Nothing listens on this port: connection refused is transient (a server restarting).
        let closed = S3Backend(
            config: try S3Config.parse("s3:http://127.0.0.1:\(try TestServer.freePort())/b", environment: [:], options: [:]),
            credentials: Self.credentials)
        do {
            _ = try await closed.size(.config)
            Issue.record("a closed port answered")
        } catch let e as StorageError {
            #expect(e.code == .transient, "\(e.message)")
        }
        // A host that does not resolve is permanent.
        let nowhere = S3Backend(
            config: try S3Config.parse("s3:http://no-such-host.invalid/b", environment: [:], options: [:]), credentials: Self.credentials)
        do {
            _ = try await nowhere.size(.config)
            Issue.record("an unresolvable host answered")
        } catch let e as StorageError {
            #expect(e.code == .io && e.message.contains("cannot resolve"), "\(e.message)")
        }
    }

    /// With a fifth of all requests failing (500, 503 SlowDown, resets), the retrying wrapper
    /// still gets every operation of the conformance suite through, and gives up on a
    /// permanent error at once.
    @Test func retriesRideThroughTransientFaults() async throws {
        let moto = try SharedServers.server(.moto)
        var policy = RetryingBackend.Policy()
        policy.initialDelay = .milliseconds(5)
        policy.maxDelay = .milliseconds(50)
        policy.maxAttempts = 30
        let faults = Mutex(0)
        let failures: [StorageError] = [
            StorageError(.transient, "HTTP 500 InternalError"), StorageError(.transient, "HTTP 503 SlowDown"),
            StorageError(.transient, "connection reset by peer"),
        ]
        for c in BackendConformance.cases {
            let s3 = try Self.backend(moto)
            try await s3.create()
            // Removals are left alone here: after a failed attempt a removal cannot tell "already
            // gone" from "never there", and the suite checks the latter (see the next test).
            // Every fifth operation fails (evenly: a random draw could fail a streak longer
            // than the retries allow, or too few to prove anything).
            let operations = Mutex(0)
            let flaky = FaultInjectingBackend(s3) { op, _, _ in
                guard op != .remove,
                    operations.withLock({ n in
                        n += 1; return n % 5 == 0
                    })
                else { return nil }
                return faults.withLock { n in
                    n += 1
                    return failures[n % failures.count]
                }
            }
            let retries = Mutex(0)
            try await c.run(RetryingBackend(flaky, policy: policy) { _ in retries.withLock { $0 += 1 } })
        }
        #expect(faults.withLock { $0 } > 10)

        let attempts = Mutex(0)
        let denied = FaultInjectingBackend(try Self.backend(moto)) { _, _, _ in
            attempts.withLock { $0 += 1 }
            return StorageError(.unauthorized, "HTTP 403 SignatureDoesNotMatch")
        }
        await #expect(throws: StorageError.self) { try await RetryingBackend(denied, policy: policy).save(.config, data: Data()) }
        #expect(attempts.withLock { $0 } == 1)
    }

    /// A removal whose first attempt deleted the object but lost the reply finds it gone on
    /// the retry: that is success, not notFound.
    @Test func retriedRemovalOfAGoneObjectSucceeds() async throws {
        let moto = try SharedServers.server(.moto)
        let s3 = try Self.backend(moto)
        try await s3.create()
        let h = Handle(.locks, String(repeating: "cd", count: 32))
        try await s3.save(h, data: Data("lock".utf8))
        // The object is removed, but the caller hears of a reset.
        final class AfterRemove: StorageBackend, @unchecked Sendable {
            let inner: any StorageBackend
            var failedOnce = false
            init(_ inner: any StorageBackend) { self.inner = inner }
            var location: String { inner.location }
            func create() async throws { try await inner.create() }
            func save(_ handle: Handle, data: Data) async throws { try await inner.save(handle, data: data) }
            func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
                try await inner.load(handle, offset: offset, length: length)
            }
            func size(_ handle: Handle) async throws -> Int { try await inner.size(handle) }
            func list(_ type: FileType) async throws -> [ObjectInfo] { try await inner.list(type) }
            func remove(_ handle: Handle) async throws {
                try await inner.remove(handle)
                if !failedOnce {
                    failedOnce = true
                    throw StorageError(.transient, "connection reset after the request was sent")
                }
            }
        }
        var policy = RetryingBackend.Policy()
        policy.initialDelay = .milliseconds(1)
        try await RetryingBackend(AfterRemove(s3), policy: policy).remove(h)
        #expect(try await s3.exists(h) == false)
        // A removal of something that was never there is still notFound.
        await #expect(throws: StorageError.self) { try await RetryingBackend(s3, policy: policy).remove(h) }
    }

    /// `--limit-upload` and `--limit-download` pace the bytes of requests as they stream: 1 MiB
    /// at 512 KiB/s takes about two seconds each way (a quarter second may go at once).
    @Test func bandwidthLimitsPaceTransfers() async throws {
        let moto = try SharedServers.server(.moto)
        var options = HTTPTransport.Options()
        options.uploadKiB = 512
        options.downloadKiB = 512
        let config = try S3Config.parse(
            "s3:http://127.0.0.1:\(moto.port)/limited-\(UUID().uuidString.prefix(8).lowercased())/repo", environment: [:], options: [:])
        let b = S3Backend(config: config, credentials: Self.credentials, transport: try HTTPTransport.shared(options))
        try await b.create()
        let h = Handle(.data, String(repeating: "ee", count: 32))
        let data = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let clock = ContinuousClock()
        let up = try await clock.measure { try await b.save(h, data: data) }
        var loaded = Data()
        let down = try await clock.measure { loaded = try await b.load(h) }
        #expect(loaded == data)
        #expect(up >= .milliseconds(1_600), "upload of 1 MiB at 512 KiB/s took \(up)")
        #expect(down >= .milliseconds(1_600), "download of 1 MiB at 512 KiB/s took \(down)")
        // Concurrent transfers share the rate rather than each getting it.
        let limiter = RateLimiter(kibPerSecond: 1024)
        let shared = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { for _ in 0..<4 { try await limiter.take(64 << 10) } } }
                try await group.waitForAll()
            }
        }
        #expect(shared >= .milliseconds(700), "4 × 256 KiB at 1 MiB/s took \(shared)")
    }

    /// A server that answers badly: a listing cut off in the middle, a body shorter than its
    /// Content-Length, a redirect to another host, a ranged read answered with the wrong
    /// length. Each is an error naming what happened; nothing is followed or taken as data.
    @Test func malformedRepliesAreRejected() async throws {
        let script = NSTemporaryDirectory() + "offsite-hostile-s3-\(UUID().uuidString.prefix(8)).py"
        try Data(Self.hostileServer.utf8).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        let server = try await TestServer("python3", install: "apt-get install python3") { [script, String($0)] }
        defer { server.stop() }
        let b = S3Backend(
            config: try S3Config.parse("s3:http://127.0.0.1:\(server.port)/bucket/repo", environment: [:], options: [:]),
            credentials: Self.credentials)
        func failure(_ body: () async throws -> Void) async -> StorageError? {
            do {
                try await body()
                return nil
            } catch let e as StorageError {
                return e
            } catch {
                return StorageError(.io, "unexpected \(error)")
            }
        }
        let truncated = await failure { _ = try await b.list(.index) }
        #expect(
            truncated?.code == .transient && truncated?.message.contains("not a complete ListBucketResult") == true,
            "\(String(describing: truncated))")
        let short = await failure { _ = try await b.load(Handle(.keys, String(repeating: "aa", count: 32))) }
        #expect(short?.code == .transient, "\(String(describing: short))")
        let redirect = await failure { _ = try await b.size(.config) }
        #expect(redirect != nil && redirect?.message.contains("307") == true, "\(String(describing: redirect))")
        let wrongRange = await failure { _ = try await b.load(Handle(.data, String(repeating: "bb", count: 32)), offset: 10, length: 20) }
        #expect(wrongRange?.code == .invalidData, "\(String(describing: wrongRange))")
        #expect(!server.output.contains("evil"), "the redirect was followed")
    }

    static let hostileServer = #"""
        import sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, fmt, *args):
                sys.stderr.write((fmt % args) + "\n")

            def do_HEAD(self):
                if self.path.endswith("/config"):
                    self.send_response(307)
                    self.send_header("Location", "http://evil.invalid/bucket/repo/config")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def do_GET(self):
                if "list-type=2" in self.path:
                    body = b'<?xml version="1.0"?><ListBucketResult><Contents><Key>repo/index/aa</Key><Size>3</Si'
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif "/keys/" in self.path:
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    self.wfile.flush()
                    self.close_connection = True
                elif "/data/" in self.path:
                    body = b"x" * 5
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes 10-14/15")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
        """#
}
