import Foundation

/// Runs `body` with a new empty directory under the system temp dir, removed afterwards
/// (read-only files included).
public func withScratchDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let base = ProcessInfo.processInfo.environment["OFFSITE_TEST_TMP"] ?? NSTemporaryDirectory()
    let dir = (base as NSString).appendingPathComponent("offsite-test-\(UUID().uuidString.prefix(12))")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { removeTree(dir) }
    return try await body(dir)
}

/// Removes a directory tree, first making everything writable (repository files are 0400).
public func removeTree(_ path: String) {
    let fm = FileManager.default
    if let e = fm.enumerator(atPath: path) {
        for case let rel as String in e {
            try? fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path + "/" + rel)
        }
    }
    try? fm.removeItem(atPath: path)
}

/// Removes trees too deep for path-based removal (paths past PATH_MAX) with `rm -rf`, waiting
/// for it on the calling thread (for `defer`, where nothing can be awaited).
public func removeDeepTrees(_ paths: String...) {
    _ = try? ProcessRunner.runWaiting(
        "/bin/rm", ["-rf", "--"] + paths, environment: [:], stdin: nil, currentDirectory: nil, audit: nil)
}
