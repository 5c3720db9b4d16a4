import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Reads a stream (a file, stdin, a command's output), cuts it into chunks with the repository's
/// chunker and stores the new ones. Up to `chunksInFlight` chunks of one stream are hashed,
/// compressed and encrypted at once, so a single large file uses every core; memory stays
/// bounded at about `chunksInFlight` × 8 MiB per stream.
struct FileSaver: Sendable {
    let repository: Repository
    let uploader: PackUploader
    let chunksInFlight: Int
    /// Shared by every stream of a backup: caps the chunks being processed at once (count and
    /// bytes), which bounds memory whatever the number of files in flight.
    let budget: ChunkBudget
    /// Called with the number of bytes read, as they are read.
    let onBytes: @Sendable (Int) -> Void

    static let readSize = 1 << 20

    struct Result: Sendable {
        var content: [ID]
        var size: Int
    }

    /// Opens `path` (never following a symlink) and saves its content.
    func save(path: FSPath, sizeHint: Int) async throws -> Result {
        // O_NONBLOCK: if a FIFO took the file's place since it was stat'ed, opening must not hang.
        var fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK) }
        if fd < 0 && errno == EPERM {  // O_NOATIME needs ownership of the file
            fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        }
        guard fd >= 0 else { throw FileSystem.ioError("cannot open", path) }
        defer { close(fd) }
        var opened = stat()
        guard fstat(fd, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG else {
            throw EngineError(.io, "\(path) is no longer a regular file (it changed during the backup)")
        }
        return try await save(fd: fd, name: path.string, sizeHint: sizeHint)
    }

    /// Saves everything readable from `fd` until end of file. Does not close `fd`.
    func save(fd: Int32, name: String, sizeHint: Int = Int.max) async throws -> Result {
        var chunker = Chunker(tables: repository.chunkerTables)
        var buffer = [UInt8](repeating: 0, count: sizeHint < Self.readSize ? sizeHint + 1 : Self.readSize)
        // Pipes and terminals can stall: wait for data in short polls so cancellation is seen.
        var st = stat()
        let isStream = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG
        var chunk: ByteBuffer
        var total = 0
        let uploader = self.uploader
        let budget = self.budget
        let buffers = budget.buffers
        // Room for the whole chunk up front (the file's size when it is smaller than a chunk
        // can be), so appending never reallocates.
        func newChunk() -> ByteBuffer {
            buffers.take(capacity: max(0, min(Chunker.maxSize, sizeHint - total)))
        }
        chunk = newChunk()
        return try await withThrowingTaskGroup(of: (Int, ID).self) { group in
            var ids: [ID] = []
            var inFlight = 0
            func submit(_ data: ByteBuffer) async throws {
                if inFlight >= chunksInFlight, let (i, id) = try await group.next() {
                    ids[i] = id
                    inFlight -= 1
                }
                let index = ids.count
                ids.append(.zero)
                inFlight += 1
                let size = data.count
                await budget.acquire(size: size)
                group.addTask {
                    defer { budget.release(size: size) }
                    let id = data.withUnsafeBytes { ID.hash($0) }
                    let sealed = uploader.seal(.data, data, id: id)
                    buffers.give(data)  // sealed: the reader may refill it while the pack is written
                    if let sealed { try await uploader.store(sealed) }
                    return (index, id)
                }
            }
            while true {
                try Task.checkCancellation()
                if isStream {
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&pfd, 1, 100) == 0 {
                        await Task.yield()
                        continue
                    }
                }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngineError(.io, "cannot read \(name): \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                total += n
                onBytes(n)
                var offset = 0
                while offset < n {
                    let cut: Int? = buffer.withUnsafeBytes { raw in
                        chunker.findCut(in: UnsafeRawBufferPointer(rebasing: raw[offset..<n]))
                    }
                    let end = cut.map { offset + $0 } ?? n
                    buffer.withUnsafeBytes { raw in chunk.append(UnsafeRawBufferPointer(rebasing: raw[offset..<end])) }
                    offset = end
                    if cut != nil {
                        try await submit(chunk)
                        chunk = newChunk()
                    }
                }
                if buffer.count < Self.readSize && n == buffer.count {
                    // The file is larger than its size said: read on with full-size buffers.
                    buffer = [UInt8](repeating: 0, count: Self.readSize)
                }
            }
            if chunk.count > 0 { try await submit(chunk) } else { buffers.give(chunk) }
            for try await (i, id) in group { ids[i] = id }
            return Result(content: ids, size: total)
        }
    }
}
