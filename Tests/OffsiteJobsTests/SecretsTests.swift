import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The secrets audit end to end: the main paths and the failure paths of offsite with
/// distinctive secret values, every output (`--json` too), every file offsite writes, the
/// pushgateway's contents and the command lines of every process offsite starts checked by one
/// `SecretsAudit`; and the permissions of what offsite writes locally. `SECRETS_FULL=1` (`make
/// secrets`) adds the daemon with its log file and an unreachable S3 endpoint (minutes of retries).
@Suite(.serialized) struct SecretsTests {
    static let pushPassword = "secrets-push-Secret-6a0f3e"
    static let wrongRestic = "secrets-wrong-restic-Secret-2b9d"
    static let wrongPostgres = "secrets-wrong-pg-Secret-c41a"
    static let wrongRedis = "secrets-wrong-redis-Secret-83f2"
    static let resticPassword = "secrets-restic-Secret-e70b55"
    static let restPassword = "secrets-rest-Secret-1d6c09"
    static let wrongRest = "secrets-wrong-rest-Secret-77a1"
    static let wrongAWS = "secrets-wrong-aws-Secret-5f0e"
    static let awsSecret = "secrets-aws-Secret-b2d4c8e1"
    static var full: Bool { ProcessInfo.processInfo.environment["SECRETS_FULL"] == "1" }

