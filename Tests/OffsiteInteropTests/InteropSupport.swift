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

/// Appends `line` as one JSON line (sorted keys) to the file named by the environment variable
/// `variable`, when it is set: the reliability drivers' figures, which their scripts turn into
/// docs/RELIABILITY.md's tables. Appends are whole lines even from tests running in parallel.
func appendReportLine(_ line: [String: Any], toFileIn variable: String) throws {
    guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else { return }
    var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
    data.append(0x0a)
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else { throw FixtureError(message: "cannot open \(path)") }
    defer { close(fd) }
    _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// Makes every file under `path` writable (repository files are 0400) so tests can damage them.
func makeWritable(_ path: String) async {
    _ = try? await ProcessRunner.run("/bin/chmod", ["-R", "u+w", path])
}

/// The last line of `backup --json` output: restic's summary object.
func summary(_ r: ProcessRunner.Result) throws -> [String: Any] {
    let last = r.stdoutString.split(separator: "\n").last.map(String.init) ?? ""
    guard let obj = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
        throw FixtureError(message: "no JSON summary in: \(r.stdoutString)")
    }
    return obj
}

/// Starts the offsite binary with `args` (output discarded, in `cwd` if given) and kills it
/// with SIGKILL after `delay` microseconds, for crash tests. Returns whether the kill hit the
/// running process (false when it had already exited by then).
@discardableResult
func runOffsiteAndKill(_ args: [String], environment: [String: String], cwd: String? = nil, after delay: UInt32) async throws -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    await pause(.microseconds(delay))
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    return p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL
}

/// The fault scenario every cloud backend passes: `dir/src` is backed up through a FaultProxy
/// in front of the server at `upstreamPort` that fails a fifth of all requests (500, 503
/// SlowDown, resets before and after the server handled them, uploads cut halfway, stalls
/// past `--stuck-request-timeout 1s`). The backup must complete, restic must check every byte
/// straight from the server with nothing left over, and offsite must restore it identically
/// through the same proxy. `location(port)` is the repository at a port; the seed is printed
/// with any failure. A backend whose endpoint is set in the environment (GCS's
/// `STORAGE_EMULATOR_HOST`) adds `portEnvironment(port)`; one restic cannot reach gives
/// `resticRepository`, which returns what restic checks instead (a local copy of the objects).
func backupThroughFaults(
    _ dir: String, upstreamPort: Int, location: (Int) -> String, environment: [String: String?] = [:],
    portEnvironment: (Int) -> [String: String?] = { _ in [:] }, resticRepository: (() async throws -> String)? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let seed = UInt64.random(in: 1...UInt64(Int32.max))
    let proxy = try await FaultProxy.start(upstreamPort: upstreamPort, failRate: 0.2, seed: seed, stallSeconds: 3)
    defer { proxy.stop() }
    let direct = location(upstreamPort)
    let faulty = location(proxy.port)
    func offsite(_ args: [String]) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(
            ["-r", faulty, "--stuck-request-timeout", "1s"] + args, password: password,
            environment: environment.merging(portEnvironment(proxy.port)) { $1 }, cwd: dir)
    }
    await expectStatus(try offsite(["init"]), 0, "seed \(seed): init through faults", sourceLocation: sourceLocation)
    let backup = await expectStatus(
        try offsite(["backup", "src", "--pack-size", "4"]), 0, "seed \(seed): backup through faults", sourceLocation: sourceLocation)
    #expect(backup.stderr.contains("retrying"), "seed \(seed): no fault was met: \(backup.stderr)", sourceLocation: sourceLocation)
    var env = environment
    env["RESTIC_PASSWORD"] = password
    env["TZ"] = "UTC"
    env["RESTIC_REPOSITORY"] = nil
    env["RESTIC_PASSWORD_FILE"] = nil
    let checked = try await resticRepository?() ?? direct
    let check = try await ProcessRunner.run(try Restic.path(), ["-r", checked, "--no-cache", "check", "--read-data"], environment: env)
    #expect(
        check.status == 0, "seed \(seed): restic check --read-data: \(check.stdoutString) \(check.stderr)", sourceLocation: sourceLocation)
    #expect(!check.stdoutString.contains("additional files"), "seed \(seed): \(check.stdoutString)", sourceLocation: sourceLocation)
    await expectStatus(
        try offsite(["restore", "latest", "--target", dir + "/out"]), 0, "seed \(seed): restore through faults",
        sourceLocation: sourceLocation)
    #expect(
        try TreeFixture.describe(dir + "/out/src", includeDirectoryTimes: false)
            == TreeFixture.describe(dir + "/src", includeDirectoryTimes: false), "seed \(seed)", sourceLocation: sourceLocation)
    let stats = try await ProcessRunner.run(
        try #require(ProcessRunner.which("python3")),
        ["-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(proxy.port)/__faults').read().decode())"])
    let counts = try #require(try JSONSerialization.jsonObject(with: stats.stdout) as? [String: Int])
    let injected = counts.filter { $0.key != "requests" }.values.reduce(0, +)
    #expect(
        injected >= 5, "seed \(seed): only \(injected) faults in \(counts["requests"] ?? 0) requests: \(counts)",
        sourceLocation: sourceLocation)
}
