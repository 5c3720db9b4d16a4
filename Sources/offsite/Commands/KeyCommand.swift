import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the keys (passwords) of a repository.",
        subcommands: [KeyListCommand.self])
}

struct KeyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys; * marks the one in use.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false)
            var rows: [(current: Bool, id: String, user: String, host: String, created: String)] = []
            for kid in try await repo.listIDs(.keys).sorted() {
                let file: KeyFile
                do {
                    file = try KeyFile(json: try await repo.backend.load(Handle(.keys, kid.hex)))
                } catch {
                    Console.error("LoadKey() failed for keys/\(kid.hex): \(error)")
                    continue
                }
                rows.append((kid == repo.keyID, kid.shortHex, file.username, file.hostname, file.created.inLocalOffset.displayString))
            }
            if global.json {
                var w = GoJSONWriter()
                w.beginArray()
                for r in rows {
                    w.beginObject()
                    w.key("current"); w.bool(r.current)
                    w.field("id", r.id)
                    w.field("userName", r.user)
                    w.field("hostName", r.host)
                    w.field("created", r.created)
                    w.endObject()
                }
                w.endArray()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
                return
            }
            let userW = max(4, rows.map(\.user.count).max() ?? 0)
            let hostW = max(4, rows.map(\.host.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
            let header = " " + pad("ID", 8) + "  " + pad("User", userW) + "  " + pad("Host", hostW) + "  Created"
            let lines = rows.map { (r) -> String in
                (r.current ? "*" : " ") + pad(r.id, 8) + "  " + pad(r.user, userW) + "  " + pad(r.host, hostW) + "  " + r.created
            }
            let rule = String(repeating: "-", count: max(header.count, lines.map(\.count).max() ?? 0))
            Console.out(header)
            Console.out(rule)
            for l in lines { Console.out(l) }
            Console.out(rule)
        }
    }
}
