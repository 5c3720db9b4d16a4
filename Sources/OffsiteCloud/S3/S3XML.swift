import Foundation
import OffsiteStorage

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads the elements of S3's XML replies with Foundation's XMLParser: element text by name,
/// in document order. A document that does not parse is an error (a truncated listing must
/// never look like a short one).
final class XMLFields: NSObject, XMLParserDelegate {
    private(set) var elements: [(name: String, text: String)] = []
    private var stack: [String] = []
    private var text = ""

    static func parse(_ data: Data) -> [(name: String, text: String)]? {
        let fields = XMLFields()
        let parser = XMLParser(data: data)
        parser.delegate = fields
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        return parser.parse() ? fields.elements : nil
    }

    /// The text of the first element called `name`, if the document parses and has one.
    static func first(_ name: String, in data: Data) -> String? {
        parse(data)?.first { $0.name == name }?.text
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
    ) {
        stack.append(elementName)
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        elements.append((elementName, text))
        stack.removeLast()
        text = ""
    }
}

/// One page of ListObjectsV2.
struct ListBucketPage {
    var objects: [(key: String, size: Int)] = []
    var isTruncated = false
    var nextToken: String?

    init(_ data: Data) throws {
        guard let elements = XMLFields.parse(data), elements.last?.name == "ListBucketResult" else {
            throw StorageError(.transient, "the bucket listing is not a complete ListBucketResult document (\(data.count) bytes)")
        }
        var key: String? = nil
        var size: Int? = nil
        for (name, text) in elements {
            switch name {
            case "Key": key = text
            case "Size":
                guard let n = Int(text) else { throw StorageError(.io, "the bucket listing has an invalid size \"\(text)\"") }
                size = n
            case "Contents":
                guard let k = key, let s = size else { throw StorageError(.io, "the bucket listing has an entry without Key or Size") }
                objects.append((k, s))
                key = nil
                size = nil
            case "IsTruncated": isTruncated = text == "true"
            case "NextContinuationToken": nextToken = text
            default: break
            }
        }
    }
}
