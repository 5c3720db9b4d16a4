import Foundation

/// The character-level parser behind `EnvFile.parse`; see `EnvFile` for the syntax.
struct EnvFileParser {
    private let chars: [Character]
    private let path: String
    private var index = 0
    private var line = 1

    init(text: String, path: String) {
        // "\r\n" is one Character in Swift; normalise lone "\r" too.
        self.chars = Array(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))
        self.path = path
    }

    mutating func parse() throws(JobsError) -> [EnvFile.Entry] {
        var entries: [EnvFile.Entry] = []
        while index < chars.count {
            skipBlanks()
            guard let c = peek() else { break }
            if c == "\n" {
                advance()
                continue
            }
            if c == "#" {
                skipToEndOfLine()
                continue
            }
            entries.append(try assignment())
        }
        return entries
    }

    private mutating func assignment() throws(JobsError) -> EnvFile.Entry {
        let startLine = line
        var key = name()
        if key == "export", let c = peek(), c == " " || c == "\t" {
            skipBlanks()
            key = name()
        }
        skipBlanks()
        guard peek() == "=" else {
            if key.isEmpty {
                throw fail(startLine, "expected KEY=VALUE; a variable name starts with a letter or _ and has only letters, digits and _")
            }
            if peek() == nil || peek() == "\n" {
                throw fail(startLine, "expected KEY=VALUE but \(key) has no '='")
            }
            throw fail(startLine, "invalid variable name starting with \(key); names have only letters, digits and _")
        }
        guard let first = key.first, first == "_" || (first.isASCII && first.isLetter) else {
            throw fail(startLine, "expected a variable name before '='")
        }
        advance()  // "="
        skipBlanks()
        let value: String
        switch peek() {
        case "'": value = try quoted(quote: "'", startLine: startLine)
        case "\"": value = try quoted(quote: "\"", startLine: startLine)
        default: value = unquoted()
        }
        return EnvFile.Entry(key: key, value: value, line: startLine)
    }

    private mutating func name() -> String {
        var result = ""
        while let c = peek(), c.isASCII, c.isLetter || c.isNumber || c == "_" {
            result.append(c)
            advance()
        }
        return result
    }

    private mutating func unquoted() -> String {
        var result = ""
        while let c = peek(), c != "\n" {
            if c == "#", let last = result.last, last == " " || last == "\t" {
                skipToEndOfLine()
                break
            }
            result.append(c)
            advance()
        }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }

    private mutating func quoted(quote: Character, startLine: Int) throws(JobsError) -> String {
        advance()  // opening quote
        var result = ""
        while true {
            guard let c = peek() else {
                throw fail(startLine, "unterminated \(quote == "'" ? "single" : "double") quote; close the value with \(quote)")
            }
            advance()
            if c == quote { break }
            if quote == "\"" && c == "\\", let next = peek() {
                advance()
                switch next {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "\"", "\\", "$": result.append(next)
                default:
                    result.append("\\")
                    result.append(next)
                }
                continue
            }
            result.append(c)
        }
        skipBlanks()
        switch peek() {
        case nil, "\n": break
        case "#": skipToEndOfLine()
        default:
            throw fail(line, "unexpected characters after the closing quote; quote the whole value or add a space before #")
        }
        return result
    }

    private func peek() -> Character? { index < chars.count ? chars[index] : nil }

    private mutating func advance() {
        if chars[index] == "\n" { line += 1 }
        index += 1
    }

    private mutating func skipBlanks() {
        while let c = peek(), c == " " || c == "\t" { advance() }
    }

    private mutating func skipToEndOfLine() {
        while let c = peek(), c != "\n" { advance() }
    }

    private func fail(_ line: Int, _ message: String) -> JobsError {
        JobsError(.invalidEnvFile, "\(path):\(line): \(message)")
    }
}
