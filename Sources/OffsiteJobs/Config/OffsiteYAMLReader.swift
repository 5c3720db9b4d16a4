import Foundation
import Yams

/// Walks the node tree Yams composes from an `offsite.yml` and builds a `Configuration`, collecting
/// every mistake as a `SettingsProblem` located at `path:line`. Never quotes a secret: passwords,
/// repository locations and `env:` values are described, not shown.
struct OffsiteYAMLReader {
    let path: String
    var problems: [SettingsProblem] = []
    /// Keys renamed to let a file with duplicate keys compose (the duplicate is reported once, then skipped).
    private var duplicatePlaceholders: Set<String> = []

    init(path: String) { self.path = path }

    /// One `key: value` of a mapping.
    struct Entry {
        var name: String
        var key: Node
        var value: Node
    }

    static let topKeys = ["timezone", "host", "pushgateway", "textfile", "listen", "drill_schedule", "repositories", "jobs"]
    static let repositoryKeys = [
        "repository", "repository_file", "password_file", "password_command", "password", "env", "prune", "check",
        "check_rotation",
    ]
    static let jobKeys = ["type", "repository", "schedule", "env", "retention", "tags"]
    static let kindKeys: [JobDefinition.Kind: [String]] = [
        .postgres: ["host", "port", "user", "password", "password_file", "databases"],
        .redis: ["host", "port", "password", "password_file"],
        .volumes: ["paths"],
    ]
    static let retentionKeys = ["daily", "weekly", "monthly"]

    // MARK: Reporting

    mutating func report(_ key: String, _ node: Node?, _ message: String) {
        report(key, origin: node?.mark.map { "\(path):\($0.line)" } ?? path, message)
    }

    mutating func report(_ key: String, origin: String?, _ message: String) {
        problems.append(SettingsProblem(variable: key.isEmpty ? "(top level)" : key, origin: origin, message: message))
    }

    /// The closest of `candidates` to `name`, if close enough to be a typo.
    static func nearest(_ name: String, in candidates: [String]) -> String? {
        let ranked = candidates.map { ($0, JobSettings.editDistance(name.lowercased(), $0.lowercased())) }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let (best, distance) = ranked.first, distance <= max(2, name.count / 4) else { return nil }
        return best
    }

    // MARK: Composing

    /// Composes the YAML, renaming duplicate keys (each reported) so that the rest can still be checked.
    mutating func compose(_ yaml: String) -> Node? {
        var text = yaml
        for attempt in 1...100 {
            do {
                return try Yams.compose(yaml: text)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                // `context.text` is the whole file: never show it. The mark is the first key's first occurrence.
                let name = duplicates.first ?? ""
                let first = context.mark
                guard let (renamed, line) = Self.renamingDuplicate(name, after: first, in: text, attempt: attempt) else {
                    report(name, origin: "\(path):\(first.line)", "is given more than once; keep one")
                    return nil
                }
                let what =
                    Self.parentKey(ofLine: first.line, column: first.column, in: text).map {
                        ["jobs": "job name", "repositories": "repository name"][$0] ?? "key"
                    } ?? "key"
                report(name, origin: "\(path):\(line)", "duplicate \(what) (first at line \(first.line)); keep one")
                duplicatePlaceholders.insert(renamed.placeholder)
                text = renamed.text
            } catch let error as YamlError {
                reportSyntax(error)
                return nil
            } catch {
                report("syntax", origin: path, "is not YAML")
                return nil
            }
        }
        return nil
    }

