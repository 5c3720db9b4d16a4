import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage

/// Tools for measuring offsite itself (as `restic debug` has). Not needed for backups.
struct DebugCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Tools for measuring and examining offsite itself.",
        subcommands: [SynthIndexCommand.self, LoadIndexCommand.self])
}

/// Writes index files listing made-up blobs, to measure what a huge index costs to load.
/// The packs they name do not exist: use a scratch repository.
struct SynthIndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-index",
        abstract: "Write index files for N made-up blobs into a scratch repository (for load tests).")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Number of blobs.")
    var blobs: Int

    @Option(help: "Blobs per index file.")
    var perFile = 150_000

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .none)
            var rng = SystemRandomNumberGenerator()
            var written = 0
            while written < blobs {
                let n = min(perFile, blobs - written)
                var packs: [IndexFile.PackEntry] = []
                var i = 0
                while i < n {
                    let inPack = min(1000, n - i)
                    var offset: UInt32 = 0
                    var list: [PackBlob] = []
                    for _ in 0..<inPack {
                        let id = ID(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next())
                        list.append(PackBlob(type: .data, id: id, offset: offset, length: 1000, uncompressedLength: 2000))
                        offset += 1000
                    }
                    packs.append(.init(id: ID(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next()), blobs: list))
                    i += inPack
                }
                try await repo.saveIndex(IndexFile(packs: packs))
                written += n
            }
            Console.out("wrote \(written) blobs")
        }
    }
}

/// Loads the index and reports its size (run under /usr/bin/time -v to see the memory it takes).
struct LoadIndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-index", abstract: "Load the repository index and print how many blobs and packs it lists.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runCommand {
            let started = Date()
            let repo = try await RepositoryOpener.open(global, lock: .none)
            Console.out(
                "\(repo.index.blobCount) blobs in \(repo.index.packCount) packs, loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
            )
        }
    }
}
