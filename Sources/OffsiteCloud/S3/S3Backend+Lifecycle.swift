public import Foundation

/// A bucket's lifecycle rules as S3 returns them (`GET /BUCKET?lifecycle`), reduced to what
/// matters to a repository: which objects a rule selects and what it does to current objects.
public struct S3LifecycleRule: Sendable, Equatable {
    public struct Transition: Sendable, Equatable {
        /// Days after upload, or nil when the rule gives a date.
        public var days: Int?
        public var date: String?
        public var storageClass: String
    }

    public var id: String
    public var enabled: Bool
    /// The key prefix the rule selects ("" for the whole bucket).
    public var prefix: String
    /// True when the rule also filters on tags or sizes: restic's objects carry no tags, so a
    /// tag filter never selects them.
    public var filtersOnTags: Bool
    /// Transitions of current objects.
    public var transitions: [Transition]
    /// Expiration of current objects: days after upload, or a date.
    public var expirationDays: Int?
    public var expirationDate: String?

    /// Whether the rule can select objects under `keyPrefix` (the repository's prefix, "" for the bucket).
    public func selects(keyPrefix: String) -> Bool {
        if prefix.isEmpty || keyPrefix.isEmpty { return true }
        let repository = keyPrefix.hasSuffix("/") ? keyPrefix : keyPrefix + "/"
        return repository.hasPrefix(prefix) || prefix.hasPrefix(repository)
    }

    /// Parses a `LifecycleConfiguration` document; nil if it does not parse.
    public static func parse(_ data: Data) -> [S3LifecycleRule]? {
        guard let elements = XMLFields.parse(data) else { return nil }
        var rules: [S3LifecycleRule] = []
        var rule = S3LifecycleRule(id: "", enabled: false, prefix: "", filtersOnTags: false, transitions: [])
        // Elements arrive as they end (children first): values wait for their parent's end.
        var days: Int?
        var date: String?
        var storageClass = ""
        for (name, text) in elements {
            switch name {
            case "ID": rule.id = text
            case "Status": rule.enabled = text == "Enabled"
            case "Prefix": rule.prefix = text
            case "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan": rule.filtersOnTags = true
            case "Days": days = Int(text)
            case "Date": date = text
            case "StorageClass": storageClass = text
            case "Transition":
                rule.transitions.append(Transition(days: days, date: date, storageClass: storageClass))
            case "Expiration":
                rule.expirationDays = days
                rule.expirationDate = date
            case "Rule":
                rules.append(rule)
                rule = S3LifecycleRule(id: "", enabled: false, prefix: "", filtersOnTags: false, transitions: [])
            default: break
            }
            // Noncurrent versions' actions (NoncurrentDays) only reset what they left.
            if ["Transition", "Expiration", "NoncurrentVersionTransition", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"]
                .contains(name)
            {
                days = nil
                date = nil
                storageClass = ""
            }
        }
        return rules
    }
}

extension S3Backend {
    /// A signed `GET` of the bucket itself with `query` (`lifecycle=`, or a one-key listing),
    /// whatever the reply's status; for diagnostics (`offsite doctor`).
    public func bucketRequest(query: [(String, String)]) async throws -> HTTPReply {
        try await send("GET", key: nil, query: query, maxBody: 1 << 20)
    }

    /// The `Code` and `Message` of an S3 error document, if the reply carries one.
    public static func errorCode(_ reply: HTTPReply) -> (code: String, message: String)? {
        guard let code = XMLFields.first("Code", in: reply.body) else { return nil }
        return (code, XMLFields.first("Message", in: reply.body) ?? "")
    }
}
