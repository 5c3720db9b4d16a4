/// The kinds of object in a repository, named by their directory in restic's layout.
public enum FileType: String, Sendable, CaseIterable, Hashable {
    case config
    case keys
    case snapshots
    case index
    case locks
    case data

    /// Types that are listed (config is a single fixed object).
    public static let listable: [FileType] = [.keys, .snapshots, .index, .locks, .data]
}

/// Names one object: its type and, except for the config, its name (a 64-hex ID).
public struct Handle: Hashable, Sendable, CustomStringConvertible {
    public var type: FileType
    public var name: String

    public init(_ type: FileType, _ name: String) {
        self.type = type
        self.name = name
    }

    public static let config = Handle(.config, "")

    /// The object's path relative to the repository root in restic's default layout:
    /// `config`, `keys/<id>`, …, `data/<id[0:2]>/<id>`.
    public var path: String {
        switch type {
        case .config: return "config"
        case .data: return "data/\(name.prefix(2))/\(name)"
        default: return "\(type.rawValue)/\(name)"
        }
    }

    public var description: String { path }
}

/// One entry of a listing.
public struct ObjectInfo: Hashable, Sendable {
    public var name: String
    public var size: Int

    public init(name: String, size: Int) {
        self.name = name
        self.size = size
    }
}
