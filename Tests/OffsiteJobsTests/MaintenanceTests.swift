import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteJobs

/// Prune and the rotating check as the orchestrator runs them, against a real repository.
@Suite struct MaintenanceTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    @Test func checkReadsTheNextPartEachTimeAndPruneReportsTheRepositorySize() async throws {
        try await withScratchDirectory { dir in
            let fixture = try DaemonTests.Fixture(dir, files: ["a.bin": 300_000, "b.bin": 700_000])
            var configuration = try fixture.configuration(schedule: "@daily")
            configuration.repositories[0].checkRotation = 3
            configuration.jobs[0].retention = RetentionSettings(daily: 1, weekly: 0, monthly: 0)
            let lines = Lines()
            let orchestrator = Orchestrator(
                configuration: configuration, offsite: try OffsiteBinary.path(), store: fixture.store, log: { lines.add($0) })
            for _ in 0..<2 {
                let records = await orchestrator.run(configuration.jobs, mode: "all")
                #expect(records.allSatisfy { $0.success }, "\(records.map(\.message))")
            }
            // Both backups fall on one day: keep-daily 1 keeps the latest.
            #expect(try fixture.store.load().latest(.forget, "volumes")?.snapshotCount == 1)

            let repository = configuration.repositories[0]
            for part in 1...4 {
                let record = await orchestrator.check(repository)
                #expect(record.success, "\(record.message)")
                let expected = "--read-data-subset \((part - 1) % 3 + 1)/3"
                #expect(lines.all.contains { $0.contains("check") && $0.contains(expected) }, "no check with \(expected): \(lines.all)")
            }
            #expect(try fixture.store.load().checkCounter["default"] == 4)

            let prune = await orchestrator.prune(repository)
            #expect(prune.success, "\(prune.message)")
            #expect((prune.repositorySize ?? 0) > 900_000, "the repository holds the ~1 MB of data")
            #expect(prune.snapshotCount == 1)
            let state = try fixture.store.load()
            #expect(state.latest(.prune, "default")?.success == true)
            #expect(state.latest(.check, "default")?.success == true)
            let check = try await Restic.run(["check", "--read-data"], repo: fixture.repo, password: DaemonTests.password)
            #expect(check.status == 0, "\(check.stderr)")
        }
    }
}
