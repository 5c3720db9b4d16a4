import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@Suite struct LocalBackendTests {
    @Test func layoutModesAndNoTemporaryFiles() async throws {
        try await withScratchDirectory { dir in
            let b = LocalBackend(path: dir + "/repo/")
            try await b.create()
            let fm = FileManager.default
            for d in ["keys", "snapshots", "index", "locks", "data/00", "data/ab", "data/ff"] {
                var isDir: ObjCBool = false
                #expect(fm.fileExists(atPath: dir + "/repo/" + d, isDirectory: &isDir) && isDir.boolValue)
            }
            let id = String(repeating: "ab", count: 32)
            try await b.save(Handle(.data, id), data: Data("pack".utf8))
            let path = dir + "/repo/data/ab/" + id
            let attrs = try fm.attributesOfItem(atPath: path)
            #expect((attrs[.posixPermissions] as? Int) == 0o400)
            #expect(try fm.contentsOfDirectory(atPath: dir + "/repo/data/ab") == [id])
            // A stray temporary file is never listed.
            _ = fm.createFile(atPath: dir + "/repo/data/ab/.tmp-stray", contents: Data("x".utf8))
            #expect(try await b.list(.data).map(\.name) == [id])
        }
    }

    @Test func missingShardDirectoryIsCreatedOnSave() async throws {
        try await withScratchDirectory { dir in
            let b = LocalBackend(path: dir + "/repo")
            try await b.create()
            try FileManager.default.removeItem(atPath: dir + "/repo/data/cd")
            let h = Handle(.data, String(repeating: "cd", count: 32))
            try await b.save(h, data: Data("x".utf8))
            #expect(try await b.load(h) == Data("x".utf8))
        }
    }
}
