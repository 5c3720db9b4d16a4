import Foundation
import OffsiteTesting
import Testing

/// Repositories on a REST server (`rclone serve restic`, started by each test) shared with
/// restic both ways; logins from the URL; append-only servers (backups work, removals do not).
@Suite struct RESTInteropTests {
    /// Runs `body(dir, server, repo)` in a scratch directory holding the interoperability
    /// tree at `dir/src`, with a server on `dir/served` and `repo` its `rest:…/repo` URL
    /// (logging in as `user` with `secret` when given).
    func withServer(
        large: Bool = true, user: String? = nil, secret: String? = nil, _ body: (String, TestServer, String) async throws -> Void
    ) async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: large)
            let server = try await TestServer.rclone(directory: dir + "/served", user: user, password: secret)
            defer { server.stop() }
            try await body(dir, server, "rest:\(server.url(user: user, password: secret))/repo")
        }
    }

    func snapshotIDs(_ r: ProcessRunner.Result) throws -> [String] {
        try jsonArray(r.stdout).compactMap { $0["id"] as? String }
    }

    @Test func offsiteWritesResticReads() async throws {
        try await withServer { dir, _, repo in
            expectStatus(try await OffsiteBinary.run(["init", "-r", repo], password: password), 0, "offsite init")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src", "--host", "h"], password: password), 0, "offsite backup")

            let ours = try snapshotIDs(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password), 0, "offsite snapshots"))
            let theirs = try snapshotIDs(
                expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "restic snapshots"))
            #expect(ours.count == 1 && ours == theirs)
            // Packs are where restic's own servers keep them: data/<id[0:2]>/<id>.
            let packs = expectStatus(try await Restic.run(["list", "packs"], repo: repo, password: password), 0, "restic list packs")
                .stdoutString
                .split(separator: "\n")
            #expect(!packs.isEmpty)
            for pack in packs { #expect(FileManager.default.fileExists(atPath: "\(dir)/served/repo/data/\(pack.prefix(2))/\(pack)")) }

            let check = expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")
            #expect(check.stdoutString.contains("no errors were found"))
            expectStatus(
                try await Restic.run(["restore", "latest", "--target", dir + "/out"], repo: repo, password: password), 0, "restic restore")
            try expectSameTree(dir + "/src", dir + "/out" + dir + "/src")
        }
    }

    @Test func resticWritesOffsiteReads() async throws {
        try await withServer { dir, _, repo in
            expectStatus(try await Restic.run(["init"], repo: repo, password: password), 0, "restic init")
            expectStatus(
                try await Restic.run(["backup", "src", "--host", "h"], repo: repo, password: password, cwd: dir), 0, "restic backup")

            let theirs = try snapshotIDs(try await Restic.run(["snapshots", "--json"], repo: repo, password: password))
            let ours = try snapshotIDs(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password), 0, "offsite snapshots"))
            #expect(ours.count == 1 && ours == theirs)
            let check = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "check", "--read-data"], password: password), 0, "offsite check")
            #expect(check.stdoutString.contains("no errors were found"))
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/out"], password: password), 0,
                "offsite restore"
            )
            try expectSameTree(dir + "/src", dir + "/out/src")
        }
    }

    /// An HTTPS server with a certificate from a private authority that only admits clients
    /// with a certificate it signed: offsite needs --cacert and --tls-client-cert (or their
    /// variables) as restic does, and the two tools share the repository through it.
    @Test func privateAuthorityAndClientCertificates() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: false)
            let tls = try await TestCertificates.make(in: dir + "/tls")
            let server = try await TestServer.rclone(directory: dir + "/served", tls: tls, requireClientCertificate: true)
            defer { server.stop() }
            let repo = "rest:\(server.url(tls: true))/repo"
            let trusted = ["--cacert", tls.ca, "--tls-client-cert", tls.client]

            let untrusted = try await OffsiteBinary.run(["-r", repo, "init", "--tls-client-cert", tls.client], password: password)
            #expect(untrusted.status == 1)
            #expect(untrusted.stderr.contains("certificate"), "\(untrusted.stderr)")
            let wrongAuthority = try await OffsiteBinary.run(
                ["-r", repo, "init", "--cacert", tls.otherCA, "--tls-client-cert", tls.client], password: password)
            #expect(wrongAuthority.status == 1)
            let noClientCertificate = try await OffsiteBinary.run(["-r", repo, "init", "--cacert", tls.ca], password: password)
            #expect(noClientCertificate.status == 1)
            let missing = try await OffsiteBinary.run(["-r", repo, "snapshots", "--cacert", dir + "/nope.pem"], password: password)
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("--cacert \(dir)/nope.pem"), "\(missing.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/served/repo/config"))

            expectStatus(try await OffsiteBinary.run(["-r", repo, "init"] + trusted, password: password), 0, "offsite init")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src"] + trusted, password: password), 0, "offsite backup")
            let theirs = try snapshotIDs(
                expectStatus(
                    try await Restic.run(["snapshots", "--json"] + trusted, repo: repo, password: password), 0, "restic snapshots"))
            #expect(theirs.count == 1)
            expectStatus(try await Restic.run(["check", "--read-data"] + trusted, repo: repo, password: password), 0, "restic check")

            // The variables, several files in one --cacert, and --insecure-tls (loudly).
            let fromEnvironment = try await OffsiteBinary.run(
                ["-r", repo, "snapshots", "--json"], password: password,
                environment: ["RESTIC_CACERT": tls.otherCA + "," + tls.ca, "RESTIC_TLS_CLIENT_CERT": tls.client])
            #expect(try snapshotIDs(expectStatus(fromEnvironment, 0, "snapshots with RESTIC_CACERT")) == theirs)
            let both = try await OffsiteBinary.run(
                ["-r", repo, "snapshots", "--json", "--cacert", tls.otherCA + "," + tls.ca, "--tls-client-cert", tls.client],
                password: password)
            #expect(try snapshotIDs(expectStatus(both, 0, "snapshots with two authorities")) == theirs)
            let insecure = try await OffsiteBinary.run(
                ["-r", repo, "snapshots", "--json", "--insecure-tls", "--tls-client-cert", tls.client], password: password)
            #expect(try snapshotIDs(expectStatus(insecure, 0, "snapshots --insecure-tls")) == theirs)
            #expect(insecure.stderr.contains("WARNING: --insecure-tls"))
        }
    }

    @Test func loginFromTheURL() async throws {
        let secret = "correct-horse-42"
        try await withServer(large: false, user: "alice", secret: secret) { dir, server, repo in
            // The server password never shows: not in init's text or JSON, nor in the error for
            // a location with no repository (restic's StripPassword).
            let made = expectStatus(try await OffsiteBinary.run(["init", "-r", repo], password: password), 0, "offsite init")
            #expect(made.stdoutString.contains("alice:***@") && !made.stdoutString.contains(secret), "\(made.stdoutString)")
            let json = expectStatus(
                try await OffsiteBinary.run(["init", "-r", repo + "2", "--json"], password: password), 0, "init --json")
            #expect(!json.stdoutString.contains(secret), "\(json.stdoutString)")
            let none = expectStatus(
                try await OffsiteBinary.run(["-r", repo + "-none", "snapshots"], password: password), 10, "no repository")
            #expect(!none.stderr.contains(secret) && none.stderr.contains("alice:***@"), "\(none.stderr)")
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src"], password: password), 0, "offsite backup")
            let check = expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")
            #expect(check.stdoutString.contains("no errors were found"))

            for (what, url) in [
                ("wrong password", server.url(user: "alice", password: "not-the-one")), ("no login", server.url()),
            ] {
                let started = Date()
                let r = expectStatus(
                    try await OffsiteBinary.run(["-r", "rest:\(url)/repo", "snapshots"], password: password), 1,
                    "offsite snapshots, \(what)")
                // Refused at once: no retry (a retry loop takes at least three minutes; a busy
                // machine stretches one refused request to tens of seconds).
                #expect(!r.stderr.contains("retrying"), "\(what): \(r.stderr)")
                #expect(Date().timeIntervalSince(started) < 120, "\(what): not refused at once")
                #expect(r.stderr.contains("authentication failed"), "\(what): \(r.stderr)")
                #expect(!r.stderr.contains("not-the-one") && !r.stderr.contains(secret), "\(what): \(r.stderr)")
                #expect(!r.stdoutString.contains("not-the-one") && !r.stdoutString.contains(secret))
            }
        }
    }

    /// What a server in append-only mode (the defence against a compromised client deleting
    /// backups) allows: backups, reads and checks; forget and prune fail, saying why, and leave
    /// the repository whole.
    /// An append-only server (rclone serve restic --append-only): backups work; forget and
    /// prune are refused (exit 1) with a message that says why and what to do, before anything
    /// changed (prune used to repack and write a new index first, then stop at the first
    /// deletion, leaving copies behind at every attempt); restic check --read-data is clean,
    /// every snapshot restores with both tools, and forget and prune then work on a normal server.
    @Test func appendOnlyServer() async throws {
        try await withScratchDirectory { dir in
            let src = dir + "/src"
            try InteropFixture.build(at: src, large: false)
            let served = dir + "/served"
            // Two snapshots, the first forgotten on a normal server, so that prune has work.
            do {
                let server = try await TestServer.rclone(directory: served)
                defer { server.stop() }
                let repo = "rest:\(server.url())/repo"
                expectStatus(try await OffsiteBinary.run(["init", "-r", repo], password: password), 0, "offsite init")
                expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", src], password: password), 0, "offsite backup 1")
                try TreeFixture(root: src).file("new-file", TreeFixture.randomBytes(3 << 20, seed: 9))
                try FileManager.default.removeItem(atPath: src + "/nested")
                expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", src], password: password), 0, "offsite backup 2")
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "forget", "--keep-last", "1"], password: password), 0, "offsite forget")
            }
            // The tree of each snapshot left, in time order.
            let trees = [dir + "/tree-2", src]
            expectStatus(try await ProcessRunner.run("/bin/cp", ["-a", src, trees[0]]), 0, "cp")
            let server = try await TestServer.rclone(directory: served, appendOnly: true)
            defer { server.stop() }
            let repo = "rest:\(server.url())/repo"
            try TreeFixture(root: src).file("third", TreeFixture.randomBytes(100_000, seed: 3))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", src], password: password), 0, "offsite backup, append-only")
            let before = try snapshotIDs(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password))
            #expect(before.count == 2)
            func files() -> [String] {
                (FileManager.default.enumerator(atPath: served + "/repo")?.allObjects as? [String] ?? []).filter { !$0.hasPrefix("locks") }
                    .sorted()
            }
            let stored = files()

            for args in [
                ["forget", "--keep-last", "1"], ["forget", "--keep-last", "1", "--prune"], ["prune"], ["prune", "--max-unused", "0"],
            ] {
                let what = "offsite \(args.joined(separator: " ")), append-only"
                let r = expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password), 1, what)
                #expect(r.stderr.contains("HTTP 403"), "\(what): \(r.stderr)")
                #expect(
                    r.stderr.contains(
                        "the server is probably in append-only mode (rest-server or rclone serve restic --append-only), which lets backups add data but refuses to delete or replace it: run forget, prune and other removals against a server (or a user) without append-only"
                    ), "\(what): \(r.stderr)")
                if args == ["prune"] { #expect(r.stderr.contains("prune stopped before changing anything"), "\(r.stderr)") }
                // Nothing was added or removed (no repacked pack, no new index file).
                #expect(files() == stored, "\(what) changed the repository")
            }
            let after = try snapshotIDs(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password))
            #expect(after == before)
            let check = expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")
            #expect(check.stdoutString.contains("no errors were found"))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "check", "--read-data"], password: password), 0, "offsite check")
            // Every snapshot restores, with both tools, to the tree it was taken from.
            let list = try jsonArray(
                expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "restic snapshots").stdout)
            #expect(list.count == trees.count)
            for (snapshot, tree) in zip(list.sorted { ($0["time"] as? String ?? "") < ($1["time"] as? String ?? "") }, trees) {
                let id = snapshot["short_id"] as? String ?? "?"
                expectStatus(
                    try await Restic.run(["restore", id, "--target", dir + "/restic-" + id], repo: repo, password: password), 0,
                    "restic restore")
                try expectSameTree(tree, dir + "/restic-" + id + src)
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "restore", id, "--target", dir + "/offsite-" + id], password: password), 0,
                    "offsite restore")
                try expectSameTree(tree, dir + "/offsite-" + id + src)
            }
            // No lock is left behind by the failed commands.
            #expect(try FileManager.default.contentsOfDirectory(atPath: served + "/repo/locks").isEmpty)

            // What the message says to do: the same commands against a normal server work.
            server.stop()
            let normal = try await TestServer.rclone(directory: served)
            defer { normal.stop() }
            let full = "rest:\(normal.url())/repo"
            expectStatus(
                try await OffsiteBinary.run(["-r", full, "forget", "--keep-last", "1", "--prune"], password: password), 0, "forget --prune")
            expectStatus(try await Restic.run(["check", "--read-data"], repo: full, password: password), 0, "restic check after the prune")
        }
    }

    /// The fault scenario (a fifth of all requests failing in every way) against rclone.
    @Test func backupRidesThroughFaults() async throws {
        try await withServer(large: true) { dir, server, _ in
            try await backupThroughFaults(dir, upstreamPort: server.port, location: { "rest:http://127.0.0.1:\($0)/faulty" })
        }
    }
}
