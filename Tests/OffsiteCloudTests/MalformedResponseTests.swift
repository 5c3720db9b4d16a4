import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// The S3, REST and GCS backends against a server that answers badly (`HostileHTTPServer`):
/// bodies longer or shorter than their Content-Length, empty or HTML bodies, truncated or
/// endless listings, redirects to another host. Every case must end in an error that says what
/// happened (no crash, no hang, no short data taken as the object) without the credentials in
/// it, and a redirect must never reach the other host.
@Suite struct MalformedResponseTests {
    static let awsSecret = "hostile-aws-Secret-0c7e51"
    static let restPassword = "hostile-rest-Secret-9d24aa"
    static let gcsToken = "ya29.hostile-gcs-Secret-e3b1"
    static let secrets = [awsSecret, restPassword, gcsToken]

    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case s3, rest, gcs
        var testDescription: String { rawValue }
    }

    static func backend(_ kind: Kind, port: Int, mode: String) throws -> any StorageBackend {
        let (location, environment): (String, [String: String]) =
            switch kind {
            case .s3:
                ("s3:http://127.0.0.1:\(port)/\(mode)/repo", ["AWS_ACCESS_KEY_ID": "AKIAHOSTILE", "AWS_SECRET_ACCESS_KEY": awsSecret])
            case .rest: ("rest:http://hostile:\(restPassword)@127.0.0.1:\(port)/\(mode)/", [:])
            case .gcs: ("gs:\(mode):/repo", ["STORAGE_EMULATOR_HOST": "http://127.0.0.1:\(port)", "GOOGLE_ACCESS_TOKEN": gcsToken])
            }
        // A stuck-request timeout well above any reply here: a hang would show as a failure, not pass.
        return try #require(
            try CloudBackends.backend(
                for: location, environment: environment, options: [CloudBackends.stuckRequestTimeoutKey: "120"]))
    }

    /// The error `body` throws, or nil when it succeeded.
    static func failure(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let e as StorageError {
            return "\(e.code): \(e.message)"
        } catch {
            return "not a StorageError: \(error)"
        }
    }

    static let pack = Handle(.data, String(repeating: "cd", count: 32))
    static let size = HostileHTTPServer.objectSize

    /// One malformed reply: the operation, and what its error must say (nil: any StorageError).
    struct Case {
        var mode: String
        var what: String
        var expected: [String]
        var run: @Sendable (any StorageBackend) async throws -> Void
    }

    static func cases(_ kind: Kind, sinkPort: Int) -> [Case] {
        var all: [Case] = [
            Case(mode: "cl-long", what: "a ranged read whose body stops before its Content-Length", expected: []) {
                _ = try await $0.load(pack, offset: 0, length: size)
            },
            Case(mode: "cl-long", what: "a whole read whose body stops before its Content-Length", expected: []) {
                _ = try await $0.load(pack, offset: 0, length: nil)
            },
            Case(mode: "cl-short", what: "a ranged read whose Content-Length is half its body", expected: ["instead of \(size)"]) {
                _ = try await $0.load(pack, offset: 0, length: size)
            },
            Case(mode: "cl-short", what: "a ranged read from an offset, Content-Length half the body", expected: ["instead of 600"]) {
                _ = try await $0.load(pack, offset: 400, length: 600)
            },
            Case(mode: "empty-200", what: "a ranged read answered 200 with an empty body", expected: ["0 bytes returned instead of 100"]) {
                _ = try await $0.load(pack, offset: 10, length: 100)
            },
            Case(mode: "html", what: "a ranged read answered with an HTML page", expected: ["instead of \(size)"]) {
                _ = try await $0.load(pack, offset: 0, length: size)
            },
            Case(mode: "html", what: "a listing answered with an HTML page", expected: []) { _ = try await $0.list(.snapshots) },
        ]
        for code in [301, 302, 307, 308] {
            let mode = "redirect-\(code)"
            let target = "127.0.0.1:\(sinkPort)"
            all += [
                Case(mode: mode, what: "a ranged read redirected (\(code)) to another host", expected: [String(code), target]) {
                    _ = try await $0.load(pack, offset: 0, length: size)
                },
                Case(mode: mode, what: "a listing redirected (\(code)) to another host", expected: [String(code), target]) {
                    _ = try await $0.list(.snapshots)
                },
                Case(mode: mode, what: "a size lookup redirected (\(code)) to another host", expected: [String(code)]) {
                    _ = try await $0.size(pack)
                },
            ]
        }
        switch kind {
        case .s3:
            all += [
                Case(mode: "xml-truncated", what: "a listing cut in the middle of its XML", expected: ["not a complete ListBucketResult"]) {
                    _ = try await $0.list(.snapshots)
                },
                Case(
                    mode: "truncated-no-token", what: "a truncated listing without a continuation token",
                    expected: ["no continuation token"]
                ) {
                    _ = try await $0.list(.snapshots)
                },
                Case(mode: "same-token", what: "a listing that names the same next page again", expected: ["earlier page"]) {
                    _ = try await $0.list(.snapshots)
                },
            ]
        case .gcs:
            all.append(
                Case(mode: "same-token", what: "a listing that names the same next page again", expected: ["earlier page"]) {
                    _ = try await $0.list(.snapshots)
                })
        case .rest: break
        }
        return all
    }

    @Test(arguments: Kind.allCases)
    func malformedRepliesEndInClearErrors(_ kind: Kind) async throws {
        // The host redirects point to: it must never see a request.
        let sink = try await HostileHTTPServer.start()
        defer { sink.stop() }
        let server = try await HostileHTTPServer.start(redirectPort: sink.port)
        defer { server.stop() }
        // The well-behaved mode first: the backend reads the server's objects correctly, so
        // the failures below come from the malformed replies.
        let good = try Self.backend(kind, port: server.port, mode: "good")
        let whole = try await good.load(Self.pack, offset: 0, length: nil)
        #expect(whole == Data((0..<Self.size).map { UInt8($0 % 251) }))
        #expect(try await good.load(Self.pack, offset: 400, length: 600) == whole[400...])
        if kind != .rest { #expect(try await good.list(.snapshots).map(\.size) == [Self.size]) }
        var rejected = 0
        let cases = Self.cases(kind, sinkPort: sink.port)
        for c in cases {
            let error = await Self.failure { try await c.run(Self.backend(kind, port: server.port, mode: c.mode)) }
            guard let error else {
                Issue.record("\(kind) \(c.mode): \(c.what) was accepted")
                continue
            }
            #expect(!error.hasPrefix("not a StorageError"), "\(kind) \(c.mode): \(error)")
            for part in c.expected { #expect(error.contains(part), "\(kind) \(c.mode), \(c.what): \(error)") }
            for secret in Self.secrets { #expect(!error.contains(secret), "\(kind) \(c.mode): a credential in the error") }
            rejected += 1
            if ProcessInfo.processInfo.environment["MALFORMED_VERBOSE"] == "1" { print("malformed \(kind) \(c.mode), \(c.what): \(error)") }
        }
        let reached = try HostileHTTPServer.requests(sink)
        #expect(reached.requests == 0, "a redirect was followed to the other host (\(reached.authorized) with credentials)")
        print(
            "malformed-responses \(kind): \(rejected) of \(cases.count) malformed replies rejected; other host reached \(reached.requests) times"
        )
    }
}
