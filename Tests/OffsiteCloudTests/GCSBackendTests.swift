import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// GCSBackend against fsouza's fake-gcs-server: the conformance suite anonymously and with
/// service-account OAuth, restic's object layout, a missing bucket, and GCS's error replies.
@Suite struct GCSBackendTests {
    @Test(arguments: BackendConformance.cases)
    func emulator(_ c: BackendConformance.Case) async throws {
        try await withGCS { gcs in
            let b = try gcs.backend()
            try await b.create()
            try await c.run(b)
        }
    }

    @Test(arguments: BackendConformance.cases)
    func serviceAccount(_ c: BackendConformance.Case) async throws {
        try await withGCS(serviceAccount: true) { gcs in
            let b = try gcs.backend()
            try await b.create()
            try await c.run(b)
            let stats = try #require(try gcs.auth?.stats())
            #expect(stats["unauthorized"] as? Int == 0)
            #expect((stats["authorized"] as? Int ?? 0) > 3)
            #expect(stats["tokenRequests"] as? Int == 1, "one token serves every request: \(stats)")
        }
    }

    @Test func objectsAreInResticsLayoutUnderThePrefix() async throws {
        try await withGCS { gcs in
            let b = try gcs.backend("gs:\(GCSFixture.bucket):/backups//server1/")
            #expect(b.location == "gs:offsite-test:/backups/server1")
            try await b.create()
            let id = String(repeating: "ab", count: 32)
            try await b.save(.config, data: Data("c".utf8))
            for type in FileType.listable { try await b.save(Handle(type, id), data: Data(type.rawValue.utf8)) }
            let names = try await FakeGCSObjects.names(endpoint: gcs.emulatorURL, bucket: GCSFixture.bucket)
            #expect(
                names == [
                    "backups/server1/config", "backups/server1/data/ab/\(id)", "backups/server1/index/\(id)",
                    "backups/server1/keys/\(id)", "backups/server1/locks/\(id)", "backups/server1/snapshots/\(id)",
                ])
            // A repository at the bucket's root sees none of them.
            let root = try gcs.backend("gs:\(GCSFixture.bucket):/")
            #expect(try await root.list(.keys).isEmpty)
            #expect(try await root.exists(.config) == false)
        }
    }

    @Test func listingPagesThroughEveryObject() async throws {
        try await withGCS { gcs in
            let b = try gcs.backend(pageSize: 3)
            try await b.create()
            let ids = (0..<20).map { String(format: "%02x", $0 * 11) + String(repeating: "0", count: 62) }
            for id in ids { try await b.save(Handle(.index, id), data: Data(id.utf8.prefix(ids.firstIndex(of: id)! + 1))) }
            let listed = try await b.list(.index)
            #expect(listed.count == 20)
            #expect(Set(listed.map(\.name)) == Set(ids))
            #expect(listed.allSatisfy { $0.size == ids.firstIndex(of: $0.name)! + 1 })
        }
    }

    @Test func missingBucketIsNotFoundAndInitCreatesIt() async throws {
        try await withGCS { gcs in
            let b = try gcs.backend("gs:absent-bucket:/repo")
            #expect(try await b.exists(.config) == false)
            let listing = await storageError { _ = try await b.list(.snapshots) }
            #expect(listing?.code == .notFound)
            #expect(listing?.message.contains("bucket absent-bucket does not exist") == true, "\(listing?.message ?? "")")
            #expect(listing?.message.contains("offsite init") == true)

            let noProject = try gcs.backend("gs:absent-bucket:/repo", environment: ["GOOGLE_PROJECT_ID": nil])
            let refused = await storageError { try await noProject.create() }
            #expect(refused?.code == .notFound)
            #expect(refused?.message.contains("GOOGLE_PROJECT_ID") == true)

            try await b.create()
            try await b.create()
            try await b.save(.config, data: Data("x".utf8))
            #expect(try await b.load(.config) == Data("x".utf8))
            await #expect(try FakeGCSObjects.names(endpoint: gcs.emulatorURL, bucket: "absent-bucket") == ["repo/config"])
        }
    }

    @Test func openRangeAtTheEndIsEmpty() async throws {
        try await withGCS { gcs in
            let b = try gcs.backend()
            try await b.create()
            let h = Handle(.data, String(repeating: "cd", count: 32))
            try await b.save(h, data: Data(repeating: 7, count: 100))
            #expect(try await b.load(h, offset: 100, length: nil).isEmpty)
            #expect(try await b.load(h, offset: 90, length: nil) == Data(repeating: 7, count: 10))
            let past = await storageError { _ = try await b.load(h, offset: 101, length: nil) }
            #expect(past?.code == .invalidData)
        }
    }

    /// GCS's answers to a bearer token, each mapped to the code the retry layer decides by and a
    /// message saying what to check (never the token).
    @Test(arguments: [
        ("ya29.bogus", StorageError.Code.unauthorized, "GOOGLE_ACCESS_TOKEN"),
        ("ya29.forbidden", .unauthorized, "permission denied on bucket offsite-test"),
        ("ya29.unavailable", .transient, "HTTP 503"),
        ("ya29.throttled", .transient, "HTTP 429"),
    ])
    func errorReplies(token: String, code: StorageError.Code, says: String) async throws {
        try await withGCS(accept: ["ya29.static"]) { gcs in
            let good = try gcs.backend(environment: ["GOOGLE_ACCESS_TOKEN": "ya29.static"])
            try await good.create()
            try await good.save(.config, data: Data("cfg".utf8))
            #expect(try await good.load(.config) == Data("cfg".utf8))

            let b = try gcs.backend(environment: ["GOOGLE_ACCESS_TOKEN": token])
            for (what, op) in [
                ("load", { _ = try await b.load(.config) }), ("size", { _ = try await b.size(.config) }),
                ("list", { _ = try await b.list(.keys) }), ("save", { try await b.save(.config, data: Data()) }),
                ("remove", { try await b.remove(.config) }),
            ] as [(String, () async throws -> Void)] {
                let e = await storageError(op)
                #expect(e?.code == code, "\(what): \(e?.message ?? "")")
                #expect(e?.message.contains(says) == true, "\(what): \(e?.message ?? "")")
                expectNoSecrets(e?.message ?? "")
            }
        }
    }
}