    private mutating func reportSyntax(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            // libyaml's problem and context texts describe the grammar, never the content.
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            report("syntax", origin: "\(path):\(mark.line)", message)
        case .reader(let problem, _, _, _):
            report("syntax", origin: path, "unreadable YAML: \(problem)")
        default:
            report("syntax", origin: path, "is not YAML that offsite can read")
        }
    }

    /// Finds the second occurrence of key `name` (same indentation as the first, on a later line, or
    /// later on the same line in flow style) and renames it. Returns the new text and that line.
    static func renamingDuplicate(
        _ name: String, after first: Mark, in text: String, attempt: Int
    )
        -> ((text: String, placeholder: String), Int)?
    {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        let key = Array(name.unicodeScalars)
        let placeholder = "\(name)~offsite-duplicate-\(attempt)"
        func keyAt(_ line: [Unicode.Scalar], _ i: Int) -> Range<Int>? {
            var start = i
            var quote: Unicode.Scalar?
            if start < line.count, line[start] == "\"" || line[start] == "'" {
                quote = line[start]
                start += 1
            }
            let end = start + key.count
            guard end <= line.count, Array(line[start..<end]) == key else { return nil }
            var j = end
            if let quote {
                guard j < line.count, line[j] == quote else { return nil }
                j += 1
            }
            while j < line.count, line[j] == " " || line[j] == "\t" { j += 1 }
            guard j < line.count, line[j] == ":" else { return nil }
            return start..<end
        }
        let firstLine = first.line - 1
        let column = first.column - 1
        guard firstLine < lines.count else { return nil }
        var found: (Int, Range<Int>)?
        // Flow style: `{a: 1, a: 2}` on one line.
        let line = lines[firstLine]
        var i = column + key.count
        while found == nil, i < line.count {
            if line[i] == "," || line[i] == "{" {
                var k = i + 1
                while k < line.count, line[k] == " " { k += 1 }
                if let range = keyAt(line, k) { found = (firstLine, range) }
            }
            i += 1
        }
        // Block style: a later line with the same indentation.
        var n = firstLine + 1
        while found == nil, n < lines.count {
            let candidate = lines[n]
            let indent = candidate.prefix { $0 == " " }.count
            let blank = candidate.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" } || candidate.dropFirst(indent).first == "#"
            if !blank && indent < column { break }
            if indent == column, let range = keyAt(candidate, column) { found = (n, range) }
            n += 1
        }
        guard let (lineIndex, range) = found else { return nil }
        lines[lineIndex].replaceSubrange(range, with: placeholder.unicodeScalars)
        var result = String.UnicodeScalarView()
        for (index, line) in lines.enumerated() {
            if index > 0 { result.append("\n") }
            result.append(contentsOf: line)
        }
        return ((String(result), placeholder), lineIndex + 1)
    }

    /// The key of the block mapping that holds the key at `line`:`column` (`jobs` for a job name).
    static func parentKey(ofLine line: Int, column: Int, in text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var n = line - 2
        while n >= 0, n < lines.count {
            let candidate = lines[n]
            let indent = candidate.prefix { $0 == " " }.count
            let content = candidate.dropFirst(indent)
            if !content.isEmpty, content.first != "#", indent < column - 1 {
                guard let colon = content.firstIndex(of: ":") else { return nil }
                return content[..<colon].trimmingCharacters(in: .whitespaces)
            }
            n -= 1
        }
        return nil
    }

    // MARK: Node helpers

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar, .alias: isNull(node) ? "empty" : "a single value"
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.string.isEmpty || (scalar.style == .plain && node.tag == Tag(.null))
    }

    /// The mapping's entries, or nil (reported) if the node is not a mapping.
    mutating func entries(_ node: Node, _ keyPath: String, of what: String) -> [Entry]? {
        guard case .mapping(let mapping) = node else {
            report(keyPath, node, "must be a mapping of \(what), not \(Self.describe(node))")
            return nil
        }
        var result: [Entry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report(keyPath, key, "has a key that is \(Self.describe(key)); keys are names")
                continue
            }
            if duplicatePlaceholders.contains(scalar.string) { continue }
            result.append(Entry(name: scalar.string, key: key, value: value))
        }
        return result
    }

    /// Reports every key not in `allowed`, with the nearest allowed key; `elsewhere` explains keys
    /// that belong to another kind of entry.
    mutating func checkKeys(
        _ entries: [Entry], _ keyPath: String, allowed: [String], elsewhere: (String) -> String? = { _ in nil }
    ) {
        for entry in entries where !allowed.contains(entry.name) {
            let key = Self.join(keyPath, entry.name)
            if let note = elsewhere(entry.name) {
                report(key, entry.key, note)
                continue
            }
            var message = "unknown key"
            if let suggestion = Self.nearest(entry.name, in: allowed) { message += "; did you mean \(suggestion)?" }
            report(key, entry.key, message + " (known here: \(allowed.joined(separator: ", ")))")
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func index(_ entries: [Entry]) -> [String: Entry] {
        Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// A single value, trimmed; nil if null or empty (unset), or (reported) if a list or mapping.
    /// A secret is never quoted (no message here quotes any value).
    mutating func string(_ entry: Entry?, _ keyPath: String, trim: Bool = true) -> String? {
        guard let entry else { return nil }
        guard case .scalar(let scalar) = entry.value else {
            report(keyPath, entry.value, "must be a single value, not \(Self.describe(entry.value))")
            return nil
        }
        if Self.isNull(entry.value) { return nil }
        let text = trim ? scalar.string.trimmingCharacters(in: .whitespacesAndNewlines) : scalar.string
        return text.isEmpty ? nil : text
    }

    mutating func int(_ entry: Entry?, _ keyPath: String, in range: ClosedRange<Int>, what: String) -> Int? {
        guard let text = string(entry, keyPath) else { return nil }
        guard let n = Int(text), range.contains(n) else {
            report(keyPath, entry?.value, "\"\(text)\" is not \(what)")
            return nil
        }
        return n
    }

    /// `quote: false` for the paths of secrets, where a password written by mistake must not be shown.
    mutating func absolutePath(_ entry: Entry?, _ keyPath: String, quote: Bool = true) -> String? {
        guard let text = string(entry, keyPath) else { return nil }
        guard text.hasPrefix("/") else {
            report(keyPath, entry?.value, (quote ? "\"\(text)\" is" : "is") + " not an absolute path; write it from /")
            return nil
        }
        return text
    }

    /// `fallback` when absent; nil when disabled (`off`, or false) if `canDisable`.
    mutating func schedule(_ entry: Entry?, _ keyPath: String, default fallback: String, canDisable: Bool) -> CronSchedule? {
        var text = fallback
        if let entry {
            if case .scalar(let scalar) = entry.value, scalar.style == .plain, entry.value.tag == Tag(.bool),
                entry.value.bool == false, canDisable
            {
                return nil
            }
            guard let given = string(entry, keyPath) else {
                if case .scalar = entry.value {
                    report(
                        keyPath, entry.value, canDisable ? "is empty; write a cron expression, or off" : "is empty; write a cron expression"
                    )
                }
                return nil
            }
            text = given
        }
        if canDisable && text.lowercased() == "off" { return nil }
        do {
            return try CronSchedule(parsing: text)
        } catch {
            report(keyPath, entry?.value, error.message)
            return nil
        }
    }

    /// A restic tag: not empty, no commas, no blanks.
    static func tagProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.contains(",") { return "contains a comma, which restic reads as a list of tags" }
        if name.contains(where: { $0.isWhitespace }) { return "contains a blank, which a tag cannot hold" }
        return nil
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
