import Foundation

/// Decodes a JSON document, turning any decoding failure into `FormatError(.invalidData)` that
/// names what was being read (`what`: "config", "snapshot", …).
func decodeDocument<T: Decodable>(_ type: T.Type, from json: Data, what: String) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: json)
    } catch {
        throw FormatError(.invalidData, "\(what) cannot be decoded (\(error))")
    }
}
