import ArgumentParser
import Foundation
import OffsiteEngine

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write shell completion scripts (bash, fish, zsh) and man pages.",
        discussion: """
            Everything is made from offsite's own command definitions, so it always matches the \
            installed version. Man pages go one per command into an existing directory: \
            offsite.1, offsite-backup.1, offsite-key-add.1 and so on.

            Examples:
              offsite generate --bash-completion /etc/bash_completion.d/offsite
              offsite generate --zsh-completion ~/.zsh/completion/_offsite
              offsite generate --man /usr/local/share/man/man1
              man offsite-backup
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("bash-completion"), help: ArgumentHelp("Write the bash completion script to this file.", valueName: "file"))
    var bash: String?

    @Option(name: .customLong("fish-completion"), help: ArgumentHelp("Write the fish completion script to this file.", valueName: "file"))
    var fish: String?

    @Option(name: .customLong("zsh-completion"), help: ArgumentHelp("Write the zsh completion script to this file.", valueName: "file"))
    var zsh: String?

    @Option(name: .customLong("man"), help: ArgumentHelp("Write man pages into this directory (it must exist).", valueName: "directory"))
    var man: String?

    func run() async throws {
        try await runCommand {
            guard bash != nil || fish != nil || zsh != nil || man != nil else {
                throw CLIError.fatal("nothing to do, please specify at least one output file/dir")
            }
            for (file, shell, name) in [(bash, CompletionShell.bash, "bash"), (fish, .fish, "fish"), (zsh, .zsh, "zsh")] {
                guard let file else { continue }
                if !global.quiet { Console.out("writing \(name) completion file to \(file)") }
                try write(Offsite.completionScript(for: shell), to: file)
            }
            if let man {
                if !global.quiet { Console.out("writing man pages to directory \(man)") }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: man, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CLIError.fatal("\(man) is not a directory: create it first")
                }
                for (path, command) in Self.commands() {
                    let name = (["offsite"] + path).joined(separator: "-")
                    try write(Self.manPage(name: name, path: path, command: command), to: man + "/" + name + ".1")
                }
            }
        }
    }

    func write(_ text: String, to file: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw CLIError.fatal("cannot write \(file): \(error)")
        }
    }

    /// Every command (the top level first) with its path of names, hidden ones and `help` left out.
    static func commands() -> [([String], any ParsableCommand.Type)] {
        var out: [([String], any ParsableCommand.Type)] = []
        func walk(_ command: any ParsableCommand.Type, _ path: [String]) {
            guard command.configuration.shouldDisplay else { return }
            out.append((path, command))
            for sub in command.configuration.subcommands { walk(sub, path + [sub._commandName]) }
        }
        walk(Offsite.self, [])
        return out
    }

    /// A man page in plain man(7) macros: the name line, then the `--help` text as it prints at
    /// 80 columns, kept as it is (no refilling).
    static func manPage(name: String, path: [String], command: any ParsableCommand.Type) -> String {
        let help = path.isEmpty ? Offsite.helpMessage(columns: 80) : Offsite.helpMessage(for: command, columns: 80)
        let abstract = command.configuration.abstract
        var page = ".TH \"\(name.uppercased())\" \"1\" \"\" \"offsite \(OffsiteVersion.current)\" \"offsite manual\"\n"
        page += ".SH NAME\n\(name) \\- \(escape(abstract))\n"
        page += ".SH DESCRIPTION\n.nf\n"
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) { page += escape(String(line)) + "\n" }
        page += ".fi\n"
        if !path.isEmpty { page += ".SH SEE ALSO\n.BR offsite (1)\n" }
        return page
    }

    /// Text for troff: backslashes escaped, and a line that would start a request (`.` or `'`)
    /// protected by a zero-width character.
    static func escape(_ text: String) -> String {
        let escaped = text.replacingOccurrences(of: "\\", with: "\\e")
        return escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped
    }
}
