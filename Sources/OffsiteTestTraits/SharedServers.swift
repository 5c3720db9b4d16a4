public import OffsiteTesting
public import Testing

/// Servers one suite shares: `@Suite(.sharedServers(.moto))` starts moto's S3 server before the
/// suite's first test and stops it after its last, and each test reaches it with
/// `try SharedServers.server(.moto)`. Tests keep apart by what they create on it (a bucket or
/// a path of their own), so a suite pays for one server start instead of one per test.
///
/// Tests that change a server itself (stop it, restart it, count its requests) start their own,
/// and so do the GCS suites: fake-gcs-server starts in milliseconds, and under the load of a
/// whole suite at once it closed pooled connections mid-request (a transient error where the
/// conformance suite checks the exact one).
public struct SharedServers: SuiteTrait, TestScoping {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// moto's S3 server (`TestServer.moto()`).
        case moto
    }

    let kinds: [Kind]
    public var isRecursive: Bool { false }

    @TaskLocal static var running: [Kind: TestServer] = [:]

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        var servers = Self.running
        var started: [TestServer] = []
        defer { for server in started { server.stop() } }
        for kind in kinds where servers[kind] == nil {
            let server = try await kind.start()
            started.append(server)
            servers[kind] = server
        }
        try await Self.$running.withValue(servers) { try await function() }
    }

    /// The suite's server of `kind`; an error naming the trait to add when the suite has none.
    public static func server(_ kind: Kind) throws -> TestServer {
        guard let server = running[kind] else {
            throw Missing(kind: kind)
        }
        return server
    }
}

extension SharedServers {
    struct Missing: Error, CustomStringConvertible {
        let kind: Kind
        var description: String {
            "no shared \(kind.rawValue) server: the suite needs @Suite(.sharedServers(.\(kind.rawValue)))"
        }
    }
}

extension SharedServers.Kind {
    func start() async throws -> TestServer {
        switch self {
        case .moto: try await TestServer.moto()
        }
    }
}

extension Trait where Self == SharedServers {
    /// One server of each kind for the whole suite (see `SharedServers`).
    public static func sharedServers(_ kinds: SharedServers.Kind...) -> Self { SharedServers(kinds: kinds) }
}
