import Foundation
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// Service-account OAuth: the JWT assertion (checked by a token endpoint holding only the
/// public key), token caching and renewal, refused keys and bad key files.
@Suite struct GCSAuthTests {
    @Test func assertionIsSignedWithTheKeyAndCarriesResticsClaims() async throws {
        try await withGCS(serviceAccount: true) { gcs in
            let b = try gcs.backend()
            let started = Int(Date().timeIntervalSince1970)
            try await b.create()
            try await b.save(.config, data: Data("c".utf8))
            #expect(try await b.load(.config) == Data("c".utf8))
            let finished = Int(Date().timeIntervalSince1970)
            let auth = try #require(gcs.auth)
            let stats = try auth.stats()
            #expect(stats["tokenRequests"] as? Int == 1)
            #expect(stats["refusedAssertions"] as? Int == 0)
            #expect(stats["unauthorized"] as? Int == 0)
            #expect(stats["tokensUsed"] as? [String] == ["ya29.test-1"], "the emulator saw the issued token: \(stats)")
            let assertion = try #require((stats["assertions"] as? [[String: Any]])?.first)
            let header = try #require(assertion["header"] as? [String: Any])
            #expect(header["alg"] as? String == "RS256")
            #expect(header["typ"] as? String == "JWT")
            #expect(header["kid"] as? String == "0123456789abcdef")
            let claims = try #require(assertion["claims"] as? [String: Any])
            #expect(claims["iss"] as? String == "offsite-test@offsite-test.iam.gserviceaccount.com")
            #expect(claims["scope"] as? String == "https://www.googleapis.com/auth/devstorage.read_write")
            #expect(claims["aud"] as? String == auth.tokenURI)
            #expect(claims["aud"] as? String == assertion["tokenURI"] as? String)
            let iat = try #require(claims["iat"] as? Int)
            let exp = try #require(claims["exp"] as? Int)
            #expect(exp - iat == 3600)
            // Issued while the test ran (a busy machine can stretch that: the whole parallel
            // suite shares two cores), within a little clock slack.
            #expect(iat >= started - 5 && iat <= finished + 5, "iat \(iat), test ran \(started)...\(finished)")
        }
    }

