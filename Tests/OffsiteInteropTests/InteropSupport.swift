import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

let password = "interop password"

/// Decodes a JSON array of objects.
func jsonArray(_ data: Data) throws -> [[String: Any]] {
    guard let a = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
        throw FixtureError(message: "not a JSON array of objects: \(String(decoding: data, as: UTF8.self))")
    }
    return a
}

/// Fails the test with the command's output when it did not exit with `status`.
@discardableResult
func expectStatus(
    _ r: ProcessRunner.Result, _ status: Int32, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ProcessRunner.Result {
    #expect(
        r.status == status, "\(what): exit \(r.status)\nstdout: \(r.stdoutString.prefix(2000))\nstderr: \(r.stderr.prefix(2000))",
        sourceLocation: sourceLocation)
    return r
}

/// Fails the test unless the tree at `b` holds what the tree at `a` holds (paths, types,
/// contents and metadata as `TreeFixture.describe` sees them).
func expectSameTree(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let original = try TreeFixture.describe(a)
    let restored = try TreeFixture.describe(b)
    #expect(!original.isEmpty, sourceLocation: sourceLocation)
    for (path, desc) in original.sorted(by: { $0.key < $1.key }) {
        #expect(restored[path] == desc, "\(path)", sourceLocation: sourceLocation)
    }
    #expect(Set(restored.keys) == Set(original.keys), sourceLocation: sourceLocation)
}

/// Makes every file under `path` writable (repository files are 0400) so tests can damage them.
func makeWritable(_ path: String) {
    _ = try? ProcessRunner.run("/bin/chmod", ["-R", "u+w", path])
}

/// The last line of `backup --json` output: restic's summary object.
func summary(_ r: ProcessRunner.Result) throws -> [String: Any] {
    let last = r.stdoutString.split(separator: "\n").last.map(String.init) ?? ""
    guard let obj = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
        throw FixtureError(message: "no JSON summary in: \(r.stdoutString)")
    }
    return obj
}

/// Starts the offsite binary with `args` (output discarded) and kills it with SIGKILL after
/// `delay` microseconds, for crash tests.
func runOffsiteAndKill(_ args: [String], environment: [String: String], after delay: UInt32) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    usleep(delay)
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
}
