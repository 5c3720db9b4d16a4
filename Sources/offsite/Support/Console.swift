import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Output helpers: stdout for results, stderr for messages and progress.
enum Console {
    /// A line on stdout. A closed pipe (a reader that stopped early) ends the command's work
    /// (`BrokenPipe`); any other failure to write is ignored, as restic ignores it.
    static func out(_ s: String) {
        var line = s + "\n"
        line.withUTF8 { _ = try? writeStandardOutput(UnsafeRawBufferPointer($0)) }
    }

    static func outRaw(_ d: Data) {
        d.withUnsafeBytes { _ = try? writeStandardOutput($0) }
    }

    static func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
    static var stdinIsTerminal: Bool { isatty(0) == 1 }

    /// Bytes as restic formats them: "1.597 KiB", "933 B".
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(n) B" : String(format: "%.3f %@", v, units[i])
    }

    /// Seconds as "m:ss" or "h:mm:ss".
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s >= 3600 { return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) }
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}
