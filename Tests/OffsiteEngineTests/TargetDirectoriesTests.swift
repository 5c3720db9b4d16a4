import Foundation
import OffsiteFormat
import OffsiteTesting
import Testing

@testable import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// The descriptor-relative primitives restore stands on: `TargetDirectories` (directories opened
/// from the target down, never through a symlink, with a bounded number of descriptors) and
/// `FileSystem.removeItem(in:)` (removal by descriptor whatever the depth).
@Suite struct TargetDirectoriesTests {
    /// Makes a chain of `depth` directories named `name` below `root` by descriptor (its path is
    /// longer than PATH_MAX) and returns how deep it goes, walked again by descriptor.
    static func chain(below root: String, depth: Int, name: String) -> Int {
        var fd = open(root, O_RDONLY | O_DIRECTORY)
        for _ in 0..<depth {
            mkdirat(fd, name, 0o755)
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            close(fd)
            fd = next
        }
        close(fd)
        return levels(below: root, name: name)
    }

    static func levels(below root: String, name: String) -> Int {
        var fd = open(root, O_RDONLY | O_DIRECTORY)
        var levels = 0
        while fd >= 0 {
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            close(fd)
            fd = next
            if next >= 0 { levels += 1 }
        }
        return levels
    }

    @Test func aSymlinkIsNeverOpenedAsADirectory() async throws {
        try await withScratchDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/target/real", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dir + "/target/link", withDestinationPath: "../outside")
            let table = TargetDirectories(target: FSPath(dir + "/target"))
            let real = table.add(parent: TargetDirectories.root, name: Array("real".utf8))
            let link = table.add(parent: TargetDirectories.root, name: Array("link".utf8))
            let below = table.add(parent: link, name: Array("x".utf8))
            #expect(throws: Never.self) { try table.with(real) { _ in } }
            for dir in [link, below] {
                do {
                    try table.with(dir) { _ in Issue.record("a directory was opened through a symlink") }
                } catch let e as EngineError {
                    #expect(e.message.contains("not a directory (a symlink is never followed)"), "\(e.message)")
                }
            }
            #expect(table.path(below).string == dir + "/target/link/x")
        }
    }

    /// 3,000 levels (24,000 bytes of path): every directory is reached, deepest first and back,
    /// with no more descriptors open than the table's bounds.
    @Test func deepChainsStayWithinTheDescriptorBounds() async throws {
        try await withScratchDirectory { dir in
            defer { removeDeepTrees(dir + "/target") }
            let depth = 3_000, name = "level-7"
            try FileManager.default.createDirectory(atPath: dir + "/target", withIntermediateDirectories: true)
            #expect(Self.chain(below: dir + "/target", depth: depth, name: name) == depth)
            do {
                let table = TargetDirectories(target: FSPath(dir + "/target"), capacity: 16)
                var index = TargetDirectories.root
                for _ in 0..<depth { index = table.add(parent: index, name: Array(name.utf8)) }
                var most = 0
                // Down, then up (as directory metadata is set), then a scattered order.
                let order = Array(1...depth) + Array((1...depth).reversed()) + (0..<500).map { ($0 * 7919) % depth + 1 }
                for dir in order {
                    try table.with(dir) { fd in
                        var st = stat()
                        #expect(fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR)
                    }
                    most = max(most, table.openDescriptors)
                }
                // 16 plus an anchor every 128 levels (at most 64) and the target's.
                #expect(most <= 16 + depth / 128 + 2, "\(most) descriptors open at once")
            }
        }
    }

    @Test func removalByDescriptorOfADeepTreeNeverFollowsALink() async throws {
        try await withScratchDirectory { dir in
            defer { removeDeepTrees(dir + "/target") }
            let depth = 2_000, name = "directory-name"
            try FileManager.default.createDirectory(atPath: dir + "/target", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: URL(fileURLWithPath: dir + "/outside/keep"))
            #expect(Self.chain(below: dir + "/target", depth: depth, name: name) == depth)
            // A file and a symlink out at the bottom and halfway.
            for level in [depth / 2, depth] {
                var fd = open(dir + "/target", O_RDONLY | O_DIRECTORY)
                for _ in 0..<level {
                    let next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                    close(fd)
                    fd = next
                }
                symlinkat(dir + "/outside", fd, "out")
                let file = openat(fd, "file", O_WRONLY | O_CREAT, 0o644)
                close(file)
                close(fd)
            }
            let root = open(dir + "/target", O_RDONLY | O_DIRECTORY)
            try FileSystem.removeItem(in: root, Array(name.utf8), display: FSPath(dir + "/target/" + name))
            close(root)
            #expect(Self.levels(below: dir + "/target", name: name) == 0)
            #expect(FileManager.default.contents(atPath: dir + "/outside/keep") == Data("keep".utf8))
            // Nothing there is fine.
            let again = open(dir + "/target", O_RDONLY | O_DIRECTORY)
            defer { close(again) }
            try FileSystem.removeItem(in: again, Array(name.utf8), display: FSPath(dir + "/target/" + name))
        }
    }
}
