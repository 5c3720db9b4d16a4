import Foundation
import OffsiteSync

/// restic's counting progress line ("[0:03] 42.86%  3 / 7 packs copied"): redrawn in place
/// at most ten times a second when stdout is a terminal, otherwise printed once at the end
/// followed by an empty line, as restic 0.14 prints it when it cannot redraw.
final class CounterProgress: Sendable {
    private struct State {
        var value = 0
        var total = 0
        var lastDraw = 0.0
    }
    private let state = Mutex(State())
    private let description: String
    private let show: Bool
    private let live = StandardOutput.isTerminal
    private let start = Date()

    init(_ description: String, show: Bool) {
        self.description = description
        self.show = show
    }

    func setTotal(_ total: Int) { state.withLock { $0.total = total } }

    func add(_ n: Int = 1) {
        let line: String? = state.withLock { s in
            s.value += n
            guard show && live else { return nil }
            let now = Date().timeIntervalSince(start)
            guard now - s.lastDraw >= 0.1 else { return nil }
            s.lastDraw = now
            return text(s.value, s.total)
        }
        if let line { Console.outRaw(Data(("\r\u{1b}[2K" + line).utf8)) }
    }

    /// Prints the final line (also when nothing was counted, as restic does).
    func done(final value: Int? = nil) {
        guard show else { return }
        let line = state.withLock { s in text(value ?? s.value, s.total) }
        // restic ends each status with "\r" (terminal) or "\n", then the last one with "\n".
        Console.outRaw(Data((live ? "\r\u{1b}[2K" + line + "\r\n" : line + "\n\n").utf8))
    }

    private func text(_ value: Int, _ total: Int) -> String {
        let elapsed = Console.duration(Date().timeIntervalSince(start))
        guard total > 0 else { return "[\(elapsed)]          \(value) \(description)" }
        let percent = min(100, Double(value) / Double(total) * 100)
        return "[\(elapsed)] " + String(format: "%3.2f%%", percent) + "  \(value) / \(total) \(description)"
    }
}
