import ArgumentParser
import OffsiteEngine
import OffsiteStorage

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List objects of a type: keys, snapshots, index, packs or locks.",
        discussion: "Example: offsite list snapshots")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "keys, snapshots, index, packs or locks.")
    var type: String

    func run() async throws {
        try await runCommand {
            let fileType: FileType
            switch type {
            case "keys": fileType = .keys
            case "snapshots": fileType = .snapshots
            case "index": fileType = .index
            case "packs": fileType = .data
            case "locks": fileType = .locks
            default: throw CLIError.fatal("invalid type \"\(type)\" (use keys, snapshots, index, packs or locks)")
            }
            // Listing locks takes none, so that it shows what is in the way.
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: fileType == .locks ? .none : .sharedUnlessNoLock)
            for id in try await repo.listIDs(fileType).sorted() { Console.out(id.hex) }
        }
    }
}
