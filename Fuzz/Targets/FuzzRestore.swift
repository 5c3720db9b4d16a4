import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteSync
import OffsiteTesting

#if canImport(Glibc)
import Glibc
#endif

/// The `restore` target: the input describes a crafted snapshot (hostile names and types,
/// duplicates, symlinks pointing out, hard links, lying sizes and content, directories without
/// a subtree), items planted in the target beforehand and the restore's options; the snapshot is
/// written to an in-memory repository and restored (twice, one snapshot over another, when the
/// input says so) into a target inside a scratch root. The property: nothing outside the target
/// is created, changed or removed, and no descriptor is left open.
///
/// The scratch root sits below eight guard directories, and symlink targets climb at most six
/// levels, so a restore that followed a link could only reach directories the census watches.
enum FuzzRestore {
    static let names: [[UInt8]] = [
        Array("x".utf8), Array("y".utf8), Array("z".utf8), Array(".".utf8), Array("..".utf8), [], Array("a/b".utf8),
        Array("../x".utf8), Array("/x".utf8), [0x78, 0x00, 0x79], Array("outside".utf8),
        Array(".offsite-restore-0123456789abcdef".utf8), Array("marker".utf8), [0xFF, 0xFE],
    ]

    /// Symlink targets relative to the link; `absolute` stands for the scratch root's outside/.
    static let linkTargets = [
        "../outside", "../../outside", "../../../outside/marker", "..", "../..", ".", "x", "absolute", "../../../../../..",
        "absolute/marker",
    ]

    static let contents: [[UInt8]] = [[], Array("a".utf8), Array("overwritten\n".utf8), [UInt8](repeating: 0, count: 4096)]

    /// Reads the input a byte at a time; past its end every byte is 0.
    struct Reader {
        let bytes: [UInt8]
        var at = 0
        mutating func next(_ bound: Int) -> Int {
            defer { at += 1 }
            return at < bytes.count ? Int(bytes[at]) % bound : 0
        }
        var atEnd: Bool { at >= bytes.count }
    }

    struct Plan {
        var first: [CraftedNode] = []
        var second: [CraftedNode]? = nil
        var planted: [(name: [UInt8], kind: Int, link: String)] = []
        var overwrite = Restore.Overwrite.always
        var delete = false
        var verify = false
        var sparse = false
    }

    /// A bounded tree: at most 4 levels and 40 nodes.
    static func tree(_ r: inout Reader, depth: Int, budget: inout Int, root: String, emptyTree: ID, data: ID) -> [CraftedNode] {
        var nodes: [CraftedNode] = []
        let count = r.next(depth == 0 ? 7 : 4)
        for _ in 0..<count where budget > 0 && !r.atEnd {
            budget -= 1
            let name = names[r.next(names.count)]
            switch r.next(10) {
            case 0, 1: nodes.append(.file(name, content: contents[r.next(contents.count)]))
            case 2, 3:
                let children = depth < 3 ? tree(&r, depth: depth + 1, budget: &budget, root: root, emptyTree: emptyTree, data: data) : []
                nodes.append(.dir(name, children))
            case 4, 5: nodes.append(.symlink(name, to: Array(link(linkTargets[r.next(linkTargets.count)], root: root).utf8)))
            case 6: nodes.append(.fifo(name))
            case 7: nodes.append(.hardlink(name, content: contents[1 + r.next(contents.count - 1)], inode: UInt64(1 + r.next(3))))
            case 8:
                // A directory without a subtree, or one whose subtree is a data blob.
                var node = Node(name: name, type: .dir)
                node.mode = GoFileMode.dir | 0o755
                if r.next(2) == 1 { node.subtree = data }
                nodes.append(.node(node))
            default:
                // A file whose size lies, or whose content names a tree blob.
                var node = Node(name: name, type: .file)
                node.mode = 0o644
                node.content = r.next(2) == 0 ? [data] : [emptyTree]
                node.size = [0, 1, 3, 1 << 62, UInt64.max][r.next(5)]
                nodes.append(.node(node))
            }
        }
        return nodes
    }

    static func link(_ target: String, root: String) -> String {
        target.hasPrefix("absolute") ? root + "/outside" + target.dropFirst("absolute".count) : target
    }

