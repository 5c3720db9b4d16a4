import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `key add`, `key remove` and `key passwd` against restic 0.14, both ways: keys offsite adds
/// open the repository in restic and the reverse, `passwd` retires the old password in both
/// tools, the key in use cannot be removed, and the output is restic's.
@Suite struct KeyTests {
    func makeRepository(_ dir: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.file("a.txt", Array("key test\n".utf8))
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password)
        expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
        return repo
    }

    func writePassword(_ dir: String, _ name: String, _ pw: String) throws -> String {
        let path = dir + "/" + name
        try Data((pw + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func keyFiles(_ repo: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/keys")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// restic's `key list --json`, as (id, current, user, host).
    func resticKeys(_ repo: String, _ pw: String) async throws -> [(id: String, current: Bool, user: String, host: String)] {
        let r = expectStatus(try await Restic.run(["key", "list", "--json"], repo: repo, password: pw), 0, "restic key list")
        return try jsonArray(r.stdout).map {
            ($0["id"] as? String ?? "", $0["current"] as? Bool ?? false, $0["userName"] as? String ?? "", $0["hostName"] as? String ?? "")
        }
    }

    /// restic's "saved new key as <Key of USER@HOST, created on TIME m=+S>" with Go's time format.
    func expectSavedLine(_ stdout: String, user: String, host: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let pattern =
            "^saved new key as <Key of " + NSRegularExpression.escapedPattern(for: "\(user)@\(host)")
            + ", created on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d{1,9})? \\+0000 UTC m=\\+\\d+\\.\\d{9}>\n$"
        #expect(stdout.range(of: pattern, options: .regularExpression) != nil, "output: \(stdout)", sourceLocation: sourceLocation)
    }

    @Test func keyAddedByOffsiteOpensInRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let before = keyFiles(repo)
            let newFile = try writePassword(dir, "new", "second password")
            let r = expectStatus(
                try await OffsiteBinary.run(
                    ["-r", repo, "key", "add", "--new-password-file", newFile, "--user", "alice", "--host", "vault"],
                    password: password), 0, "key add")
            expectSavedLine(r.stdoutString, user: "alice", host: "vault")
            // The same line shape as restic's own.
            let resticFile = try writePassword(dir, "restic-new", "third password")
            let rr = expectStatus(
                try await Restic.run(
                    ["key", "add", "--new-password-file", resticFile, "--user", "bob", "--host", "h2"], repo: repo, password: password),
                0, "restic key add")
            expectSavedLine(rr.stdoutString, user: "bob", host: "h2")

            let added = keyFiles(repo).filter { !before.contains($0) }
            #expect(added.count == 2)
            // The key file has restic's fields, in restic's order, with restic's default r.
            let offsiteKey = try #require(
                added.first { name in
                    let obj = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repo + "/keys/" + name)))
                    return (obj as? [String: Any])?["username"] as? String == "alice"
                })
            let text = try String(contentsOfFile: repo + "/keys/" + offsiteKey, encoding: .utf8)
            let order = ["\"created\"", "\"username\"", "\"hostname\"", "\"kdf\"", "\"N\"", "\"r\"", "\"p\"", "\"salt\"", "\"data\""]
            let positions = order.compactMap { text.range(of: $0)?.lowerBound }
            #expect(positions.count == order.count && positions == positions.sorted(), "\(text)")
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(obj["hostname"] as? String == "vault")
            #expect(obj["kdf"] as? String == "scrypt")
            #expect(obj["r"] as? Int == 8)

            // restic lists it and opens the repository with the new password.
            let keys = try await resticKeys(repo, "second password")
            #expect(keys.count == 3)
            let current = try #require(keys.first { $0.current })
            #expect(offsiteKey.hasPrefix(current.id))
            #expect(current.user == "alice" && current.host == "vault")
            let snaps = expectStatus(
                try await Restic.run(["snapshots", "--json"], repo: repo, password: "second password"), 0, "restic snapshots with new key")
            #expect(try jsonArray(snaps.stdout).count == 1)
            expectStatus(try await Restic.run(["check"], repo: repo, password: "second password"), 0, "restic check with new key")
            // The old password still works in both tools.
            expectStatus(try await Restic.run(["snapshots"], repo: repo, password: password), 0, "restic old password")
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 0, "offsite old password")
            // No lock is left behind.
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).isEmpty)
        }
    }

    @Test func keyAddedByResticOpensInOffsite() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let newFile = try writePassword(dir, "new", "restic's password")
            expectStatus(
                try await Restic.run(["key", "add", "--new-password-file", newFile, "--host", "r-host"], repo: repo, password: password), 0,
                "restic key add")
            let snaps = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: "restic's password"), 0,
                "offsite with restic's key")
            #expect(try jsonArray(snaps.stdout).count == 1)
            let keys = try jsonArray(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "key", "list", "--json"], password: "restic's password"), 0, "key list"
                )
                .stdout)
            #expect(keys.count == 2)
            #expect(keys.first { $0["current"] as? Bool == true }?["hostName"] as? String == "r-host")
            // offsite adds a third key while opened with restic's key.
            let third = try writePassword(dir, "third", "third password")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "add", "--new-password-file", third], password: "restic's password"), 0,
                "offsite key add")
            expectStatus(try await Restic.run(["snapshots"], repo: repo, password: "third password"), 0, "restic with third key")
        }
    }

    @Test func passwdRetiresTheOldPasswordInBothTools() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let oldKeys = keyFiles(repo)
            let newFile = try writePassword(dir, "new", "changed password")
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "passwd", "--new-password-file", newFile], password: password), 0, "passwd")
            expectSavedLine(r.stdoutString, user: SystemUser.name, host: SystemUser.host)
            let newKeys = keyFiles(repo)
            #expect(newKeys.count == 1 && newKeys != oldKeys)

            let old = expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 12, "offsite old password")
            #expect(old.stderr.contains("wrong password or no key found"))
            let resticOld = try await Restic.run(["snapshots"], repo: repo, password: password)
            #expect(resticOld.status != 0)
            #expect(resticOld.stderr.contains("wrong password or no key found"))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: "changed password"), 0, "offsite new password")
            expectStatus(try await Restic.run(["snapshots"], repo: repo, password: "changed password"), 0, "restic new password")
            let keys = try await resticKeys(repo, "changed password")
            #expect(keys.count == 1 && keys[0].current && keys[0].user == SystemUser.name)
        }
    }

    @Test func removeRefusesTheKeyInUseAndRemovesAnother() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let current = try #require(keyFiles(repo).first)
            let refused = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", current], password: password), 1, "remove current")
            #expect(refused.stderr.contains("Fatal: refusing to remove key currently used to access repository"))
            #expect(keyFiles(repo) == [current])
            // Also by prefix.
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", String(current.prefix(8))], password: password), 1,
                "remove current prefix")

            let otherFile = try writePassword(dir, "other", "other password")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "add", "-q", "--new-password-file", otherFile], password: password), 0,
                "add")
            let other = try #require(keyFiles(repo).first { $0 != current })

            let missing = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", "zzzz"], password: password), 1, "no match")
            #expect(missing.stderr == "no matching ID found for prefix \"zzzz\"\n")
            let resticMissing = try await Restic.run(["key", "remove", "zzzz"], repo: repo, password: password)
            #expect(resticMissing.status == 1 && resticMissing.stderr == missing.stderr)
            let noArgument = expectStatus(try await OffsiteBinary.run(["-r", repo, "key", "remove"], password: password), 1, "no ID")
            #expect(noArgument.stderr.contains("wrong number of arguments"))

            let removed = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", String(other.prefix(6))], password: password), 0, "remove other")
            #expect(removed.stdoutString == "removed key \(other)\n")
            #expect(keyFiles(repo) == [current])
            let keys = try await resticKeys(repo, password)
            #expect(keys.map(\.id) == [String(current.prefix(8))])
            #expect(try await Restic.run(["snapshots"], repo: repo, password: "other password").status != 0)
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: "other password"), 12, "removed password")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).isEmpty)
        }
    }

    /// `key add` takes a shared lock, `key remove` an exclusive one (restic 0.14's choice): while
    /// restic's `key add` holds its shared lock (waiting for the new password on stdin), offsite
    /// can add a key but not remove one.
    @Test func locksAreResticsChoice() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let before = keyFiles(repo)
            let otherFile = try writePassword(dir, "other", "other password")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "add", "-q", "--new-password-file", otherFile], password: password), 0,
                "add")
            let other = try #require(keyFiles(repo).first { !before.contains($0) })

            let p = Process()
            p.executableURL = URL(fileURLWithPath: try Restic.path())
            p.arguments = ["-r", repo, "--no-cache", "key", "add"]
            p.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": password, "TZ": "UTC"]) { $1 }
            let input = Pipe()
            p.standardInput = input
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let locks = { ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).filter { !$0.hasPrefix(".") } }
            _ = await eventually(timeout: .seconds(60), interval: .milliseconds(20)) { !locks().isEmpty }
            #expect(locks().count == 1, "restic never took its lock")

            let blocked = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", other], password: password), 11, "remove while locked")
            #expect(blocked.stderr.contains("locked"))
            #expect(keyFiles(repo).contains(other))
            let thirdFile = try writePassword(dir, "third", "third password")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "add", "--new-password-file", thirdFile], password: password), 0,
                "add beside a shared lock")

            try input.fileHandleForWriting.write(contentsOf: Data("restic password\n".utf8))
            try input.fileHandleForWriting.close()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "remove", other], password: password), 0, "remove after restic is done")
            await #expect(try resticKeys(repo, "restic password").count == 3)
        }
    }

    @Test func newPasswordFromAMissingFileOrStdin() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let before = keyFiles(repo)
            let nope = dir + "/no-such-file"
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "add", "--new-password-file", nope], password: password), 1, "missing file")
            #expect(r.stderr == "Fatal: \(nope) does not exist\n")
            let rr = try await Restic.run(["key", "add", "--new-password-file", nope], repo: repo, password: password)
            #expect(rr.status == 1 && rr.stderr == r.stderr)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "key", "passwd", "--new-password-file", nope], password: password), 1,
                "passwd missing")
            #expect(keyFiles(repo) == before)

            // Not a terminal: the first line of stdin, as restic reads it.
            let env: [String: String?] = [
                "RESTIC_PASSWORD": password, "TZ": "UTC", "RESTIC_REPOSITORY": nil, "RESTIC_PASSWORD_FILE": nil,
                "RESTIC_PASSWORD_COMMAND": nil,
            ]
            let viaStdin = expectStatus(
                try await ProcessRunner.run(
                    try OffsiteBinary.path(), ["-r", repo, "key", "add"], environment: env, stdin: Data("piped password\n".utf8)), 0,
                "stdin")
            let lines = viaStdin.stdoutString.split(separator: "\n")
            #expect(lines.first == "reading repository password from stdin")
            #expect(lines.count == 2 && lines[1].hasPrefix("saved new key as <Key of "))
            expectStatus(try await Restic.run(["snapshots"], repo: repo, password: "piped password"), 0, "restic with piped key")
            let empty = expectStatus(
                try await ProcessRunner.run(
                    try OffsiteBinary.path(), ["-r", repo, "key", "add"], environment: env, stdin: Data("\n".utf8)), 1,
                "empty")
            #expect(empty.stderr.contains("an empty password is not a password"))
            #expect(keyFiles(repo).count == before.count + 1)
        }
    }
}

/// The user and host restic records when a key names none.
enum SystemUser {
    static var name: String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "" }
        return String(cString: name)
    }
    static var host: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
