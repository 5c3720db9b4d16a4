import Foundation
import OffsiteTesting
import Testing

/// `--help` of every command, as a user reads it at 80 columns (the width when the output is not
/// a terminal), and the answer to a command that does not exist.
@Suite struct HelpTextTests {
    /// The commands listed under SUBCOMMANDS in a help text.
    static func subcommands(_ help: String) -> [String] {
        var names: [String] = []
        var inList = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") {
                inList = true
                continue
            }
            guard inList else { continue }
            if line.isEmpty { break }
            // "  name                    abstract" or "  name, alias  …"; wrapped abstracts are indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }
            let name = line.dropFirst(2).prefix { $0 != " " && $0 != "," }
            if name != "help" { names.append(String(name)) }
        }
        return names
    }

    /// Lines that lost their indentation: an indented line (an example, a list item) followed
    /// directly by text at column 0 that is not a section heading is a line the help printer
    /// wrapped because it was too long.
    static func wrappedLines(_ help: String) -> [String] {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        var found: [String] = []
        for (a, b) in zip(lines, lines.dropFirst()) where a.hasPrefix("  ") && !b.isEmpty && !b.hasPrefix(" ") {
            let heading = b.hasSuffix(":") && b.allSatisfy { $0.isUppercase || $0 == " " || $0 == ":" }
            if !heading && !b.hasPrefix("USAGE:") { found.append("\(a)⏎\(b)") }
        }
        return found
    }

    @Test func everyCommandsHelpRendersAt80Columns() async throws {
        var pending: [[String]] = [[]]
        var seen = 0
        while let path = pending.popLast() {
            let r = try await OffsiteBinary.run(path + ["--help"], environment: ["COLUMNS": nil])
            let what = (["offsite"] + path).joined(separator: " ") + " --help"
            #expect(r.status == 0, "\(what): \(r.stderr)")
            let help = r.stdoutString
            #expect(help.contains("USAGE: offsite"), "\(what)")
            for line in Self.wrappedLines(help) { Issue.record("\(what) wraps an indented line: \(line)") }
            for line in help.split(separator: "\n") where line.count > 80 {
                Issue.record("\(what) has a line over 80 columns: \(line)")
            }
            pending += Self.subcommands(help).map { path + [$0] }
            seen += 1
        }
        // The top level, its commands, and the subcommands of key, repair, config and debug.
        #expect(seen > 35)
    }

    @Test func topLevelHelpListsEveryExitCode() async throws {
        let help = expectStatus(try await OffsiteBinary.run(["--help"]), 0, "offsite --help").stdoutString
        let text = help.replacingOccurrences(of: "\n", with: " ")
        for code in [
            "0 ok", "1 fatal error", "3 backup incomplete", "10 no repository", "11 repository locked", "12 wrong password",
            "130 interrupted",
        ] {
            #expect(text.contains(code), "exit code \(code) in offsite --help")
        }
        #expect(help.contains("  export RESTIC_REPOSITORY=/srv/backup/repo\n  export RESTIC_PASSWORD_FILE="))
    }

    @Test func unknownCommandExits1AsResticDoes() async throws {
        for args in [["frobnicate"], ["-r", "/nonexistent", "--no-lock", "snapshot"], ["--json", "backups"]] {
            let r = try await OffsiteBinary.run(args)
            #expect(r.status == 1, "\(args)")
            let name = args.last!
            #expect(r.stderr == "Error: unknown command \"\(name)\" for \"offsite\"\nRun 'offsite --help' for usage.\n", "\(args)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        // A flag's value is not taken for a command; a known command still runs.
        let version = expectStatus(try await OffsiteBinary.run(["-r", "frobnicate", "version"]), 0, "version after -r VALUE")
        #expect(version.stdoutString.hasPrefix("offsite "))
    }

    /// `generate`: completion scripts that bash loads and that complete commands and flags, and
    /// one man page per command that `man` renders.
    @Test func generateWritesCompletionsAndManPages() async throws {
        try await withScratchDirectory { dir in
            let none = try await OffsiteBinary.run(["generate"])
            #expect(none.status == 1)
            #expect(none.stderr.contains("nothing to do, please specify at least one output file/dir"))
            try FileManager.default.createDirectory(atPath: dir + "/man", withIntermediateDirectories: true)
            let r = expectStatus(
                try await OffsiteBinary.run([
                    "generate", "--bash-completion", dir + "/offsite.bash", "--zsh-completion", dir + "/_offsite",
                    "--fish-completion", dir + "/offsite.fish", "--man", dir + "/man",
                ]), 0, "generate")
            #expect(r.stdoutString.contains("writing bash completion file to \(dir)/offsite.bash\n"))
            for file in ["_offsite", "offsite.fish"] {
                #expect(try String(contentsOfFile: dir + "/" + file, encoding: .utf8).contains("snapshots"), "\(file)")
            }
            // bash: the script loads, registers offsite, and completes a command and a flag.
            for (line, expected) in [("offsite sn", "snapshots"), ("offsite snapshots --gr", "--group-by")] {
                let words = line.split(separator: " ")
                let script = """
                    source "$0" && complete -p offsite >/dev/null || exit 9
                    COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(\(words.joined(separator: " "))); \
                    COMP_CWORD=\(words.count - 1)
                    _offsite offsite '\(words.last!)' '\(words[words.count - 2])'
                    printf '%s\\n' "${COMPREPLY[@]}"
                    """
                let completion = try await ProcessRunner.run("/bin/bash", ["-c", script, dir + "/offsite.bash"])
                #expect(completion.status == 0, "\(line): \(completion.stderr)")
                #expect(completion.stdoutString.split(separator: "\n").contains(Substring(expected)), "\(line): \(completion.stdoutString)")
            }
            // man: a page per command, rendered without warnings.
            let pages = try FileManager.default.contentsOfDirectory(atPath: dir + "/man")
            for page in ["offsite.1", "offsite-backup.1", "offsite-snapshots.1", "offsite-key-add.1", "offsite-generate.1"] {
                #expect(pages.contains(page), "\(page)")
            }
            #expect(pages.count > 35)
            let man = try #require(ProcessRunner.which("man"), "man is not installed: run `apt-get install man-db` (or `make deps`)")
            let rendered = try await ProcessRunner.run(
                man, ["-l", dir + "/man/offsite-snapshots.1"],
                environment: ["MANPAGER": "cat", "MANWIDTH": "80", "MAN_KEEP_FORMATTING": nil])
            #expect(rendered.status == 0, "\(rendered.stderr)")
            #expect(rendered.stderr.isEmpty, "\(rendered.stderr)")
            #expect(rendered.stdoutString.contains("offsite-snapshots - List snapshots."))
            #expect(rendered.stdoutString.contains("--group-by"))
        }
    }
}
