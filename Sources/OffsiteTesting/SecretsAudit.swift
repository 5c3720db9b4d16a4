public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A secrets audit for end-to-end tests: the secrets a test uses (passwords, AWS secrets, key
/// material) are registered once, and everything offsite shows is checked for any of them:
/// every standard output and error `ProcessRunner.run` captures while the audit is
/// `SecretsAudit.current` (so `OffsiteBinary.run`, and the helpers built on it, are audited
/// without the test asking), files and directory trees offsite wrote (state, textfile metrics,
/// logs, the repository), any other text (a pushgateway's contents), and the command lines of
/// every process offsite starts (`pg_dump`, `psql`, `redis-cli`, a drill's `redis-server`:
/// `/proc/PID/cmdline`, which any user on the machine can read), sampled while it runs.
///
/// A leak is recorded with where it was found and the secret's *name*, never its value (the
/// report must not spread the secret either). `counts` says how much was scanned, so a test can
/// require that the audit actually saw something.
public final class SecretsAudit: @unchecked Sendable {
    /// The audit `ProcessRunner.run` reports to, if any (bind with `SecretsAudit.$current.withValue`).
    @TaskLocal public static var current: SecretsAudit?

    public struct Counts: Sendable, Equatable {
        /// Standard outputs and errors and other texts scanned.
        public var outputs = 0
        /// Files scanned (each once per scan).
        public var files = 0
        /// Distinct command lines of child processes seen (pid and arguments).
        public var commandLines = 0
        /// /proc samples taken while processes ran.
        public var samples = 0
        /// Bytes scanned in all.
        public var bytes = 0
    }

    private let lock = NSLock()
    private var secrets: [(name: String, value: [UInt8])] = []
    private var _leaks: [String] = []
    private var _counts = Counts()
    private var seenCommands: Set<String> = []
    private var _programs: Set<String> = []

    public init(_ secrets: [String: String] = [:]) {
        for (name, value) in secrets.sorted(by: { $0.key < $1.key }) { register(name, value) }
    }

    /// Adds a secret. Values shorter than 8 bytes are refused: they would match by chance.
    public func register(_ name: String, _ value: String) {
        precondition(value.utf8.count >= 8, "secret \(name) is too short to audit")
        lock.withLock { secrets.append((name, Array(value.utf8))) }
    }

    public var secretCount: Int { lock.withLock { secrets.count } }
    /// Where each leak was found, with the secret's name.
    public var leaks: [String] { lock.withLock { _leaks } }
    public var counts: Counts { lock.withLock { _counts } }
    /// The programs (argv[0]'s last component) whose command lines were sampled.
    public var programs: Set<String> { lock.withLock { _programs } }

    /// Checks `bytes` for every secret; `what` names them in a leak.
    public func scan(_ bytes: some Collection<UInt8>, _ what: String) {
        let data = Array(bytes)
        let found = check(data)
        lock.withLock {
            _counts.outputs += 1
            _counts.bytes += data.count
            for name in found { _leaks.append(redacted("\(name) in \(what)")) }
        }
    }

    public func scan(_ text: String, _ what: String) { scan(Array(text.utf8), what) }

    /// Checks one file's contents.
    public func scanFile(_ path: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            lock.withLock { _leaks.append(redacted("\(path) could not be read for the audit")) }
            return
        }
        let bytes = [UInt8](data)
        let found = check(bytes)
        lock.withLock {
            _counts.files += 1
            _counts.bytes += bytes.count
            for name in found { _leaks.append(redacted("\(name) in file \(path)")) }
        }
    }

    /// Checks every regular file under `root` (and each entry's name); returns their paths.
    @discardableResult
    public func scanTree(_ root: String) -> [String] {
        var files: [String] = []
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        for case let rel as String in e {
            let found = check(Array(rel.utf8))
            if !found.isEmpty { lock.withLock { for name in found { _leaks.append(redacted("\(name) in the file name \(root)/\(rel)")) } } }
            var st = stat()
            if lstat(root + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG {
                scanFile(root + "/" + rel)
                files.append(root + "/" + rel)
            }
        }
        return files
    }

    /// `text` with every secret replaced by `<its name>` (a leak's description may quote a
    /// command or a path that holds one). Called with the lock held.
    private func redacted(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: String(decoding: $1.value, as: UTF8.self), with: "<\($1.name)>") }
    }

    /// The names of the secrets that occur in `bytes`.
    private func check(_ bytes: [UInt8]) -> [String] {
        let all = lock.withLock { secrets }
        return all.filter { contains(bytes, $0.value) }.map(\.name)
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    // MARK: Command lines

    /// Samples the command lines of `pid`'s descendants (not `pid` itself: its own arguments
    /// are the test's) every `interval` seconds until `stop()` is called on the result.
    public func watchDescendants(of pid: pid_t, interval: Double = 0.005) -> CommandLineSampler {
        let sampler = CommandLineSampler(audit: self, root: pid, interval: interval)
        sampler.start()
        return sampler
    }

    func record(commandLine args: [String], pid: Int32) {
        let joined = args.joined(separator: " ")
        let key = "\(pid) \(joined)"
        let isNew = lock.withLock { seenCommands.insert(key).inserted }
        guard isNew else { return }
        let found = check(Array(joined.utf8))
        lock.withLock {
            _counts.commandLines += 1
            // Some programs rewrite their argv[0] (redis-server shows its address after its name).
            let first = args.first?.split(separator: " ").first.map(String.init) ?? ""
            let program = (first as NSString).lastPathComponent
            if !program.isEmpty { _programs.insert(program) }
            for name in found { _leaks.append(redacted("\(name) on the command line of \(program) (pid \(pid))")) }
        }
    }

    func countSample() { lock.withLock { _counts.samples += 1 } }

    /// A one-line account for reports: secrets, what was scanned, leaks.
    public var summary: String {
        let c = counts
        let text =
            "\(secretCount) secrets; \(c.outputs) outputs, \(c.files) files, \(c.commandLines) child command lines (\(c.samples) samples; programs: \(programs.sorted().joined(separator: ", "))), \(c.bytes) bytes; leaks: \(leaks.isEmpty ? "none" : leaks.joined(separator: "; "))"
        return lock.withLock { redacted(text) }
    }
}

