/// The one error type of OffsiteFormat. `code` says what kind of failure it is; `message` says
/// what went wrong and, where there is one, what to do next.
public struct FormatError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A MAC did not match: wrong key, or the bytes were changed.
        case authenticationFailed
        /// Bytes that cannot be decoded (truncated, garbage, wrong JSON shape).
        case invalidData
        /// Well-formed, but something this implementation does not support.
        case unsupported
        /// Invalid arguments from the caller (bad parameters, empty password, …).
        case invalidArgument
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