    /// Mode bits of `path` (without the file type), nil when it does not exist.
    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
    }

    /// Every file under a repository is read-only for its owner (0400) and every directory
    /// 0700, as restic makes them; returns how many entries were checked.
    static func expectRepositoryPermissions(_ root: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        var checked = 0
        #expect(mode(root) == 0o700, "repository directory \(root)", sourceLocation: sourceLocation)
        guard let entries = FileManager.default.enumerator(atPath: root) else {
            Issue.record("cannot list \(root)", sourceLocation: sourceLocation)
            return 0
        }
        for case let rel as String in entries {
            var st = stat()
            guard lstat(root + "/" + rel, &st) == 0 else { continue }
            let isDirectory = st.st_mode & S_IFMT == S_IFDIR
            let want: mode_t = isDirectory ? 0o700 : 0o400
            #expect(st.st_mode & 0o7777 == want, "\(rel): \(String(st.st_mode & 0o7777, radix: 8))", sourceLocation: sourceLocation)
            checked += 1
        }
        return checked
    }

    static func report(_ name: String, _ audit: SecretsAudit, permissions: Int) {
        print("secrets-audit \(name): \(audit.summary); \(permissions) permission checks")
    }

    /// The audit itself finds a secret wherever it is put: in a child's output, on the command
    /// line of a grandchild, in a file and in a file name (and says where without the value).
    @Test func auditFindsPlantedSecrets() async throws {
        try await withScratchDirectory { root in
            let secret = "planted-Secret-0f9e8d"
            let audit = SecretsAudit(["the planted secret": secret, "an absent secret": "absent-Secret-1234"])
            try await SecretsAudit.$current.withValue(audit) {
                // The inner shell's $0 is the secret: visible in /proc/PID/cmdline while it sleeps.
                let r = try await ProcessRunner.run("/bin/sh", ["-c", "sh -c 'sleep 1' \(secret); echo \(secret) >&2"])
                #expect(r.status == 0)
            }
            try Data(secret.utf8).write(to: URL(fileURLWithPath: root + "/file"))
            try Data().write(to: URL(fileURLWithPath: root + "/\(secret).txt"))
            audit.scanTree(root)
            audit.scan("nothing here", "a clean text")
            let leaks = audit.leaks
            #expect(leaks.contains { $0.contains("the planted secret on the command line of sh") }, "\(leaks)")
            #expect(leaks.contains { $0.contains("the planted secret in the standard error of `sh -c") }, "\(leaks)")
            #expect(leaks.contains { $0 == "the planted secret in file \(root)/file" }, "\(leaks)")
            #expect(leaks.contains { $0.contains("the planted secret in the file name") }, "\(leaks)")
            #expect(leaks.count == 4 && !leaks.contains { $0.contains("absent") }, "\(leaks)")
            #expect(!audit.summary.contains(secret))
        }
    }

    /// The guide's deployment (local repository, PostgreSQL, Redis, pushgateway behind a
    /// password, textfile metrics): config check, run, status, drill, doctor, cost and restic's
    /// commands, then wrong passwords for each service and an unreachable pushgateway.
    @Test func orchestratorLeaksNoSecret() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root)
            defer { deployment.stop() }
            let gateway = try #require(deployment.pushgateway)
            let textfile = root + "/textfile/offsite.prom"
            try FileManager.default.createDirectory(atPath: root + "/textfile", withIntermediateDirectories: true)
            let scratch = root + "/scratch"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            var env = try String(contentsOfFile: deployment.envFile, encoding: .utf8)
            // The pushgateway behind basic authentication (it ignores the header; offsite must not show it).
            env = env.replacingOccurrences(
                of: "PROMETHEUS_PUSHGATEWAY=http://", with: "PROMETHEUS_PUSHGATEWAY=http://metrics:\(Self.pushPassword)@")
            env += "\nBACKUP_METRICS_TEXTFILE=\(textfile)\n"
            try env.write(toFile: deployment.envFile, atomically: true, encoding: .utf8)

            let audit = SecretsAudit([
                "RESTIC_PASSWORD": GuideDeployment.resticPassword, "PGPASSWORD": GuideDeployment.pgPassword,
                "REDIS_PASSWORD": GuideDeployment.redisPassword, "the pushgateway password": Self.pushPassword,
                "a wrong RESTIC_PASSWORD": Self.wrongRestic, "a wrong PGPASSWORD": Self.wrongPostgres,
                "a wrong REDIS_PASSWORD": Self.wrongRedis,
            ])
            let envFile = ["--env-file", deployment.envFile]
            try await SecretsAudit.$current.withValue(audit) {
                func ok(_ args: [String], environment: [String: String?] = [:], _ status: Int32 = 0) async throws {
                    let r = try await deployment.offsite(args, environment: environment)
                    #expect(r.status == status, "offsite \(args.joined(separator: " ")): \(r.stdoutString) \(r.stderr)")
                }
                try await ok(["config", "check"] + envFile)
                try await ok(["config", "check", "--json"] + envFile)
                try await ok(["run", "all"] + envFile)
                try await ok(["status"] + envFile)
                try await ok(["status", "--json"] + envFile)
                try await ok(["drill", "all", "--scratch-dir", scratch] + envFile)
                try await ok(["drill", "all", "--json", "--scratch-dir", scratch] + envFile)
                let doctor = try await deployment.offsite(["doctor", "--json"] + envFile)
                #expect(doctor.status <= 1 && !doctor.stdout.isEmpty, "doctor: \(doctor.stderr)")
                try await ok(["cost", "--json"] + envFile)
                try await ok(["snapshots", "--json"])
                try await ok(["stats", "--json", "--mode", "raw-data"])
                try await ok(["check", "--read-data"])
                try await ok(["forget", "--keep-last", "1", "--prune", "--json"])

                // Failure paths: each wrong secret is refused and not shown.
                try await ok(["snapshots", "--json"], environment: ["RESTIC_PASSWORD": Self.wrongRestic], 12)
                try await ok(["snapshots"], environment: ["RESTIC_PASSWORD": Self.wrongRestic], 12)
                try await ok(["run", "all"] + envFile, environment: ["RESTIC_PASSWORD": Self.wrongRestic], 1)
                try await ok(["run", "postgres"] + envFile, environment: ["PGPASSWORD": Self.wrongPostgres], 1)
                try await ok(["config", "check", "--json"] + envFile, environment: ["PGPASSWORD": Self.wrongPostgres], 1)
                try await ok(["run", "redis"] + envFile, environment: ["REDIS_PASSWORD": Self.wrongRedis], 1)
                try await ok(["drill", "postgres", "--scratch-dir", scratch] + envFile, environment: ["PGPASSWORD": Self.wrongPostgres], 1)
                // An unreachable pushgateway does not fail the backup; its error must not show the password.
                let unused = try TestServer.freePort()
                let away = try await deployment.offsite(
                    ["run", "volumes"] + envFile,
                    environment: ["PROMETHEUS_PUSHGATEWAY": "http://metrics:\(Self.pushPassword)@127.0.0.1:\(unused)"])
                #expect(
                    away.status == 0 && (away.stdoutString + away.stderr).contains("pushgateway"), "\(away.stdoutString) \(away.stderr)")
            }
            let pushed = try LoopbackHTTP.request(port: gateway.port, path: "/metrics")
            #expect(pushed.status == 200 && pushed.text.contains("backup_success"))
            audit.scan(pushed.text, "the pushgateway's /metrics")
            audit.scanFile(textfile)
            let stateFiles = audit.scanTree(deployment.stateDirectory)
            let repositoryFiles = audit.scanTree(deployment.repository)
            #expect(stateFiles.contains { $0.hasSuffix("/state.json") } && repositoryFiles.count > 5)

            // Permissions: repository 0400/0700; state directory 0700, its files 0600; the
            // textfile 0644 on purpose (node_exporter's user reads it; it holds no secret).
            var permissions = Self.expectRepositoryPermissions(deployment.repository)
            #expect(Self.mode(deployment.stateDirectory) == 0o700)
            for file in stateFiles {
                #expect(Self.mode(file) == 0o600, "\(file): \(String(Self.mode(file) ?? 0, radix: 8))")
            }
            #expect(Self.mode(textfile) == 0o644)
            permissions += stateFiles.count + 2

            #expect(audit.leaks.isEmpty, "\(audit.summary)")
            // The audit saw the children it exists for (redis-cli runs too briefly to be sure of a sample).
            #expect(audit.programs.isSuperset(of: ["pg_dump", "psql", "redis-server"]), "\(audit.programs.sorted())")
            #expect(audit.counts.outputs >= 40 && audit.counts.files == stateFiles.count + repositoryFiles.count + 1)
            Self.report("orchestrator", audit, permissions: permissions)
            if Self.full { try await Self.daemon(deployment, root: root, audit: audit) }
        }
    }

    /// `offsite daemon` with a log file, two scheduled runs, SIGTERM: its output, log file and
    /// /metrics audited, the log file's mode 0640 (the group `adm` reads logs; no secret in it).
    static func daemon(_ deployment: GuideDeployment, root: String, audit: SecretsAudit) async throws {
        var env = try String(contentsOfFile: deployment.envFile, encoding: .utf8)
        env += "\nBACKUP_SCHEDULE=@every 3s\nBACKUP_JOBS=redis,postgres\nPRUNE_SCHEDULE=off\nCHECK_SCHEDULE=off\n"
        try env.write(toFile: deployment.envFile, atomically: true, encoding: .utf8)
        let log = root + "/daemon.log"
        let out = root + "/daemon.stdout"
        let daemon = try await DaemonProcess(
            envFile: deployment.envFile, listen: true, arguments: ["--log-file", log], output: out,
            environment: [
                "PGPASSWORD": nil,
                "PATH": deployment.postgres.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            ])
        let sampler = audit.watchDescendants(of: daemon.process.processIdentifier)
        let twoRuns = await eventually(timeout: .seconds(120)) { daemon.count("postgres: backup completed") >= 2 }
        #expect(twoRuns)
        let metrics = try LoopbackHTTP.request(port: try #require(daemon.port), path: "/metrics")
        let stopped = await daemon.stop()
        sampler.stop()
        #expect(stopped.status == 0)
        audit.scan(metrics.text, "the daemon's /metrics")
        audit.scanFile(out)
        audit.scanFile(log)
        #expect(mode(log) == 0o640)
        #expect(audit.leaks.isEmpty, "\(audit.summary)")
        report("orchestrator+daemon", audit, permissions: 1)
    }

    /// GCS through the emulator with a service account key file: the key's private key lines
    /// and every access token the test token endpoint issued must stay out of the outputs of
    /// init, backup, snapshots, check (plain and `--json`), a wrong password and a key the
    /// token endpoint refuses.
    @Test func gcsKeyAndTokensLeakNot() async throws {
        try await withScratchDirectory { root in
            let emulator = try await TestServer.fakeGCS()
            defer { emulator.stop() }
            let auth = try await GoogleAuthTestServer(upstream: "http://127.0.0.1:\(emulator.port)", directory: root + "/auth")
            defer { auth.stop() }
            try auth.writeKeyFile(root + "/key.json")
            let other = try await GoogleAuthTestServer.generateKey()
            try auth.writeKeyFile(root + "/other-key.json", privateKeyPEM: other)
            // The base64 lines of both private keys (64 characters each), each a secret.
            func keyLines(_ pem: String, _ name: String) -> [String: String] {
                let lines = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") && $0.count >= 32 }
                return Dictionary(uniqueKeysWithValues: lines.enumerated().map { ("\(name) line \($0.offset + 1)", String($0.element)) })
            }
            let secrets = keyLines(auth.privateKeyPEM, "the private key").merging(keyLines(other, "the refused private key")) { a, _ in a }
            let audit = SecretsAudit(
                secrets.merging(["RESTIC_PASSWORD": Self.resticPassword, "a wrong RESTIC_PASSWORD": Self.wrongRestic]) { a, _ in a })
            let source = TreeFixture(root: root + "/src")
            try source.dir("")
            try source.file("a.txt", Array(String(repeating: "gcs audit\n", count: 500).utf8))
            var transcript = ""
            try await SecretsAudit.$current.withValue(audit) {
                func ok(
                    _ args: [String], key: String = "key.json", password: String = Self.resticPassword, _ status: Int32 = 0
                ) async throws {
                    let r = try await OffsiteBinary.run(
                        ["-r", "gs:secrets-audit:/repo"] + args, password: password,
                        environment: [
                            "STORAGE_EMULATOR_HOST": auth.endpoint, "GOOGLE_APPLICATION_CREDENTIALS": root + "/" + key,
                            "GOOGLE_PROJECT_ID": "offsite-test", "GOOGLE_ACCESS_TOKEN": nil,
                        ], cwd: root)
                    #expect(r.status == status, "offsite \(args.joined(separator: " ")): \(r.stdoutString) \(r.stderr)")
                    transcript += r.stdoutString + r.stderr
                }
                try await ok(["init"])
                try await ok(["backup", "src", "--json"])
                try await ok(["snapshots"])
                try await ok(["snapshots", "--json"])
                try await ok(["check", "--read-data"])
                try await ok(["snapshots", "--json"], password: Self.wrongRestic, 12)
                try await ok(["snapshots", "--json"], key: "other-key.json", 1)
                try await ok(["snapshots"], key: "other-key.json", 1)
            }
            #expect(transcript.contains("GOOGLE_APPLICATION_CREDENTIALS"), "the refused key is named by its variable: \(transcript)")
            // The tokens exist only once issued: a second audit over the same outputs.
            let tokens = try #require(try auth.stats()["tokensUsed"] as? [String])
            #expect(!tokens.isEmpty)
            let tokenAudit = SecretsAudit(
                Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ("access token \($0.offset + 1)", $0.element) }))
            tokenAudit.scan(transcript, "the outputs of the GCS commands")
            #expect(audit.leaks.isEmpty && tokenAudit.leaks.isEmpty, "\(audit.summary); \(tokenAudit.summary)")
            Self.report("gcs (\(tokens.count) tokens)", audit, permissions: 0)
        }
    }

    /// restic's commands against S3 (moto) and a REST server with a password: init, backup,
    /// snapshots, ls, find, stats, check, restore, forget --prune, key list, plain and `--json`;
    /// then a wrong repository password, a wrong AWS secret (refused by a second moto that checks
    /// signatures: moto's own check refuses every signed listing, so the main paths use a moto
    /// that accepts any key, signed all the same with the secret), a wrong REST password.
    @Test func cloudCommandsLeakNoSecret() async throws {
        try await withScratchDirectory { root in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            let (checking, keyID, keySecret) = try await TestServer.motoCheckingSignatures()
            defer { checking.stop() }
            let rest = try await TestServer.rclone(directory: root + "/rest", user: "backup", password: Self.restPassword)
            defer { rest.stop() }

            let source = TreeFixture(root: root + "/src")
            try source.dir("")
            try source.dir("etc")
            try source.file("etc/app.conf", Array("listen = 8080\n".utf8))
            try source.file("etc/big.bin", (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })

            let audit = SecretsAudit([
                "RESTIC_PASSWORD": Self.resticPassword, "AWS_SECRET_ACCESS_KEY": Self.awsSecret, "the IAM key's secret": keySecret,
                "the REST password": Self.restPassword,
                "a wrong RESTIC_PASSWORD": Self.wrongRestic, "a wrong AWS_SECRET_ACCESS_KEY": Self.wrongAWS,
                "a wrong REST password": Self.wrongRest,
            ])
            let aws: [String: String?] = ["AWS_ACCESS_KEY_ID": "AKIASECRETSAUDIT", "AWS_SECRET_ACCESS_KEY": Self.awsSecret]
            var repositories: [(String, [String: String?])] = [
                ("s3:http://127.0.0.1:\(moto.port)/secrets-audit/repo", aws),
                ("rest:http://backup:\(Self.restPassword)@127.0.0.1:\(rest.port)/repo/", [:]),
            ]
            if Self.full {
                repositories.append(
                    (
                        "rest:http://127.0.0.1:\(rest.port)/other/",
                        ["RESTIC_REST_USERNAME": "backup", "RESTIC_REST_PASSWORD": Self.restPassword]
                    ))
            }
            try await SecretsAudit.$current.withValue(audit) {
                for (repo, environment) in repositories {
                    func ok(
                        _ args: [String], password: String = Self.resticPassword, extra: [String: String?] = [:], _ status: Int32 = 0
                    ) async throws {
                        let r = try await OffsiteBinary.run(
                            ["-r", repo] + args, password: password, environment: environment.merging(extra) { $1 }, cwd: root)
                        #expect(
                            r.status == status, "offsite \(args.joined(separator: " ")) on \(repo.prefix(4)): \(r.stdoutString) \(r.stderr)"
                        )
                    }
                    try await ok(["init"])
                    try await ok(["backup", "src", "--host", "audit"])
                    try await ok(["backup", "src", "--host", "audit", "--json"])
                    try await ok(["snapshots"])
                    try await ok(["snapshots", "--json"])
                    try await ok(["ls", "latest", "--json"])
                    try await ok(["find", "app.conf", "--json"])
                    try await ok(["stats", "--json"])
                    try await ok(["check", "--read-data"])
                    try await ok(["restore", "latest", "--target", root + "/restored-\(repo.prefix(4))", "--json"])
                    try await ok(["forget", "--keep-last", "1", "--prune"])
                    try await ok(["key", "list", "--json"])
                    try await ok(["snapshots", "--json"], password: Self.wrongRestic, 12)
                    try await ok(["backup", "src"], password: Self.wrongRestic, 12)
                }
                // Refused credentials fail at once and are not echoed.
                for args in [["snapshots"], ["snapshots", "--json"], ["init"]] {
                    let r = try await OffsiteBinary.run(
                        ["-r", "s3:http://127.0.0.1:\(checking.port)/locked-bucket"] + args, password: Self.resticPassword,
                        environment: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": Self.wrongAWS])
                    #expect(r.status == 1 && r.stderr.contains("access denied"), "\(r.stderr)")
                }
                for location in [
                    "rest:http://backup:\(Self.wrongRest)@127.0.0.1:\(rest.port)/repo/", "rest:http://127.0.0.1:\(rest.port)/repo/",
                ] {
                    let r = try await OffsiteBinary.run(
                        ["-r", location, "snapshots", "--json"], password: Self.resticPassword,
                        environment: location.contains("@")
                            ? [:] : ["RESTIC_REST_USERNAME": "backup", "RESTIC_REST_PASSWORD": Self.wrongRest])
                    #expect(r.status == 1 && r.stderr.contains("authentication failed"), "\(r.stderr)")
                }
                if Self.full {
                    // Nothing listens there: the retries run out (minutes), then the error.
                    let unused = try TestServer.freePort()
                    let r = try await OffsiteBinary.run(
                        ["-r", "s3:http://127.0.0.1:\(unused)/away/repo", "snapshots", "--json"], password: Self.resticPassword,
                        environment: aws)
                    #expect(r.status != 0, "\(r.stderr)")
                }
            }
            #expect(audit.leaks.isEmpty, "\(audit.summary)")
            #expect(audit.counts.outputs >= 2 * (repositories.count * 14 + 5))
            Self.report("cloud", audit, permissions: 0)
        }
    }
}
