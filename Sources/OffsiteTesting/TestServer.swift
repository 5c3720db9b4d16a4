public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A server a test starts on loopback (moto's S3, `rclone serve restic`, a GCS emulator) and
/// stops when done: `stop()` or, failing that, when the object is released. Tests fail, never
/// skip, when the server's program is missing; the message says what to install.
public final class TestServer: @unchecked Sendable {
    public let port: Int
    public let process: Process
    private let log: String

    /// Starts `executable` with `arguments(port)` on a free loopback port and waits (up to
    /// `timeout` seconds, suspended between polls) until the port accepts connections.
    /// `install` says how to get the program when it is missing.
    public init(
        _ executable: String, install: String, environment: [String: String] = [:], timeout: Double = 30,
        arguments: (Int) -> [String]
    ) async throws {
        guard let path = executable.hasPrefix("/") ? executable : ProcessRunner.which(executable) else {
            throw ProcessRunner.NotFound(description: "\(executable) is not installed: \(install) (or run `make deps`)")
        }
        var lastError = ""
        for _ in 0..<5 {
            let port = try Self.freePort()
            let log = NSTemporaryDirectory() + "offsite-server-\(port)-\(UUID().uuidString.prefix(8)).log"
            FileManager.default.createFile(atPath: log, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = arguments(port)
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let handle = FileHandle(forWritingAtPath: log)
            p.standardOutput = handle
            p.standardError = handle
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline && p.isRunning {
                if Self.accepts(port) {
                    self.port = port
                    self.process = p
                    self.log = log
                    return
                }
                await pause(.milliseconds(50))
            }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            lastError = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: log)
        }
        throw ProcessRunner.NotFound(description: "\(executable) did not start listening: \(lastError.suffix(2000))")
    }

    /// What the server printed so far (for failure messages).
    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Stops the server: `signals` (by default SIGTERM, then SIGINT: moto's threaded server
    /// ignores SIGTERM), then SIGKILL, each given `grace` seconds to work. A server whose clean
    /// shutdown takes another signal passes its own (PostgreSQL: SIGINT, its fast shutdown).
    public func stop(signals: [Int32] = [SIGTERM, SIGINT], grace: Double = 1) {
        for signal in signals + [SIGKILL] where process.isRunning {
            kill(process.processIdentifier, signal)
            for _ in 0..<max(1, Int(grace / 0.025)) where process.isRunning { usleep(25_000) }
        }
        if !process.isRunning { process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: log)
    }

    deinit { stop() }

    /// A port the kernel just handed out on 127.0.0.1 (released again for the server to take).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw ProcessRunner.NotFound(description: "no free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return connectLoopback(fd, port: port)
    }

    /// Connects the TCP socket `fd` to 127.0.0.1:`port`.
    static func connectLoopback(_ fd: Int32, port: Int) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

extension TestServer {
    /// moto's S3 server (`pip install 'moto[server]'`), accepting any credentials.
    public static func moto() async throws -> TestServer {
        try await TestServer("moto_server", install: "pip install 'moto[server]'") { ["-H", "127.0.0.1", "-p", String($0)] }
    }
}
