import Foundation
import OffsiteCloud
import OffsiteFormat
import OffsiteJobs

/// A property a fuzz target checks failed: the input is a bug to report (libFuzzer stops on it).
public struct FuzzViolation: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The parsers offsite runs on hostile input, each as one entry point shared by the libFuzzer
/// driver (`make fuzz`, `Fuzz/Driver`) and the corpus smoke test in the normal test suite.
///
/// Every target accepts any bytes. A parser rejecting them with an error is the expected outcome;
/// a crash, a hang, or a `FuzzViolation` (a property below that does not hold) is a bug.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Pack header plaintext, the 4-byte length trailer, and the sealed header read back.
    case packHeader = "pack-header"
    /// `index/` files.
    case index
    /// `snapshots/` files.
    case snapshot
    /// Tree blobs.
    case tree
    /// `locks/` files.
    case lock
    /// `keys/` files.
    case key
    /// The `config` file.
    case config
    /// Repository locations: `s3:`, `rest:`, `gs:`.
    case url
    /// Cron expressions, macros and `@every` durations, with the next-run search.
    case cron
    /// `.env` files and the settings read from them.
    case env
    /// `offsite.yml`.
    case yaml
    /// A restore of a crafted snapshot into a scratch root (`FuzzRestore`).
    case restore

    /// Runs `bytes` through the target's parser and checks its properties.
    public func run(_ bytes: [UInt8]) throws(FuzzViolation) {
        switch self {
        case .packHeader: try FuzzFormat.packHeader(bytes)
        case .index: try FuzzFormat.roundTrip("index", bytes, parse: IndexFile.init(json:), json: \.json)
        case .snapshot: try FuzzFormat.roundTrip("snapshot", bytes, parse: Snapshot.init(json:), json: \.json)
        case .tree: try FuzzFormat.roundTrip("tree", bytes, parse: Tree.init(json:), json: \.json)
        case .lock: try FuzzFormat.roundTrip("lock", bytes, parse: LockDocument.init(json:), json: \.json)
        case .key: try FuzzFormat.key(bytes)
        case .config: try FuzzFormat.roundTrip("config", bytes, parse: Config.init(json:), json: \.json)
        case .url: try FuzzText.url(String(decoding: bytes, as: UTF8.self))
        case .cron: try FuzzText.cron(String(decoding: bytes, as: UTF8.self))
        case .env: try FuzzText.env(String(decoding: bytes, as: UTF8.self))
        case .yaml: try FuzzText.yaml(String(decoding: bytes, as: UTF8.self))
        case .restore: try FuzzRestore.runBlocking(bytes, checkDescriptors: true)
        }
    }

    /// The same from async code (the corpus test): the restore target is awaited instead of
    /// waited for, which would block one of Swift's cooperative threads. Descriptors are not
    /// counted there: tests running beside it open and close their own.
    public func runAsync(_ bytes: [UInt8]) async throws(FuzzViolation) {
        if self == .restore {
            try await FuzzRestore.run(bytes, checkDescriptors: false)
        } else {
            try run(bytes)
        }
    }
}
