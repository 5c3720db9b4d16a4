import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// A fake-gcs-server for one test, optionally behind `GoogleAuthTestServer` (service-account
/// OAuth: requests reach the emulator only with a token the test's token endpoint issued).
struct GCSFixture {
    static let bucket = "offsite-test"
    let emulator: TestServer
    let auth: GoogleAuthTestServer?
    let directory: String

    var emulatorURL: String { "http://127.0.0.1:\(emulator.port)" }
    var keyFile: String { directory + "/service-account.json" }

    /// The environment a user would set: the emulator (or the auth proxy in front of it), the
    /// project for bucket creation and, with `auth`, the key file.
    var environment: [String: String] {
        var env = ["STORAGE_EMULATOR_HOST": auth?.endpoint ?? emulatorURL, "GOOGLE_PROJECT_ID": "offsite-test"]
        if auth != nil { env["GOOGLE_APPLICATION_CREDENTIALS"] = keyFile }
        return env
    }

    /// A backend through `GCSBackend.make` (the CLI's path), listing `pageSize` objects per
    /// page so that listings page through `pageToken`s.
    func backend(
        _ location: String = "gs:\(bucket):/repo", environment extra: [String: String?] = [:], pageSize: Int = 7
    ) throws -> GCSBackend {
        var env = environment
        for (k, v) in extra { env[k] = v }
        let made = try #require(try GCSBackend.make(location: location, environment: env, options: [:]) as? GCSBackend)
        return GCSBackend(config: made.config, credentials: made.credentials, transport: made.transport, listPageSize: pageSize)
    }
}

/// Runs `body` with a fresh emulator (and auth server when `serviceAccount`), stopped after.
func withGCS<T>(
    serviceAccount: Bool = false, expiresIn: Int = 3600, accept: [String] = [], _ body: (GCSFixture) async throws -> T
)
    async throws -> T
{
    try await withScratchDirectory { dir in
        let emulator = try await TestServer.fakeGCS()
        defer { emulator.stop() }
        var auth: GoogleAuthTestServer? = nil
        if serviceAccount || !accept.isEmpty {
            auth = try await GoogleAuthTestServer(
                upstream: "http://127.0.0.1:\(emulator.port)", directory: dir + "/auth", expiresIn: expiresIn, accept: accept)
        }
        defer { auth?.stop() }
        let fixture = GCSFixture(emulator: emulator, auth: auth, directory: dir)
        if let auth { try auth.writeKeyFile(fixture.keyFile) }
        return try await body(fixture)
    }
}

/// The StorageError `body` throws (fails the test when it succeeds or throws something else).
func storageError(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> StorageError? {
    do {
        try await body()
        Issue.record("expected a StorageError, got success", sourceLocation: sourceLocation)
    } catch let e as StorageError {
        return e
    } catch {
        Issue.record("expected a StorageError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Secrets that must never appear in a message.
func expectNoSecrets(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!message.contains("PRIVATE KEY"), "\(message)", sourceLocation: sourceLocation)
    #expect(!message.contains("ya29."), "\(message)", sourceLocation: sourceLocation)
    #expect(!message.contains("eyJ"), "a JWT in: \(message)", sourceLocation: sourceLocation)
}
