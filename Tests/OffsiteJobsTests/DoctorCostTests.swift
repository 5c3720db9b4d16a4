import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteJobs

#if canImport(Glibc)
import Glibc
#endif

/// `offsite doctor` and `offsite cost` through the real binary: a repository on moto's S3 with
/// and without the guide's Glacier lifecycle rule, a missing bucket, a wrong password, a stale
/// lock left by a killed backup, old and missing backups, and the bill computed from the
/// repository's stored size.
@Suite(.serialized) struct DoctorCostTests {
    static let password = "doctor-restic-Secret-8e2a"
    static let awsSecret = "doctor-aws-Secret-51c7"

    /// A volumes-only deployment (one `.env` file) whose repository is `repository`.
    struct Deployment {
        let root: String
        let repository: String
        var envFile: String { root + "/.env" }
        var stateDirectory: String { root + "/state" }

        init(root: String, repository: String) throws {
            self.root = root
            self.repository = repository
            let data = TreeFixture(root: root + "/data")
            try data.dir("")
            try data.file("app.conf", Array(String(repeating: "listen 8080\n", count: 5000).utf8))
            var noise = [UInt8](repeating: 0, count: 300_000)
            for i in noise.indices { noise[i] = UInt8.random(in: 0...255) }
            try data.file("blob.bin", noise)
            let env = """
                RESTIC_REPOSITORY=\(repository)
                RESTIC_PASSWORD=\(DoctorCostTests.password)
                BACKUP_JOBS=volumes
                BACKUP_VOLUMES=\(root)/data
                BACKUP_SCHEDULE=0 */6 * * *
                BACKUP_HOST=doctor-test
                OFFSITE_STATE_DIR=\(root)/state
                AWS_ACCESS_KEY_ID=doctor-test
                AWS_SECRET_ACCESS_KEY=\(DoctorCostTests.awsSecret)
                AWS_DEFAULT_REGION=us-east-1
                """
            try env.write(toFile: envFile, atomically: true, encoding: .utf8)
        }

        @discardableResult
        func offsite(_ arguments: [String], environment: [String: String?] = [:]) async throws -> ProcessRunner.Result {
            var env: [String: String?] = [
                "OFFSITE_CONFIG": nil, "OFFSITE_STATE_DIR": nil, "AWS_PROFILE": nil, "AWS_SESSION_TOKEN": nil,
                "AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil, "OFFSITE_PRICE_S3": nil, "OFFSITE_PRICE_B2": nil,
                "OFFSITE_PRICE_GCS_NEARLINE": nil,
            ]
            for (k, v) in environment { env[k] = v }
            let r = try await OffsiteBinary.run(arguments, environment: env)
            let text = r.stdoutString + r.stderr
            #expect(!text.contains(DoctorCostTests.password) && !text.contains(DoctorCostTests.awsSecret), "a secret in: \(text)")
            return r
        }

        /// `offsite doctor --json`: its exit status and findings.
        func doctor(environment: [String: String?] = [:]) async throws -> (status: Int32, findings: [Finding]) {
            let r = try await offsite(["doctor", "--json", "--env-file", envFile], environment: environment)
            let findings = try JSONDecoder().decode([Finding].self, from: r.stdout)
            return (r.status, findings)
        }

        func backup() async throws {
            let r = try await offsite(["run", "all", "--env-file", envFile])
            #expect(r.status == 0, "run all: \(r.stdoutString) \(r.stderr)")
        }
    }

    static func finding(_ findings: [Finding], _ subject: String, sourceLocation: SourceLocation = #_sourceLocation) -> Finding? {
        let found = findings.first { $0.subject == subject }
        #expect(found != nil, "no finding for \(subject) in \(findings.map(\.line))", sourceLocation: sourceLocation)
        return found
    }

