/// A filesystem path as raw bytes. Linux file names are bytes, not necessarily UTF-8;
/// keeping them as bytes means every name can be backed up and restored exactly.
public struct FSPath: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }

    public func appending(_ name: [UInt8]) -> FSPath {
        if bytes.isEmpty { return FSPath(bytes: name) }
        if bytes.last == UInt8(ascii: "/") { return FSPath(bytes: bytes + name) }
        return FSPath(bytes: bytes + [UInt8(ascii: "/")] + name)
    }

    public func appending(_ name: String) -> FSPath { appending(Array(name.utf8)) }

    /// The path for display (invalid UTF-8 replaced).
    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { string }

    /// The last component.
    public var lastComponent: [UInt8] {
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) { return Array(bytes[(slash + 1)...]) }
        return bytes
    }

    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (bytes + [0]).withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }
}

/// Path arithmetic with Go's `path/filepath` rules, on strings.
public enum PathName {
    /// Go's `filepath.Clean`.
    public static func clean(_ path: String) -> String {
        if path.isEmpty { return "." }
        let rooted = path.hasPrefix("/")
        var out: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = out.last, last != ".." {
                    out.removeLast()
                } else if !rooted {
                    out.append(part)
                }
                continue
            }
            out.append(part)
        }
        let joined = out.joined(separator: "/")
        if rooted { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// Go's `filepath.Abs`: joined with the working directory, then cleaned.
    public static func absolute(_ path: String, cwd: String) -> String {
        path.hasPrefix("/") ? clean(path) : clean(cwd + "/" + path)
    }

    /// Components of a cleaned path, without the root.
    public static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }
}
