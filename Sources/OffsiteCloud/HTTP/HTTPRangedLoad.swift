import Foundation
import OffsiteStorage

extension StorageBackend {
    /// `load` as the HTTP backends make it (S3, REST servers): a GET with a `Range` header,
    /// returning exactly the bytes asked for or `.invalidData` when the object is shorter (a
    /// server answers a range past the end with fewer bytes, none, or 416), never a short result.
    ///
    /// HTTP cannot ask for zero bytes: an empty range checks with `size` that the object reaches
    /// `offset`. A 200 reply to a ranged request (the server ignored the range) carries the
    /// whole object and is cut here; a 206 must carry exactly the range. `get` sends the GET
    /// with the given headers; `failure` turns any reply but 200 and 206 into the error to throw.
    func loadRange(
        _ handle: Handle, offset: Int, length: Int?,
        get: (_ headers: [(String, String)]) async throws -> HTTPReply,
        failure: (HTTPReply) -> StorageError
    ) async throws -> Data {
        func pastTheEnd() -> StorageError {
            StorageError(.invalidData, "loading \(handle): offset \(offset) is past the end of the object")
        }
        if length == 0 {
            guard try await size(handle) >= offset else { throw pastTheEnd() }
            return Data()
        }
        var headers: [(String, String)] = []
        if let length {
            headers.append(("range", "bytes=\(offset)-\(offset + length - 1)"))
        } else if offset > 0 {
            headers.append(("range", "bytes=\(offset)-"))
        }
        let reply = try await get(headers)
        if reply.status == 416 && length == nil {
            // Nothing from the very end of the object is an empty result, not an error.
            guard try await size(handle) == offset else { throw pastTheEnd() }
            return Data()
        }
        guard reply.status == 200 || reply.status == 206 else { throw failure(reply) }
        var body = reply.body[...]
        if reply.status == 200 {
            body = body.dropFirst(offset)
            if let length { body = body.prefix(length) }
        }
        if let length, body.count != length {
            let why = body.count < length ? "the object is shorter" : "the server sent more than the range"
            throw StorageError(.invalidData, "loading \(handle): \(body.count) bytes returned instead of \(length) (\(why))")
        }
        return Data(body)
    }
}
