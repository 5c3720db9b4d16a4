import Foundation
import OffsiteFormat
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Restores that do not run to the end: killed (SIGKILL), interrupted (SIGINT) or stopped by a
/// full disk. Whatever happens, a file under its real name is complete and correct, and running
/// the restore again finishes the job without rewriting what is already right.
@Suite struct RestoreInterruptionTests {
    static let temporaryPrefix = ".offsite-restore-"

    /// A source tree of many small random files and one large one, backed up with offsite.
    func makeRepository(_ dir: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        var random = TreeFixture.RandomBytes(seed: 1004)
        func bytes(_ n: Int) -> [UInt8] { random.next(n) }
        try f.dir("")
        for d in 0..<8 {
            try f.dir("d\(d)")
            for i in 0..<50 {
                try f.file("d\(d)/f\(i)", bytes(64 << 10 + i * 512))
            }
        }
        try f.file("z-big.bin", bytes(24 << 20))  // last in the packs
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password)
        expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
        return repo
    }

    /// Regular files below `root`: (relative path, is a temporary name).
    func regularFiles(_ root: String) -> [(path: String, temporary: Bool)] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [(String, Bool)] = []
        while let rel = walker.nextObject() as? String {
            var st = stat()
            guard lstat(root + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            out.append((rel, (rel as NSString).lastPathComponent.hasPrefix(Self.temporaryPrefix)))
        }
        return out
    }

    func inode(_ path: String) -> UInt64 {
        var st = stat()
        return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    @Test(arguments: [SIGKILL, SIGINT])
    func interruptedRestoreResumesWithoutRewriting(signal: Int32) async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let out = dir + "/out"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
            // Paced (50 MB at 1 MiB/s): unpaced, the restore can end between two polls.
            p.arguments = ["-r", repo, "--limit-download", "1024", "restore", "latest", "--target", out]
            p.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": password]) { $1 }
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Interrupt once a few dozen files are in place: mid-way through the restore.
            _ = await eventuallyOnOwnThread(timeout: .seconds(120)) {
                !p.isRunning || regularFiles(out).filter({ !$0.temporary }).count >= 40
            }
            let interruptedMidway = p.isRunning
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            _ = err.fileHandleForReading.readDataToEndOfFile()
            #expect(interruptedMidway, "the restore finished before it could be interrupted")
            if signal == SIGKILL {
                #expect(p.terminationReason == .uncaughtSignal)
            } else {
                #expect(p.terminationStatus == 130)
            }

            // Every file under its real name is complete and correct.
            let afterKill = regularFiles(out)
            let complete = afterKill.filter { !$0.temporary }.map(\.path)
            #expect(complete.count >= 40)
            #expect(complete.count < 401, "everything was restored before the signal")
            for rel in complete {
                #expect(
                    FileManager.default.contents(atPath: out + "/" + rel)
                        == FileManager.default.contents(atPath: dir + "/" + rel), "\(rel) is under its real name but not complete")
            }
            // SIGINT: unfinished temporary files are removed before exiting.
            if signal == SIGINT { #expect(afterKill.filter(\.temporary).isEmpty) }

            let inodes = Dictionary(uniqueKeysWithValues: complete.map { ($0, inode(out + "/" + $0)) })
            let again = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", out], password: password), 0, "resume")
            #expect(again.stdoutString.contains("Summary: Restored"))
            // Files that were already right are not written again, and nothing is left over.
            for (rel, ino) in inodes { #expect(inode(out + "/" + rel) == ino, "\(rel) was rewritten") }
            #expect(regularFiles(out).filter(\.temporary).isEmpty)
            let restored = try TreeFixture.describe(out + "/src")
            let source = try TreeFixture.describe(dir + "/src")
            #expect(restored.count == source.count)
            for (path, desc) in source where !desc.hasPrefix("dir") { #expect(restored[path] == desc, "\(path)") }
        }
    }

    /// A target on a filesystem that fills up: the restore stops with exit 1 and a message that
    /// says so, no temporary file is left taking space, and every file under its real name is
    /// complete. The small filesystem is a tmpfs mounted in a private mount namespace.
    @Test func fullDiskStopsCleanly() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir)
            let mountPoint = dir + "/small"
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            // Inside the namespace: mount 6 MiB, restore into it, then report the state of the
            // target (the mount disappears with the namespace).
            let script = """
                mount -t tmpfs -o size=6m offsite-test "$MP" || exit 90
                "$@"
                echo "restore-exit=$?"
                cd "$MP/out" && find . -type f -exec sha256sum {} +
                """
            let unshareArgs = (getuid() == 0 ? ["-m"] : ["-r", "-m"]) + ["sh", "-c", script, "sh"]
            let offsiteArgs = [try OffsiteBinary.path(), "-r", repo, "restore", "latest", "--target", mountPoint + "/out"]
            let r = try await ProcessRunner.run(
                "/usr/bin/unshare", unshareArgs + offsiteArgs,
                environment: ["MP": mountPoint, "RESTIC_PASSWORD": password, "TZ": "UTC"])
            #expect(r.status == 0, "unshare/mount failed: \(r.stderr)")
            let lines = r.stdoutString.split(separator: "\n").map(String.init)
            #expect(lines.contains("restore-exit=1"), "\(lines.prefix(3))")
            #expect(r.stderr.contains("no space left on the device"), "\(r.stderr)")
            #expect(r.stderr.contains("run the same command again"))
            var files = 0
            // sha256sum's lines: "<64 hex>  ./<path>".
            for line in lines where line.count > 68 && line.dropFirst(64).hasPrefix("  ./") {
                let hash = String(line.prefix(64))
                let rel = String(line.dropFirst(68))
                #expect(!(rel as NSString).lastPathComponent.hasPrefix(Self.temporaryPrefix), "temporary file left: \(rel)")
                let source = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel))
                #expect(ID.hash(source).hex == hash, "\(rel) is under its real name but not complete")
                files += 1
            }
            #expect(files > 0, "nothing was restored before the disk filled up")
            #expect(files < 401, "everything fit: the filesystem was not full")
        }
    }
}
