public import Foundation

/// The repository config (`config`): format version, repository ID and chunker polynomial.
/// Stored sealed with the master key and never compressed, in v1 and v2 alike.
public struct Config: Sendable, Equatable {
    /// Repository format version: 1 (no compression) or 2 (zstd).
    public var version: Int
    /// The repository's identity (32 random bytes as hex).
    public var id: String
    public var chunkerPolynomial: Polynomial

    public init(version: Int, id: String, chunkerPolynomial: Polynomial) {
        self.version = version
        self.id = id
        self.chunkerPolynomial = chunkerPolynomial
    }

    /// A new config with a random ID and a random irreducible polynomial.
    public static func new(version: Int) throws -> Config {
        guard (1...2).contains(version) else {
            throw FormatError(.invalidArgument, "repository version \(version) is not supported (use 1 or 2)")
        }
        return Config(version: version, id: ID.random().hex, chunkerPolynomial: try Polynomial.random())
    }

    public var json: Data {
        var w = GoJSONWriter()
        w.beginObject()
        w.field("version", version)
        w.field("id", id)
        w.field("chunker_polynomial", String(chunkerPolynomial.value, radix: 16))
        w.endObject()
        return w.data
    }

    private struct JSONForm: Decodable {
        var version: Int
        var id: String
        var chunker_polynomial: String
    }

    /// Parses and validates a config: version 1 or 2, a non-empty ID, an irreducible polynomial.
    public init(json: Data) throws {
        let f = try decodeDocument(JSONForm.self, from: json, what: "config")
        guard (1...2).contains(f.version) else {
            throw FormatError(.unsupported, "repository version \(f.version) is not supported (1 and 2 are)")
        }
        guard !f.id.isEmpty else { throw FormatError(.invalidData, "config has an empty repository id") }
        guard let value = UInt64(f.chunker_polynomial, radix: 16) else {
            throw FormatError(.invalidData, "config chunker polynomial \"\(f.chunker_polynomial)\" is not hex")
        }
        let pol = Polynomial(value)
        guard pol.isIrreducible else {
            throw FormatError(.invalidData, "config chunker polynomial \(f.chunker_polynomial) is not irreducible")
        }
        self.init(version: f.version, id: f.id, chunkerPolynomial: pol)
    }
}