    static func plan(_ bytes: [UInt8], root: String, emptyTree: ID, data: ID) -> Plan {
        var r = Reader(bytes: bytes)
        var plan = Plan()
        let flags = r.next(256)
        plan.overwrite = Restore.Overwrite.allCases[flags & 3]
        plan.delete = flags & 4 != 0
        plan.verify = flags & 8 != 0
        plan.sparse = flags & 16 != 0
        for _ in 0..<r.next(4) {
            plan.planted.append((names[r.next(names.count)], r.next(3), link(linkTargets[r.next(linkTargets.count)], root: root)))
        }
        var budget = 40
        plan.first = tree(&r, depth: 0, budget: &budget, root: root, emptyTree: emptyTree, data: data)
        if flags & 32 != 0 {
            budget = 40
            plan.second = tree(&r, depth: 0, budget: &budget, root: root, emptyTree: emptyTree, data: data)
        }
        return plan
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// Runs one input (the libFuzzer driver's entry point: it waits for the restore).
    static func runBlocking(_ bytes: [UInt8], checkDescriptors: Bool) throws(FuzzViolation) {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        Task.detached {
            do {
                try await run(bytes, checkDescriptors: checkDescriptors)
            } catch let violation as FuzzViolation {
                result.violation = violation
            } catch {
                result.violation = FuzzViolation("restore: \(error)")
            }
            done.signal()
        }
        done.wait()
        if let violation = result.violation { throw violation }
    }

    private final class ResultBox: @unchecked Sendable {
        var violation: FuzzViolation?
    }

    /// What inputs share: the repository (made once: its key derivation is the slowest part of
    /// an input) and the guard directories. The repository is made anew every
    /// `inputsPerRepository` inputs so that memory stays bounded.
    private actor Shared {
        var crafted: (repository: CraftedRepository, emptyTree: ID, data: ID, uses: Int)?
        var base: String?

        func repository() async throws -> (CraftedRepository, ID, ID) {
            if let c = crafted, c.uses < FuzzRestore.inputsPerRepository {
                crafted!.uses += 1
                return (c.repository, c.emptyTree, c.data)
            }
            let repository = try await CraftedRepository.create()
            let emptyTree = try await repository.storeTree([])
            let data = try await repository.storeData(Array("abc".utf8))
            crafted = (repository, emptyTree, data, 1)
            return (repository, emptyTree, data)
        }

        func guards() throws -> String {
            if let base { return base }
            let made = NSTemporaryDirectory() + "offsite-fuzz-restore-\(getpid())-\(UInt32.random(in: 0 ... .max))"
            try FileManager.default.createDirectory(atPath: made + "/" + FuzzRestore.guards, withIntermediateDirectories: true)
            // The guards go when the process ends (libFuzzer exits; the test process too).
            atexit { FuzzRestore.removeGuards() }
            FuzzRestore.made.withLock { $0 = made }
            base = made
            return made
        }
    }

    private static let shared = Shared()
    static let inputsPerRepository = 500
    static let guards = (1...8).map { "g\($0)" }.joined(separator: "/")
    private static let made = Mutex<String?>(nil)

    private static func removeGuards() {
        if let base = made.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: base) }
    }

    static func run(_ bytes: [UInt8], checkDescriptors: Bool) async throws(FuzzViolation) {
        let base: String
        let root: String
        do {
            base = try await shared.guards()
            root = base + "/" + guards + "/root"
            try FileManager.default.createDirectory(atPath: root + "/outside/dir", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/target", withIntermediateDirectories: true)
            try Data("outside\n".utf8).write(to: URL(fileURLWithPath: root + "/outside/marker"))
            try Data("inner\n".utf8).write(to: URL(fileURLWithPath: root + "/outside/dir/inner"))
        } catch {
            throw FuzzViolation("restore: cannot make the scratch root: \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let target = root + "/target"
        let watched = guards + "/root/target"
        do {
            let (crafted, emptyTree, data) = try await shared.repository()
            let plan = plan(bytes, root: root, emptyTree: emptyTree, data: data)
            for (name, kind, link) in plan.planted where NodeName.problem(name) == nil {
                let path = target + "/" + String(decoding: name, as: UTF8.self)
                switch kind {
                case 0: _ = symlink(link, path)
                case 1: _ = mkdir(path, 0o755)
                default: FileManager.default.createFile(atPath: path, contents: Data("planted\n".utf8))
                }
            }
            let before = try DirectoryCensus(base, excluding: [watched])
            let descriptors = openDescriptors()
            var snapshots = [try await crafted.snapshot(plan.first)]
            if let second = plan.second { snapshots.append(try await crafted.snapshot(second)) }
            for id in snapshots {
                var options = Restore.Options(snapshotID: id, target: target)
                options.overwrite = plan.overwrite
                options.delete = plan.delete
                options.verify = plan.verify
                options.sparse = plan.sparse
                // Errors are expected (the trees are hostile); escaping the target is not.
                _ = try? await Restore(repository: crafted.repository, options: options).run()
            }
            let after = try DirectoryCensus(base, excluding: [watched])
            let changed = after.differences(from: before)
            guard changed.isEmpty else { throw FuzzViolation("restore changed files outside its target: \(changed)") }
            let left = openDescriptors()
            guard !checkDescriptors || left <= descriptors else {
                throw FuzzViolation("restore left \(left - descriptors) descriptors open")
            }
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation("restore: the fuzz target itself failed: \(error)")
        }
    }
}