/// Reads `/proc` on a thread of its own: the parent of every process (from `/proc/PID/stat`),
/// and the command line of each descendant of the root process.
public final class CommandLineSampler: @unchecked Sendable {
    let audit: SecretsAudit
    let root: pid_t
    let interval: Double
    private let lock = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(audit: SecretsAudit, root: pid_t, interval: Double) {
        self.audit = audit
        self.root = root
        self.interval = interval
    }

    func start() {
        let t = Thread { [self] in
            while !lock.withLock({ stopped }) {
                sampleOnce()
                usleep(useconds_t(interval * 1_000_000))
            }
            sampleOnce()
            done.signal()
        }
        t.start()
    }

    /// Stops sampling (after one last sample) and waits for the thread.
    public func stop() {
        lock.withLock { stopped = true }
        done.wait()
    }

    func sampleOnce() {
        audit.countSample()
        var parents: [Int32: Int32] = [:]
        guard let dir = opendir("/proc") else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let stat = Self.read("/proc/\(pid)/stat") else { continue }
            // pid (comm) state ppid …; comm may hold spaces and parentheses: split after the last ')'.
            guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { continue }
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 1, let ppid = Int32(String(decoding: fields[1], as: UTF8.self)) else { continue }
            parents[pid] = ppid
        }
        closedir(dir)
        for (pid, _) in parents where pid != root && descends(pid, parents) {
            guard let raw = Self.read("/proc/\(pid)/cmdline"), !raw.isEmpty else { continue }
            let args = raw.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            audit.record(commandLine: args.last == "" ? Array(args.dropLast()) : args, pid: pid)
        }
    }

    private func descends(_ pid: Int32, _ parents: [Int32: Int32]) -> Bool {
        var p = pid
        for _ in 0..<64 {
            guard let parent = parents[p], parent > 1 else { return false }
            if parent == root { return true }
            p = parent
        }
        return false
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}
