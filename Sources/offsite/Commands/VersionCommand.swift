import ArgumentParser
import OffsiteEngine
import OffsiteFormat

struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print version information.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        #if arch(x86_64)
        let arch = "amd64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown"
        #endif
        if global.json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "version")
            w.field("version", OffsiteVersion.current)
            w.field("go_version", "swift")
            w.field("go_os", "linux")
            w.field("go_arch", arch)
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else {
            Console.out("offsite \(OffsiteVersion.current) compiled with Swift on linux/\(arch)")
        }
    }
}