    /// Puts `rules` (S3's JSON form) on the bucket with boto3.
    static func putLifecycle(_ rules: String, bucket: String, port: Int) async throws {
        let script = """
            import boto3, json, sys
            s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:\(port)', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
            s3.put_bucket_lifecycle_configuration(Bucket='\(bucket)', LifecycleConfiguration=json.loads(sys.argv[1]))
            """
        let r = try await ProcessRunner.run(try #require(ProcessRunner.which("python3")), ["-c", script, rules])
        #expect(r.status == 0, "put lifecycle: \(r.stderr)")
    }

    /// The guide's rule, as written in its s3-lifecycle.json.
    static let guideRule = """
        {"Rules": [{"ID": "ArchiveOldBackups", "Status": "Enabled", "Filter": {"Prefix": ""},
          "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
          "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]}
        """

    @Test func s3LifecycleRulesAreJudged() async throws {
        try await withScratchDirectory { root in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            let d = try Deployment(root: root, repository: "s3:http://127.0.0.1:\(moto.port)/doctor-bucket/repo")
            try await d.backup()

            var (status, findings) = try await d.doctor()
            #expect(status == 0, "\(findings.map(\.line))")
            #expect(Self.finding(findings, "repository default bucket")?.level == .ok)
            #expect(Self.finding(findings, "repository default clock")?.level == .ok)
            #expect(Self.finding(findings, "repository default locks")?.message == "no locks")
            let none = Self.finding(findings, "repository default lifecycle")
            #expect(none?.level == .ok && none?.message.contains("no lifecycle rules") == true, "\(String(describing: none))")
            #expect(
                findings.contains {
                    $0.subject == "job volumes last backup" && $0.level == .ok && $0.message.contains("last successful backup")
                })

            try await Self.putLifecycle(Self.guideRule, bucket: "doctor-bucket", port: moto.port)
            (status, findings) = try await d.doctor()
            #expect(status == 1)
            let glacier = Self.finding(findings, "repository default lifecycle")
            #expect(glacier?.level == .problem, "\(String(describing: glacier))")
            #expect(
                glacier?.message.contains("\"ArchiveOldBackups\"") == true && glacier?.message.contains("GLACIER after 90 days") == true)
            // The text form names it too, and the command exits 1.
            let text = try await d.offsite(["doctor", "--env-file", d.envFile])
            #expect(text.status == 1)
            #expect(text.stdoutString.contains("PROBLEM  repository default lifecycle: rule \"ArchiveOldBackups\""), "\(text.stdoutString)")

            // Expiring current objects deletes packs; a rule for another prefix does not matter.
            try await Self.putLifecycle(
                """
                {"Rules": [{"ID": "DeleteAfterYear", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 365}},
                           {"ID": "LogsToGlacier", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                            "Transitions": [{"Days": 1, "StorageClass": "DEEP_ARCHIVE"}]}]}
                """, bucket: "doctor-bucket", port: moto.port)
            (status, findings) = try await d.doctor()
            let expiring = Self.finding(findings, "repository default lifecycle")
            #expect(
                expiring?.level == .problem && expiring?.message.contains("\"DeleteAfterYear\" deletes repository files 365 days") == true)
            #expect(expiring?.message.contains("LogsToGlacier") == false, "\(String(describing: expiring))")

