public import Foundation

/// A directory listing: nodes sorted by name (bytewise), stored as a tree blob.
/// Serialized as `{"nodes":[…]}` plus a newline, exactly as restic writes it.
public struct Tree: Sendable, Equatable {
    public private(set) var nodes: [Node]
    /// Whether the names are in strictly increasing byte order, as restic writes trees (so no
    /// name repeats). A tree read from a repository need not be.
    public let isSortedAndUnique: Bool

    public init() {
        nodes = []
        isSortedAndUnique = true
    }

    /// Builds a tree from nodes in any order. Throws on duplicate or empty names.
    public init(nodes: [Node]) throws {
        let sorted = nodes.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        for i in sorted.indices {
            if sorted[i].name.isEmpty { throw FormatError(.invalidData, "tree node has an empty name") }
            if i > 0 && sorted[i].name == sorted[i - 1].name {
                throw FormatError(.invalidData, "tree has two nodes named \"\(sorted[i].nameString)\"")
            }
        }
        self.nodes = sorted
        isSortedAndUnique = true
    }

    /// Looks a node up by name: the first node of that name in tree order (`NodeName`: a later
    /// one of the same name is never used). Binary search when the tree is sorted.
    public func node(named name: [UInt8]) -> Node? {
        guard isSortedAndUnique else { return nodes.first { $0.name == name } }
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].name == name { return nodes[mid] }
            if nodes[mid].name.lexicographicallyPrecedes(name) { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// The blob plaintext: `{"nodes":[…]}\n`.
    public var json: Data { Self.json(of: nodes) }

    /// The plaintext of a tree blob holding `nodes` exactly as given, in their order.
    public static func json(of nodes: [Node]) -> Data {
        var w = GoJSONWriter()
        w.beginObject()
        w.key("nodes")
        w.beginArray()
        for n in nodes { n.write(to: &w) }
        w.endArray()
        w.endObject()
        var out = w.bytes
        out.append(0x0A)
        return Data(out)
    }

    /// Decodes a tree blob. Node order is kept as stored (restic's trees are sorted).
    public init(json: Data) throws {
        let nodes = try json.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            var nodes: [Node] = []
            do {
                try scanner.object { s, key in
                    if key == Array("nodes".utf8) {
                        if try !s.null() { try s.array { nodes.append(try Node.parse(&$0)) } }
                    } else {
                        try s.skipValue()
                    }
                }
                try scanner.expectEnd()
            } catch let e as FormatError {
                throw FormatError(.invalidData, "tree cannot be decoded (\(e.message))")
            }
            return nodes
        }
        self.nodes = nodes
        isSortedAndUnique = zip(nodes, nodes.dropFirst()).allSatisfy { $0.name.lexicographicallyPrecedes($1.name) }
    }
}