    @Test func tokensAreCachedSharedAndRenewedBeforeExpiry() async throws {
        try await withGCS(serviceAccount: true) { gcs in
            let auth = try #require(gcs.auth)
            let clock = Mutex(Date())
            let tokens = GoogleAccessTokens(
                account: try ServiceAccount.load(path: gcs.keyFile), transport: HTTPTransport.shared(), now: { clock.withLock { $0 } })
            let start = clock.withLock { $0 }
            // Many callers at once share one request.
            let first = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<16 { group.addTask { try await tokens.token() } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(first == ["ya29.test-1"])
            #expect(try auth.stats()["tokenRequests"] as? Int == 1)
            // Still valid for more than the margin: cached.
            clock.withLock { $0 = start.addingTimeInterval(3600 - GoogleAccessTokens.refreshMargin - 10) }
            #expect(try await tokens.token() == "ya29.test-1")
            #expect(try auth.stats()["tokenRequests"] as? Int == 1)
            // Within the margin: renewed before it expires.
            clock.withLock { $0 = start.addingTimeInterval(3600 - GoogleAccessTokens.refreshMargin + 10) }
            #expect(try await tokens.token() == "ya29.test-2")
            #expect(try auth.stats()["tokenRequests"] as? Int == 2)
            // A token the server refused is forgotten.
            await tokens.invalidate("ya29.test-2")
            #expect(try await tokens.token() == "ya29.test-3")
        }
    }

    @Test func revokedTokenIsReplacedOnce() async throws {
        try await withGCS(serviceAccount: true) { gcs in
            let b = try gcs.backend()
            try await b.create()
            try await b.save(.config, data: Data("c".utf8))
            let auth = try #require(gcs.auth)
            try await auth.revokeTokens()
            #expect(try await b.load(.config) == Data("c".utf8))
            let stats = try auth.stats()
            #expect(stats["tokenRequests"] as? Int == 2)
            #expect(stats["unauthorized"] as? Int == 1)
            #expect(stats["tokensUsed"] as? [String] == ["ya29.test-1", "ya29.test-2"])
        }
    }

    @Test func assertionSignedWithAnotherKeyIsRefused() async throws {
        try await withGCS(serviceAccount: true) { gcs in
            let auth = try #require(gcs.auth)
            try await auth.writeKeyFile(gcs.keyFile, privateKeyPEM: try GoogleAuthTestServer.generateKey())
            let b = try gcs.backend()
            let e = await storageError { _ = try await b.list(.snapshots) }
            #expect(e?.code == .unauthorized)
            #expect(e?.message.contains("GOOGLE_APPLICATION_CREDENTIALS=\(gcs.keyFile)") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("invalid_grant") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("offsite-test@offsite-test.iam.gserviceaccount.com") == true)
            expectNoSecrets(e?.message ?? "")
            #expect(try auth.stats()["refusedAssertions"] as? Int == 1)
            #expect(try auth.stats()["authorized"] as? Int == 0)
        }
    }

    @Test(
        arguments: [
            ("missing", nil, "cannot be read"),
            ("not JSON", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "not a JSON key file"),
            (
                "user credentials", #"{"type": "authorized_user", "client_id": "x", "refresh_token": "y"}"#,
                "authorized_user are not supported"
            ),
            ("no key", #"{"type": "service_account", "client_email": "a@b.c"}"#, "no client_email or private_key"),
            (
                "bad key",
                #"{"type": "service_account", "client_email": "a@b.c", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
                "not a valid RSA key"
            ),
        ] as [(String, String?, String)])
    func badKeyFilesSayWhatIsWrong(name: String, contents: String?, says: String) async throws {
        try await withScratchDirectory { dir in
            let path = dir + "/key.json"
            if let contents { try Data(contents.utf8).write(to: URL(fileURLWithPath: path)) }
            let env = ["GOOGLE_APPLICATION_CREDENTIALS": path]
            let e = await storageError { _ = try GCSBackend.make(location: "gs:b:/r", environment: env, options: [:]) }
            #expect(e?.code == .unauthorized)
            #expect(e?.message.contains(says) == true, "\(name): \(e?.message ?? "")")
            #expect(e?.message.contains(path) == true, "\(name): \(e?.message ?? "")")
            expectNoSecrets(e?.message ?? "")
        }
    }

    @Test func credentialsAreFoundAsResticFindsThem() async throws {
        // No credentials and Google's endpoint: say what to set.
        let e = await storageError { _ = try GCSBackend.make(location: "gs:b:/r", environment: [:], options: [:]) }
        #expect(e?.code == .unauthorized)
        #expect(e?.message.contains("GOOGLE_APPLICATION_CREDENTIALS") == true)
        #expect(e?.message.contains("GOOGLE_ACCESS_TOKEN") == true)
        // GOOGLE_ACCESS_TOKEN wins over a key file (which is then not even read).
        let token = try #require(
            try GCSBackend.make(
                location: "gs:b:/r", environment: ["GOOGLE_ACCESS_TOKEN": "t", "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent"],
                options: [:]) as? GCSBackend)
        guard case .accessToken("t") = token.credentials else { Issue.record("expected the access token"); return }
        // An emulator without credentials: anonymous.
        let anonymous = try #require(
            try GCSBackend.make(location: "gs:b:/r", environment: ["STORAGE_EMULATOR_HOST": "127.0.0.1:1"], options: [:]) as? GCSBackend)
        guard case .anonymous = anonymous.credentials else { Issue.record("expected anonymous requests"); return }
    }

    @Test func descriptionsHideTheKey() async throws {
        try await withScratchDirectory { dir in
            let path = dir + "/key.json"
            let file: [String: String] = await [
                "type": "service_account", "client_email": "a@b.c", "private_key": try GoogleAuthTestServer.generateKey(),
            ]
            try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: path))
            let account = try ServiceAccount.load(path: path)
            #expect(account.tokenURI == "https://oauth2.googleapis.com/token")
            expectNoSecrets("\(account)")
            expectNoSecrets(
                String(describing: GoogleCredentials.serviceAccount(GoogleAccessTokens(account: account, transport: .shared()))))
            expectNoSecrets(String(describing: GoogleCredentials.accessToken("ya29.secret")))
        }
    }
}
