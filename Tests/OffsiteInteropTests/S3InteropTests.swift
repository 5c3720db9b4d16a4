import Foundation
import OffsiteTesting
import Testing

/// offsite and restic 0.14 on the same S3 repository (moto on loopback, started and stopped by
/// each test): each reads, checks and restores what the other wrote; a wrong secret fails fast;
/// a backup through a proxy that fails a fifth of all requests completes and checks clean.
@Suite struct S3InteropTests {
    static let aws: [String: String?] = [
        "AWS_ACCESS_KEY_ID": "offsite-test", "AWS_SECRET_ACCESS_KEY": "offsite-test-secret", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PROFILE": nil, "AWS_SESSION_TOKEN": nil,
    ]

    func offsite(_ args: [String], _ repo: String, cwd: String? = nil, env: [String: String?] = [:]) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(["-r", repo] + args, password: password, environment: Self.aws.merging(env) { $1 }, cwd: cwd)
    }

    func restic(_ args: [String], _ repo: String, cwd: String? = nil) async throws -> ProcessRunner.Result {
        var env = Self.aws
        env["RESTIC_PASSWORD"] = password
        env["TZ"] = "UTC"
        env["RESTIC_REPOSITORY"] = nil
        env["RESTIC_PASSWORD_FILE"] = nil
        return try await ProcessRunner.run(try Restic.path(), ["-r", repo, "--no-cache"] + args, environment: env, currentDirectory: cwd)
    }

    func makeSource(_ dir: String, megabytes: Int = 3) throws {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        var random = TreeFixture.RandomBytes(seed: 1005)
        for i in 0..<megabytes { try f.file("blob-\(i).bin", random.next(1_000_000)) }
        try f.dir("etc")
        try f.file("etc/app.conf", Array("listen 8080\n".utf8))
        try f.file("notes.txt", Array((0..<20_000).map { "note \($0)\n" }.joined().utf8))
    }

    func sameTree(_ restored: String, _ source: String) throws -> Bool {
        try TreeFixture.describe(restored, includeDirectoryTimes: false) == TreeFixture.describe(source, includeDirectoryTimes: false)
    }

    @Test func offsiteWritesResticReads() async throws {
        try await withScratchDirectory { dir in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            try makeSource(dir)
            let repo = "s3:http://127.0.0.1:\(moto.port)/offsite-bucket/some/prefix"
            await expectStatus(try offsite(["init"], repo), 0, "offsite init (creates the bucket)")
            await expectStatus(try offsite(["backup", "src", "--pack-size", "4"], repo, cwd: dir), 0, "offsite backup")
            let listed = try await jsonArray(expectStatus(try restic(["snapshots", "--json"], repo), 0, "restic snapshots").stdout)
            #expect(listed.count == 1)
            let check = try await restic(["check", "--read-data"], repo)
            #expect(check.status == 0, "restic check --read-data: \(check.stdoutString) \(check.stderr)")
            await expectStatus(try restic(["restore", "latest", "--target", dir + "/out"], repo), 0, "restic restore")
            #expect(try sameTree(dir + "/out/src", dir + "/src"))
            // A second repository under another prefix of the same bucket stays apart.
            let other = "s3:http://127.0.0.1:\(moto.port)/offsite-bucket/other"
            await expectStatus(try offsite(["init"], other), 0, "second repository in the bucket")
            await #expect(try jsonArray(expectStatus(try restic(["snapshots", "--json"], other), 0, "other snapshots").stdout).isEmpty)
        }
    }

    @Test func resticWritesOffsiteReads() async throws {
        try await withScratchDirectory { dir in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            try makeSource(dir)
            let repo = "s3:http://127.0.0.1:\(moto.port)/restic-bucket/repo"
            await expectStatus(try restic(["init"], repo), 0, "restic init")
            await expectStatus(try restic(["backup", "src"], repo, cwd: dir), 0, "restic backup")
            let snapshots = await expectStatus(try offsite(["snapshots", "--json"], repo), 0, "offsite snapshots")
            #expect(try jsonArray(snapshots.stdout).count == 1)
            await expectStatus(try offsite(["check", "--read-data"], repo), 0, "offsite check --read-data")
            await expectStatus(try offsite(["restore", "latest", "--target", dir + "/out"], repo), 0, "offsite restore")
            #expect(try sameTree(dir + "/out/src", dir + "/src"))
            // offsite adds to restic's repository; restic still checks it.
            try Data("changed\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/etc/app.conf"))
            await expectStatus(try offsite(["backup", "src"], repo, cwd: dir), 0, "offsite backup on top")
            await expectStatus(try restic(["check", "--read-data"], repo), 0, "restic check after offsite's backup")
        }
    }

    /// moto checking signatures (it does once an IAM user exists and the first unauthenticated
    /// calls are used up): a wrong secret is refused at once with a message saying what to
    /// check, without retries and without the secret in the output.
    @Test func wrongSecretFailsFast() async throws {
        try await withScratchDirectory { dir in
            let (moto, keyID, keySecret) = try await TestServer.motoCheckingSignatures()
            defer { moto.stop() }
            let repo = "s3:http://127.0.0.1:\(moto.port)/locked-bucket"
            let wrongSecret = keySecret + "-wrong"
            let started = Date()
            let r = try await offsite(["init"], repo, env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": wrongSecret])
            let elapsed = Date().timeIntervalSince(started)
            #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("access denied") && r.stderr.contains("AWS_SECRET_ACCESS_KEY"), "\(r.stderr)")
            #expect(!r.stderr.contains("retrying"), "\(r.stderr)")
            #expect(!(r.stderr + r.stdoutString).contains(wrongSecret))
            // A retry loop takes at least three minutes (10 attempts, waits doubling from 0.5 s
            // to 60 s); a busy machine stretches one refused request to tens of seconds.
            #expect(elapsed < 120, "took \(elapsed) s")
            _ = dir
        }
    }

    /// A fifth of all requests fail (500, 503 SlowDown, resets before and after the server
    /// handled them, uploads cut halfway, stalls longer than --stuck-request-timeout): the
    /// backup still completes, restic checks every byte of the result straight from moto, and
    /// offsite restores it identically through the same faulty proxy.
    @Test func backupRidesThroughFaults() async throws {
        try await withScratchDirectory { dir in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            try makeSource(dir, megabytes: 12)
            try await backupThroughFaults(
                dir, upstreamPort: moto.port, location: { "s3:http://127.0.0.1:\($0)/faulty" }, environment: Self.aws)
        }
    }
}
