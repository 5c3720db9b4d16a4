import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage

struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Print internal objects to stdout.",
        discussion: """
            Types: config, masterkey, key ID, snapshot ID, index ID, lock ID, pack ID, blob ID, tree ID.
            JSON documents are decrypted and printed; blobs and packs are printed as raw bytes.

            Example: offsite cat snapshot latest
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Object type.")
    var type: String

    @Argument(help: "Object ID or unique prefix (snapshots also accept \"latest\").")
    var id: String?

    func run() async throws {
        try await runCommand {
            let needsID = !["config", "masterkey"].contains(type)
            guard !needsID || id != nil else { throw CLIError.fatal("type or ID not specified") }
            let repo = try await RepositoryOpener.open(global, loadIndex: ["blob", "tree"].contains(type))
            switch type {
            case "config":
                Console.out(JSONOutput.indent(repo.config.json))
            case "masterkey":
                Console.out(JSONOutput.indent(repo.key.json))
            case "key":
                let kid = try await repo.resolve(.keys, prefix: id!)
                let bytes = try await repo.backend.load(Handle(.keys, kid.hex))
                _ = try KeyFile(json: bytes)
                Console.out(JSONOutput.indent(bytes))
            case "snapshot":
                let (_, s) = try await repo.findSnapshot(id!)
                Console.out(JSONOutput.indent(s.json))
            case "index":
                let iid = try await repo.resolve(.index, prefix: id!)
                // restic prints the stored JSON (which ends in a newline) plus a newline.
                Console.outRaw(try await repo.loadJSON(.index, iid) + Data("\n".utf8))
            case "lock":
                let lid = try await repo.resolve(.locks, prefix: id!)
                Console.out(JSONOutput.indent(try await repo.loadJSON(.locks, lid)))
            case "pack":
                let pid = try await repo.resolve(.data, prefix: id!)
                let bytes = try await repo.backend.load(Handle(.data, pid.hex))
                guard ID.hash(bytes) == pid else {
                    throw EngineError(.invalidData, "pack data/\(pid.hex) is damaged: its content does not match its name")
                }
                Console.outRaw(bytes)
            case "blob", "tree":
                guard let bid = ID(hex: id!) else { throw CLIError.fatal("blob ID must be 64 hex characters") }
                let blobType: BlobType = type == "tree" ? .tree : (repo.index.has(BlobHandle(id: bid, type: .data)) ? .data : .tree)
                Console.outRaw(try await repo.loadBlob(BlobHandle(id: bid, type: blobType)))
            default:
                throw CLIError.fatal("invalid type \"\(type)\" (use config, masterkey, key, snapshot, index, lock, pack, blob or tree)")
            }
        }
    }
}