            // GLACIER_IR stays readable: a warning about its cost only.
            try await Self.putLifecycle(
                """
                {"Rules": [{"ID": "InstantArchive", "Status": "Enabled", "Filter": {"Prefix": "repo/"},
                  "Transitions": [{"Days": 30, "StorageClass": "GLACIER_IR"}], "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]}
                """, bucket: "doctor-bucket", port: moto.port)
            (status, findings) = try await d.doctor()
            #expect(status == 0, "\(findings.map(\.line))")
            #expect(Self.finding(findings, "repository default lifecycle")?.level == .warning)
        }
    }

    @Test func missingBucketAndWrongPasswordAreProblems() async throws {
        try await withScratchDirectory { root in
            let moto = try await TestServer.moto()
            defer { moto.stop() }
            let missing = try Deployment(root: root + "/missing", repository: "s3:http://127.0.0.1:\(moto.port)/no-such-bucket")
            var (status, findings) = try await missing.doctor()
            #expect(status == 1)
            let bucket = Self.finding(findings, "repository default bucket")
            #expect(bucket?.level == .problem && bucket?.message.contains("no-such-bucket") == true, "\(String(describing: bucket))")
            #expect(bucket?.message.contains("does not exist") == true)
            #expect(!findings.contains { $0.subject == "repository default lifecycle" })
            let never = Self.finding(findings, "job volumes last backup")
            #expect(never?.level == .problem && never?.message.contains("no successful backup") == true)

            let d = try Deployment(root: root + "/existing", repository: "s3:http://127.0.0.1:\(moto.port)/doctor-bucket")
            try await d.backup()
            let wrong = "not-the-Password-7731"
            (status, findings) = try await d.doctor(environment: ["RESTIC_PASSWORD": wrong])
            #expect(status == 1)
            let opened = findings.first { $0.subject.hasPrefix("repository default (") }
            #expect(opened?.level == .problem && opened?.message.contains("wrong password") == true, "\(findings.map(\.line))")
            #expect(!findings.map(\.message).joined().contains(wrong))
        }
    }

    @Test func staleLockAndOldBackupAreWarnings() async throws {
        try await withScratchDirectory { root in
            let d = try Deployment(root: root, repository: root + "/repo")
            var (status, findings) = try await d.doctor()
            #expect(status == 1, "no backup yet")
            try await d.backup()
            (status, findings) = try await d.doctor()
            #expect(status == 0, "\(findings.map(\.line))")
            #expect(!findings.contains { $0.subject.hasSuffix(" clock") }, "a local repository has no server clock")

            // A backup reading a pipe that never ends, killed: its lock stays behind, with a dead pid.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
            p.arguments = ["-r", d.repository, "backup", "--stdin", "--stdin-filename", "stuck.bin"]
            var env = ProcessInfo.processInfo.environment
            env["RESTIC_PASSWORD"] = Self.password
            env["RESTIC_PASSWORD_FILE"] = nil
            env["RESTIC_PASSWORD_COMMAND"] = nil
            p.environment = env
            let input = Pipe()
            p.standardInput = input
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Polls counted, not a deadline: this task may wait minutes for a thread under the parallel suite.
            var polls = 0
            while (try? FileManager.default.contentsOfDirectory(atPath: d.repository + "/locks"))?.isEmpty != false, polls < 1200 {
                polls += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try input.fileHandleForWriting.close()
            #expect(try FileManager.default.contentsOfDirectory(atPath: d.repository + "/locks").count == 1)

            (status, findings) = try await d.doctor()
            #expect(status == 0, "a stale lock is a warning: \(findings.map(\.line))")
            let lock = Self.finding(findings, "repository default locks")
            #expect(lock?.level == .warning, "\(String(describing: lock))")
            #expect(lock?.message.contains("pid \(p.processIdentifier)") == true && lock?.message.contains("run offsite unlock") == true)
            #expect(lock?.message.contains("no longer exists") == true)
            await #expect(try d.offsite(["-r", d.repository, "unlock"], environment: ["RESTIC_PASSWORD": Self.password]).status == 0)
            (_, findings) = try await d.doctor()
            #expect(Self.finding(findings, "repository default locks")?.message == "no locks")

            // The last success three days ago, on a 6-hourly schedule: late.
            try StateStore(directory: d.stateDirectory).update { state in
                var old = state.lastSuccessful["backup/volumes"]!
                old.started = Date().addingTimeInterval(-3 * 86400 - 1800)
                old.duration = 0
                state.lastSuccessful["backup/volumes"] = old
                state.records["backup/volumes"] = RunRecord(
                    operation: .backup, job: "volumes", success: false, message: "disk full", started: Date(), duration: 1)
            }
            (status, findings) = try await d.doctor()
            #expect(status == 0)
            let late = Self.finding(findings, "job volumes last backup")
            #expect(late?.level == .warning, "\(String(describing: late))")
            #expect(late?.message.contains("3 d ago") == true && late?.message.contains("every 6 h") == true)
            #expect(late?.message.contains("disk full") == true)
        }
    }

    @Test func costFollowsTheStoredSize() async throws {
        // The guide's arithmetic, at its prices: 1.08 TB.
        let guide = Cost.estimate(bytes: 1_080_000_000_000, prices: Cost.defaultPrices)
        #expect(guide.map(\.provider) == ["s3", "b2", "gcs-nearline"])
        #expect(abs(guide[0].dollarsPerMonth - 24.84) < 1e-9 && abs(guide[1].dollarsPerMonth - 5.40) < 1e-9)
        #expect(abs(guide[2].dollarsPerMonth - 10.80) < 1e-9)
        #expect(throws: JobsError.self) { try Cost.prices(overrides: ["s3=cheap"], environment: [:]) }

        try await withScratchDirectory { root in
            let d = try Deployment(root: root, repository: root + "/repo")
            try await d.backup()
            let stats = try await d.offsite(
                ["-r", d.repository, "stats", "--mode", "raw-data", "--json"], environment: ["RESTIC_PASSWORD": Self.password])
            let total = try #require((try JSONSerialization.jsonObject(with: stats.stdout) as? [String: Any])?["total_size"] as? Int)
            #expect(total > 300_000)

            let r = try await d.offsite(
                ["cost", "--json", "--env-file", d.envFile, "--price", "b2=0.006", "--price", "wasabi=0.0069"],
                environment: ["OFFSITE_PRICE_S3": "0.03"])
            #expect(r.status == 0, "\(r.stderr)")
            let reports = try JSONDecoder().decode([CostReport].self, from: r.stdout)
            let report = try #require(reports.first)
            #expect(report.bytes == Int64(total))
            let expected: [(String, Double)] = [("s3", 0.03), ("b2", 0.006), ("gcs-nearline", 0.010), ("wasabi", 0.0069)]
            #expect(report.lines.map(\.provider) == expected.map(\.0))
            for (line, (_, price)) in zip(report.lines, expected) {
                #expect(abs(line.dollarsPerMonth - Double(total) / 1e9 * price) < 1e-12, "\(line)")
            }

            let text = try await d.offsite(["cost", "--env-file", d.envFile])
            #expect(text.status == 0)
            #expect(text.stdoutString.contains("GB = 10^9 bytes") && text.stdoutString.contains("S3 Standard"), "\(text.stdoutString)")
            #expect(text.stdoutString.contains(Cost.dollars(Double(total) / 1e9 * 0.023)))
            let bad = try await d.offsite(["cost", "--env-file", d.envFile], environment: ["OFFSITE_PRICE_B2": "free"])
            #expect(bad.status == 1 && bad.stderr.contains("OFFSITE_PRICE_B2"), "\(bad.stderr)")
        }
    }
}
