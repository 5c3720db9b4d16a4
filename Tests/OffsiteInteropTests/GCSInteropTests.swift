import Foundation
import OffsiteTesting
import Testing

/// The offsite binary against `gs:BUCKET:/PREFIX` on fsouza's fake-gcs-server, authenticated
/// with a service account key through a test token endpoint (`STORAGE_EMULATOR_HOST` points
/// at `GoogleAuthTestServer`, which forwards only requests bearing a token it issued).
///
/// restic 0.14 has no endpoint override for GCS, so it cannot be pointed at the emulator; the
/// oracle checks a local copy of the bucket's objects instead (`restic check --read-data`),
/// which proves the objects are restic's, under restic's names.
@Suite struct GCSInteropTests {
    @Test func initBackupSnapshotsRestoreCheckOnGCS() async throws {
        try await withScratchDirectory { dir in
            let emulator = try await TestServer.fakeGCS()
            defer { emulator.stop() }
            let emulatorURL = "http://127.0.0.1:\(emulator.port)"
            let auth = try await GoogleAuthTestServer(upstream: emulatorURL, directory: dir + "/auth")
            defer { auth.stop() }
            try auth.writeKeyFile(dir + "/key.json")
            let env: [String: String?] = [
                "STORAGE_EMULATOR_HOST": auth.endpoint, "GOOGLE_APPLICATION_CREDENTIALS": dir + "/key.json",
                "GOOGLE_PROJECT_ID": "offsite-test", "GOOGLE_ACCESS_TOKEN": nil,
            ]
            let repo = "gs:offsite-e2e:/backups/host1"
            func offsite(_ args: [String]) async throws -> ProcessRunner.Result {
                try await OffsiteBinary.run(["-r", repo] + args, password: password, environment: env)
            }

            // Nothing there yet: exit 10, as for any missing repository.
            await expectStatus(try offsite(["snapshots"]), 10, "snapshots before init")
            let src = dir + "/src"
            try InteropFixture.build(at: src, large: true)
            await expectStatus(try offsite(["init"]), 0, "init (creates the bucket)")
            await expectStatus(try offsite(["init"]), 1, "init again")
            await expectStatus(try offsite(["backup", src, "--host", "h1", "--tag", "gcs"]), 0, "backup")
            await expectStatus(try offsite(["backup", src, "--host", "h1", "--tag", "gcs"]), 0, "second backup")

            let snaps = try await jsonArray(expectStatus(try offsite(["snapshots", "--json"]), 0, "snapshots").stdout)
            #expect(snaps.count == 2)
            #expect(snaps.first?["hostname"] as? String == "h1")
            #expect(snaps.first?["paths"] as? [String] == [src])

            await expectStatus(try offsite(["restore", "latest", "--target", dir + "/out"]), 0, "restore")
            let original = try TreeFixture.describe(src)
            let restored = try TreeFixture.describe(dir + "/out" + src)
            #expect(original.count > 20)
            for (path, desc) in original { #expect(restored[path] == desc, "\(path)") }
            #expect(Set(restored.keys) == Set(original.keys))

            let check = await expectStatus(try offsite(["check", "--read-data"]), 0, "check --read-data")
            #expect(check.stdoutString.contains("no errors were found"), "\(check.stdoutString)")

            // Every object is under the prefix in restic's layout; restic accepts a copy of them.
            let names = try await FakeGCSObjects.names(endpoint: emulatorURL, bucket: "offsite-e2e")
            #expect(names.contains("backups/host1/config"))
            #expect(names.allSatisfy { $0.hasPrefix("backups/host1/") }, "\(names)")
            #expect(
                names.contains { $0.range(of: #"^backups/host1/data/([0-9a-f]{2})/\1[0-9a-f]{62}$"#, options: .regularExpression) != nil })
            #expect(!names.contains { $0.hasPrefix("backups/host1/locks/") }, "locks left behind: \(names)")
            let copy = dir + "/copy"
            try await FakeGCSObjects.download(endpoint: emulatorURL, bucket: "offsite-e2e", prefix: "backups/host1", to: copy)
            let resticCheck = expectStatus(
                try await Restic.run(["check", "--read-data"], repo: copy, password: password), 0, "restic check")
            #expect(resticCheck.stdoutString.contains("no errors were found"))

            let stats = try auth.stats()
            #expect(stats["unauthorized"] as? Int == 0, "\(stats)")
            #expect(stats["refusedAssertions"] as? Int == 0)
            // Each command is a new process, so each fetches one token.
            #expect(stats["tokenRequests"] as? Int == (stats["tokensUsed"] as? [String])?.count)
        }
    }

    /// The fault scenario (a fifth of all requests failing: 500, 503, resets before and after
    /// the emulator handled them, uploads cut halfway, stalls) between offsite and the emulator;
    /// restic checks a copy of the bucket's objects.
    @Test func backupRidesThroughFaults() async throws {
        try await withScratchDirectory { dir in
            let emulator = try await TestServer.fakeGCS()
            defer { emulator.stop() }
            try InteropFixture.build(at: dir + "/src", large: true)
            try await backupThroughFaults(
                dir, upstreamPort: emulator.port, location: { _ in "gs:faulty:/repo" },
                environment: ["GOOGLE_PROJECT_ID": "offsite-test", "GOOGLE_APPLICATION_CREDENTIALS": nil, "GOOGLE_ACCESS_TOKEN": nil],
                portEnvironment: { ["STORAGE_EMULATOR_HOST": "http://127.0.0.1:\($0)"] },
                resticRepository: {
                    try await FakeGCSObjects.download(
                        endpoint: "http://127.0.0.1:\(emulator.port)", bucket: "faulty", prefix: "repo", to: dir + "/copy")
                    return dir + "/copy"
                })
        }
    }

    @Test func missingCredentialsAndBucketSayWhatToDo() async throws {
        try await withScratchDirectory { dir in
            let emulator = try await TestServer.fakeGCS()
            defer { emulator.stop() }
            // Google's own endpoint without credentials: fails before any request.
            let none = try await OffsiteBinary.run(
                ["-r", "gs:some-bucket:/repo", "snapshots"], password: password,
                environment: ["STORAGE_EMULATOR_HOST": nil, "GOOGLE_APPLICATION_CREDENTIALS": nil, "GOOGLE_ACCESS_TOKEN": nil])
            expectStatus(none, 1, "no credentials")
            #expect(none.stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"), "\(none.stderr)")
            // init on a missing bucket without a project to create it in.
            let env: [String: String?] = ["STORAGE_EMULATOR_HOST": "127.0.0.1:\(emulator.port)", "GOOGLE_PROJECT_ID": nil]
            let noProject = try await OffsiteBinary.run(["-r", "gs:absent:/repo", "init"], password: password, environment: env)
            expectStatus(noProject, 1, "init without GOOGLE_PROJECT_ID")
            #expect(noProject.stderr.contains("GOOGLE_PROJECT_ID"), "\(noProject.stderr)")
        }
    }
}
