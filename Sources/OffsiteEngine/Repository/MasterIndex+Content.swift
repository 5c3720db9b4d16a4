public import OffsiteFormat

/// Why a file node's content cannot be read.
public enum FileContentProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// A content ID that the index has as a tree blob only.
    case treeBlob(ID)
    /// A content ID the index does not have at all.
    case notIndexed(ID)
    /// Lengths that add up to more than a file can hold.
    case tooLarge

    public var description: String {
        switch self {
        case .treeBlob(let id): "names tree blob \(id.hex) as file content (the tree is damaged or was crafted)"
        case .notIndexed(let id): "needs data blob \(id.hex), which is not in the index"
        case .tooLarge: "has content whose blobs add up to more than 8 EiB (the tree was crafted)"
        }
    }

    /// The message for a file whose recorded size is not what its content adds up to.
    public static func sizeMismatch(recorded: UInt64, content: Int) -> String {
        "the snapshot records \(recorded) bytes but the file's content holds \(content)"
    }
}

extension MasterIndex {
    /// The length of a file's content, `content` being a node's blob IDs: the sum of the data
    /// blobs' lengths as the index has them. A tree's sizes and IDs are untrusted input: the
    /// node's recorded size is never used to size, allocate or count anything; this is.
    public func contentLength(of content: [ID]) -> Result<Int, FileContentProblem> {
        var total = 0
        for id in content {
            guard let length = plaintextLength(of: BlobHandle(id: id, type: .data)) else {
                return .failure(has(BlobHandle(id: id, type: .tree)) ? .treeBlob(id) : .notIndexed(id))
            }
            let (sum, overflow) = total.addingReportingOverflow(length)
            guard !overflow else { return .failure(.tooLarge) }
            total = sum
        }
        return .success(total)
    }
}
