import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the repository for errors.",
        discussion: """
            Without flags: every index file loads, every pack the index names exists with the \
            right size, every snapshot and every tree reachable from it loads and verifies, and \
            every blob a file or directory needs is in the index. Packs that no index mentions \
            are reported but are not errors (prune removes them).

            --read-data also reads every pack and verifies it completely (the file's SHA-256, \
            its header against the index, every blob decrypted, decompressed and hashed). \
            --read-data-subset reads part of them: n/t reads group n of t (by the first byte of \
            the pack ID, the same packs every time, so 1/t … t/t on successive runs cover \
            everything), x% a random share, and a size (500M, 2G) a random share of that many \
            bytes.

            Every problem found is printed; the exit code is 1 if there was any.

            Examples:
              offsite check
              offsite check --read-data
              offsite check --read-data-subset 3/7
              offsite check --read-data-subset 10%
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("read-data"), help: "Read and verify all data packs.")
    var readData = false

    @Option(
        name: .customLong("read-data-subset"),
        help: ArgumentHelp("Read and verify a subset of the packs: n/t, x% or a size such as 500M.", valueName: "subset"))
    var readDataSubset: String?

    @Flag(name: .customLong("with-cache"), help: "Accepted for restic compatibility (offsite keeps no local cache).")
    var withCache = false

    @Flag(name: .customLong("check-unused"), help: "Accepted for restic compatibility (unused blobs are not errors).")
    var checkUnused = false

    func run() async throws {
        try await runCommand {
            try await check()
        }
    }

    func check() async throws {
        var options = Check.Options()
        options.readData = readData
        if let text = readDataSubset {
            guard let subset = Check.Subset.parse(text) else {
                throw CLIError.fatal(
                    "invalid --read-data-subset \"\(text)\": use n/t (1 <= n <= t <= 256), a percentage such as 10% or a size such as 500M")
            }
            if readData { throw CLIError.fatal("check flags --read-data and --read-data-subset cannot be used together") }
            options.subset = subset
        }
        let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: global.noLock ? .none : .exclusive)
        let quiet = global.quiet
        let progress = !quiet && Console.stderrIsTerminal
        let events: @Sendable (Check.Event) -> Void = { event in
            switch event {
            case .phase(let text): if !quiet { Console.out(text) }
            case .error(let text):
                if progress { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
                Console.error(text.hasPrefix("error for tree") || text.hasPrefix("pack ") ? text : "error: \(text)")
            case .hint(let text): Console.out(text)
            case .packRead(let done, let total):
                if progress { FileHandle.standardError.write(Data("\r\u{1b}[K[\(done) / \(total)] packs read".utf8)) }
            }
        }
        let report = try await Check(repository: repo, options: options, onEvent: events).run()
        if progress && report.packsTotal > 0 { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
        if !report.unreferencedPacks.isEmpty && !quiet {
            // restic prints each one unless --quiet: a lost index file shows as its packs.
            for id in report.unreferencedPacks { Console.out("pack \(id.hex): not referenced in any index") }
            Console.out(
                "\(report.unreferencedPacks.count) additional files were found in the repo, which likely contain duplicate data.\nThis is non-critical, you can run `offsite prune` to correct this."
            )
        }
        if !report.ok {
            throw CLIError(message: "repository contains errors", exitCode: ExitStatus.fatal)
        }
        if !quiet { Console.out("no errors were found") }
    }
}
