import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the guide's scripts get wrong, done right: a failing job fails loudly and writes no
/// snapshot, the others still run, a missing pushgateway does not fail a backup, and SIGTERM stops
/// an upload cleanly.
@Suite(.serialized) struct RunFailureTests {
    @Test func stoppedPostgresFailsOnlyItsJob() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root)
            defer { deployment.stop() }
            deployment.postgres.stop()
            let run = try await deployment.offsite(["run", "all", "--env-file", deployment.envFile])
            #expect(run.status == 1, "run all with PostgreSQL down: \(run.stdoutString) \(run.stderr)")
            let out = run.stdoutString
            #expect(out.contains("postgres: backup FAILED"), "\(out)")
            #expect(out.contains("pg_dump"), "the reason quotes pg_dump: \(out)")
            #expect(out.contains("redis: backup completed") && out.contains("volumes: backup completed"), "\(out)")
            #expect(run.stderr.contains("1 of 3 jobs failed"))
            let tags = try await deployment.snapshots().flatMap(\.tags)
            #expect(!tags.contains("postgres"), "no snapshot for a failed dump")
            let state = try String(contentsOfFile: deployment.stateDirectory + "/state.json", encoding: .utf8)
            #expect(state.contains("\"success\" : false"))
            deployment.expectNoSecrets()
        }
    }

    @Test func wrongDatabasePasswordIsNamedWithoutShowingIt() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root)
            defer { deployment.stop() }
            let wrong = "not-the-Password-5521"
            // The process environment overrides the env file (as docker compose's environment: does).
            let run = try await deployment.offsite(
                ["run", "postgres", "--env-file", deployment.envFile], environment: ["PGPASSWORD": wrong])
            #expect(run.status == 1)
            #expect(run.stdoutString.contains("password authentication failed"), "\(run.stdoutString)")
            #expect(!(run.stdoutString + run.stderr).contains(wrong))
            await #expect(try deployment.snapshots().isEmpty)
            let check = try await deployment.offsite(
                ["config", "check", "--env-file", deployment.envFile], environment: ["PGPASSWORD": wrong])
            #expect(check.status == 1)
            #expect(check.stdoutString.contains("PROBLEM  job postgres"), "\(check.stdoutString)")
            #expect(check.stdoutString.contains("ok       job redis"), "\(check.stdoutString)")
            #expect(!(check.stdoutString + check.stderr).contains(wrong))
            deployment.expectNoSecrets()
        }
    }

    @Test func anExistingRepositoryThatDoesNotOpenIsNeverReinitialised() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, pushgateway: false, extraEnv: "BACKUP_JOBS=volumes")
            defer { deployment.stop() }
            await #expect(try deployment.offsite(["run", "all", "--env-file", deployment.envFile]).status == 0)
            let config = try Data(contentsOf: URL(fileURLWithPath: deployment.repository + "/config"))
            let keys = try FileManager.default.contentsOfDirectory(atPath: deployment.repository + "/keys")
            let wrong = "a-Wrong-restic-password-31"
            let run = try await deployment.offsite(
                ["run", "all", "--env-file", deployment.envFile], environment: ["RESTIC_PASSWORD": wrong])
            #expect(run.status == 1)
            #expect(run.stdoutString.contains("cannot be opened"), "\(run.stdoutString)")
            #expect(!run.stdoutString.contains("initialising"))
            #expect(!(run.stdoutString + run.stderr).contains(wrong))
            #expect(try Data(contentsOf: URL(fileURLWithPath: deployment.repository + "/config")) == config)
            #expect(try FileManager.default.contentsOfDirectory(atPath: deployment.repository + "/keys") == keys)
            await #expect(try deployment.snapshots().count == 1)
        }
    }

    @Test func unreachablePushgatewayDoesNotFailTheBackup() async throws {
        try await withScratchDirectory { root in
            let deployment = try await GuideDeployment(root: root, pushgateway: false)
            defer { deployment.stop() }
            let run = try await deployment.offsite(["run", "volumes", "--env-file", deployment.envFile])
            #expect(run.status == 0, "\(run.stdoutString) \(run.stderr)")
            #expect(run.stdoutString.contains("volumes: backup completed"))
            #expect(run.stdoutString.contains("pushgateway"), "the failed push is reported: \(run.stdoutString)")
            await #expect(try deployment.snapshots().count == 1)
        }
    }

    @Test func sigtermMidUploadStopsCleanly() async throws {
        try await withScratchDirectory { root in
            // 256 KiB/s: a 6 MiB volume takes ~25 s to upload, so SIGTERM lands mid-upload.
            let deployment = try await GuideDeployment(root: root, extraEnv: "BACKUP_LIMIT_UPLOAD=256\nBACKUP_JOBS=volumes")
            defer { deployment.stop() }
            var bytes = [UInt8](repeating: 0, count: 6 << 20)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            try Data(bytes).write(to: URL(fileURLWithPath: root + "/data/app/big.bin"))

            let p = Process()
            p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
            p.arguments = ["run", "all", "--env-file", deployment.envFile]
            var env = ProcessInfo.processInfo.environment
            env["RESTIC_PASSWORD"] = nil
            env["RESTIC_REPOSITORY"] = nil
            p.environment = env
            let log = root + "/run.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            p.standardError = FileHandle(forWritingAtPath: log)
            try p.run()
            // Wait until the upload has started: a pack being written shows as a temporary file
            // or the backup has run for a few seconds.
            _ = await eventually(timeout: .seconds(120)) {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("volumes: backup started")
            }
            await pause(.seconds(4))
            #expect(p.isRunning, "the backup finished before SIGTERM: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(p.terminationStatus == 130, "exit status \(p.terminationStatus): \(output)")
            #expect(output.contains("volumes: backup interrupted (interrupted, no snapshot saved)"), "\(output)")
            let locks = (try? FileManager.default.contentsOfDirectory(atPath: deployment.repository + "/locks")) ?? []
            #expect(locks.isEmpty, "locks left behind: \(locks)")
            await #expect(try deployment.snapshots().isEmpty, "no snapshot from an interrupted backup")
            _ = try await deployment.restic(["check"])
            // The next run completes.
            let again = try await deployment.offsite(
                ["run", "all", "--env-file", deployment.envFile], environment: ["BACKUP_LIMIT_UPLOAD": "0"])
            #expect(again.status == 0, "\(again.stdoutString) \(again.stderr)")
            _ = try await deployment.restic(["check", "--read-data"])
        }
    }
}
