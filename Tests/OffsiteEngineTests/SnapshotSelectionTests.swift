import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

/// `Repository.selectSnapshots`, restic's `FindFilteredSnapshots`: every command that takes
/// `[SNAPSHOT...]` selects through it.
@Suite struct SnapshotSelectionTests {
    /// Three snapshots written in the order a (host1, t=100), b (host2, t=300), c (host1, t=200,
    /// tag x), plus a damaged snapshot file when `damaged` is set.
    static func repository(damaged: Bool = false) async throws -> (Repository, [String: ID]) {
        let repo = try await TestRepository.make()
        let tree = ID.hash(Data("tree".utf8))
        var ids: [String: ID] = [:]
        for (name, host, time, tags) in [("a", "host1", 100, [String]()), ("b", "host2", 300, []), ("c", "host1", 200, ["x"])] {
            let s = Snapshot(time: GoTime(seconds: Int64(time)), tree: tree, paths: ["/data"], hostname: host, tags: tags)
            ids[name] = try await repo.saveJSON(.snapshots, s.json)
        }
        if damaged {
            let garbage = Data("garbage".utf8)
            let id = ID.hash(garbage)
            try await repo.backend.save(Handle(.snapshots, id.hex), data: garbage)
            ids["damaged"] = id
        }
        return (repo, ids)
    }

    @Test func withoutReferencesTheFilterChoosesOldestFirst() async throws {
        let (repo, ids) = try await Self.repository(damaged: true)
        let all = try await repo.selectSnapshots([], filter: SnapshotFilter())
        #expect(all.snapshots.map(\.id) == [ids["a"]!, ids["c"]!, ids["b"]!])
        // The damaged file is left out and reported, not fatal.
        #expect(all.notices.count == 1)
        if case .unloadable(let id, _) = all.notices.first { #expect(id == ids["damaged"]!) } else { Issue.record("\(all.notices)") }

        let host1 = try await repo.selectSnapshots([], filter: SnapshotFilter(hosts: ["host1"]))
        #expect(host1.snapshots.map(\.id) == [ids["a"]!, ids["c"]!])
        let tagged = try await repo.selectSnapshots([], filter: SnapshotFilter(tags: ["x"]))
        #expect(tagged.snapshots.map(\.id) == [ids["c"]!])
    }

    @Test func referencesInTheOrderNamedEachOnce() async throws {
        let (repo, ids) = try await Self.repository()
        let b = ids["b"]!.hex, a = ids["a"]!.hex
        let chosen = try await repo.selectSnapshots([b, String(a.prefix(8)), b, "latest"], filter: SnapshotFilter())
        // latest is b, already chosen: b and a, in the order named.
        #expect(chosen.snapshots.map(\.id) == [ids["b"]!, ids["a"]!])
        #expect(chosen.notices.isEmpty)
    }

    @Test func latestUsesItsOwnFilter() async throws {
        let (repo, ids) = try await Self.repository()
        let host1 = SnapshotFilter(hosts: ["host1"])
        let latest = try await repo.selectSnapshots(["latest"], filter: host1)
        #expect(latest.snapshots.map(\.id) == [ids["c"]!])
        let other = try await repo.selectSnapshots(["latest"], filter: SnapshotFilter(), latestFilter: SnapshotFilter(hosts: ["host2"]))
        #expect(other.snapshots.map(\.id) == [ids["b"]!])
        let none = try await repo.selectSnapshots(["latest"], filter: SnapshotFilter(hosts: ["nobody"]))
        #expect(none.snapshots.isEmpty)
        guard case .latestMatchedNothing = none.notices.first else { Issue.record("\(none.notices)"); return }
    }

    @Test func unusableReferencesBecomeNotices() async throws {
        let (repo, ids) = try await Self.repository(damaged: true)
        // The longest prefix two of the IDs share (possibly empty, which all four share).
        let sorted = ids.values.map(\.hex).sorted()
        let shared =
            zip(sorted, sorted.dropFirst()).map { String(zip($0, $1).prefix { $0 == $1 }.map(\.0)) }.max { $0.count < $1.count } ?? ""
        let result = try await repo.selectSnapshots(
            ["ffffffffffffzz", shared, ids["damaged"]!.hex, ids["a"]!.hex], filter: SnapshotFilter(hosts: ["host2"]))
        // The filter is ignored when no reference is `latest`: a (host1) is selected.
        #expect(result.snapshots.map(\.id) == [ids["a"]!])
        var kinds: [String] = []
        for notice in result.notices {
            switch notice {
            case .noMatch(let p): kinds.append("none \(p)")
            case .ambiguous(let p): kinds.append("ambiguous \(p)")
            case .unloadable(let id, _): kinds.append("unloadable \(id == ids["damaged"]! ? "damaged" : id.hex)")
            case .filterIgnored: kinds.append("filter ignored")
            case .latestMatchedNothing: kinds.append("latest")
            }
        }
        #expect(kinds == ["none ffffffffffffzz", "ambiguous \(shared)", "filter ignored", "unloadable damaged"])
    }
}
