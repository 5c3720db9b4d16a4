import Foundation
import OffsiteFormat
import OffsiteStorage
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// Writes the content of the planned files, reading each needed pack once.
///
/// Files are created, renamed and changed only relative to their directory's descriptor
/// (`TargetDirectories`), never through a path.
///
/// Blobs are grouped by the pack that holds them; packs are processed a few at a time (in the
/// order the files need them, so files finish early and few stay open), each read with one
/// ranged read, every blob verified (MAC, decompression, SHA-256) and written with `pwrite` to
/// every place it belongs. A file is written under a temporary name in its directory and
/// renamed into place only when all its blobs are written and its metadata is set: an
/// interrupted restore never leaves a truncated file under the real name. A blob that cannot
/// be read from its pack is looked up in the other packs that hold it; when none works, every
/// file that needs it is reported and removed, and the rest of the restore goes on.
final class PackRestorer: Sendable {
    struct Use: Sendable {
        var file: Int
        var offset: Int
    }

    struct Needed: Sendable {
        var location: MasterIndex.Location
        var uses: [Use]
    }

    private struct FileState {
        var remaining: Int
        var fd: Int32 = -1
        var temporary: [UInt8]
        var failure: String? = nil
        /// Left out without a message (its directory could not be made, which is reported).
        var skipped = false
        var written = 0
    }

    private struct State {
        var files: [FileState] = []
        var finished: [Bool] = []
        var errors: [String] = []
        var filesDone = 0
        var bytesDone = 0
        var bytesRestored = 0
    }

    let repository: Repository
    let jobs: [RestorePlan.FileJob]
    let directories: TargetDirectories
    let sparse: Bool
    /// Whether directories made by this restore inherit a setgid bit (see `finish`).
    let newDirectoriesAreSetgid: Bool
    let packsInFlight: Int
    let onProgress: @Sendable (_ files: Int, _ bytes: Int) -> Void
    private let state = Mutex(State())
    /// Packs in the order their first user appears, with the blobs needed from each.
    private let packs: [(id: ID, blobs: [Needed])]

    init(
        repository: Repository, jobs: [RestorePlan.FileJob], directories: TargetDirectories, skipping: Set<Int> = [], sparse: Bool,
        packsInFlight: Int, newDirectoriesAreSetgid: Bool = false, onProgress: @escaping @Sendable (Int, Int) -> Void
    ) {
        self.repository = repository
        self.jobs = jobs
        self.directories = directories
        self.sparse = sparse
        self.newDirectoriesAreSetgid = newDirectoriesAreSetgid
        self.packsInFlight = max(1, packsInFlight)
        self.onProgress = onProgress
        var byPack: [ID: [BlobHandle: Needed]] = [:]
        var order: [ID] = []
        var files: [FileState] = []
        var missing: [(Int, String)] = []
        let nameBase: UInt64 = UInt64.random(in: .min ... .max)
        for (i, job) in jobs.enumerated() {
            var offset = 0
            let temporary = RestoreMetadata.temporaryName(nameBase &+ UInt64(i))
            if skipping.contains(job.place.dir) {
                files.append(FileState(remaining: 0, temporary: temporary, skipped: true))
                continue
            }
            // A file with a blob the index lacks is not restored at all: none of its blobs is
            // read, and it is finished (reported) once, before any pack.
            var located: [(BlobHandle, MasterIndex.Location, Use)] = []
            for id in job.node.content ?? [] {
                let handle = BlobHandle(id: id, type: .data)
                guard let loc = repository.index.locations(of: handle).first else {
                    missing.append(
                        (i, "\(directories.path(job.place.dir, job.place.name)): \(handle) is not in the index (run offsite check)"))
                    located = []
                    break
                }
                located.append((handle, loc, Use(file: i, offset: offset)))
                offset += loc.blob.plaintextLength
            }
            for (handle, loc, use) in located {
                if byPack[loc.packID] == nil { order.append(loc.packID) }
                byPack[loc.packID, default: [:]][handle, default: Needed(location: loc, uses: [])].uses.append(use)
            }
            files.append(FileState(remaining: located.count, temporary: temporary))
        }
        for (i, message) in missing { files[i].failure = message }
        packs = order.map { id in (id, byPack[id]!.values.sorted { $0.location.blob.offset < $1.location.blob.offset }) }
        state.withLock {
            $0.files = files
            $0.finished = Array(repeating: false, count: jobs.count)
        }
    }

    /// Writes everything; returns one message per file that could not be restored.
    func run() async throws -> [String] {
        // Empty files and files whose blobs are missing are finished before any pack is read.
        for i in jobs.indices where state.withLock({ $0.files[i].remaining == 0 || $0.files[i].failure != nil || $0.files[i].skipped }) {
            try finish(i)
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, pack) in packs.enumerated() {
                    if n >= packsInFlight { try await group.next() }
                    group.addTask { try await self.restore(pack: pack.id, blobs: pack.blobs) }
                }
                try await group.waitForAll()
            }
        } catch {
            // Interrupted, or the disk is full: unfinished files are removed (they would be
            // rewritten anyway, and on a full disk their space is what the user needs back).
            removeUnfinished()
            throw error
        }
        // Anything not finished yet (a failed file whose last blob never came) is cleaned up.
        for i in jobs.indices where !state.withLock({ $0.finished[i] }) { try finish(i) }
        return state.withLock { $0.errors }
    }

    /// Bytes read from a pack at once: consecutive needed blobs are read together up to this
    /// span (a larger blob alone), which bounds memory at about `packsInFlight` windows.
    static let window = 4 << 20
    /// A gap of unneeded bytes larger than this starts a new read instead of being read through.
    static let maxGap = 1 << 20

    private func restore(pack: ID, blobs: [Needed]) async throws {
        var start = 0
        while start < blobs.count {
            let first = Int(blobs[start].location.blob.offset)
            var end = start + 1
            while end < blobs.count {
                let b = blobs[end].location.blob, previous = blobs[end - 1].location.blob
                if Int(b.offset + b.length) - first > Self.window || Int(b.offset) - Int(previous.offset + previous.length) > Self.maxGap {
                    break
                }
                end += 1
            }
            try await restore(pack: pack, window: blobs[start..<end])
            start = end
        }
    }

    private func restore(pack: ID, window blobs: ArraySlice<Needed>) async throws {
        try Task.checkCancellation()
        let first = Int(blobs.first!.location.blob.offset)
        let last = blobs.map { Int($0.location.blob.offset + $0.location.blob.length) }.max()!
        var span: Data? = nil
        var spanError = ""
        do {
            span = try await repository.backend.load(Handle(.data, pack.hex), offset: first, length: last - first)
        } catch let e as StorageError {
            spanError = "pack data/\(pack.hex): \(e.message)"
        }
        for needed in blobs {
            let blob = needed.location.blob
            var plaintext: Data? = nil
            if let span {
                let start = span.startIndex + Int(blob.offset) - first
                plaintext = try? repository.decodeBlob(span[start..<start + Int(blob.length)], blob)
            }
            var failure = spanError.isEmpty ? "data blob \(blob.id.hex) in pack \(pack.hex) is damaged" : spanError
            if plaintext == nil {
                // Another copy may be intact.
                do {
                    plaintext = try await repository.loadBlob(blob.handle)
                } catch let e as EngineError {
                    failure = e.message
                }
            }
            for use in needed.uses {
                if let plaintext {
                    try write(plaintext, to: use)
                } else {
                    fail(use.file, "\(path(use.file)): \(failure)")
                }
                if state.withLock({ s in
                    s.files[use.file].remaining -= 1; return s.files[use.file].remaining == 0
                }) {
                    try finish(use.file)
                }
            }
        }
    }

    private func removeUnfinished() {
        let open = state.withLock { s -> [(Int32, Int, [UInt8])] in
            var out: [(Int32, Int, [UInt8])] = []
            for i in s.files.indices where !s.finished[i] {
                out.append((s.files[i].fd, jobs[i].place.dir, s.files[i].temporary))
                s.files[i].fd = -1
                s.finished[i] = true
                if s.files[i].failure == nil { s.files[i].failure = "not restored" }
            }
            return out
        }
        for (fd, dir, temporary) in open {
            if fd >= 0 { close(fd) }
            removeTemporary(dir, temporary)
        }
    }

    private func fail(_ file: Int, _ message: String) {
        state.withLock { s in
            if s.files[file].failure == nil { s.files[file].failure = message }
        }
    }

    private func write(_ data: Data, to use: Use) throws {
        let opened: Int32?
        do {
            opened = try descriptor(for: use.file)
        } catch let e as EngineError where e.code == .io {
            // This file cannot be created (its directory is gone, say): it fails, the rest goes on.
            fail(use.file, e.message)
            return
        }
        guard let fd = opened else { return }
        try data.withUnsafeBytes { raw in
            // With --sparse, runs of zeros become holes: the blob is not written at all.
            if sparse && raw.allSatisfy({ $0 == 0 }) { return }
            try RestoreMetadata.writeAll(fd, raw, at: use.offset, display: path(use.file))
        }
        state.withLock { $0.files[use.file].written &+= data.count }
    }

    /// The open temporary file of `file` (opened on first use), or nil if the file failed.
    /// The open happens outside the lock; if two tasks race to open it, one keeps its descriptor.
    private func descriptor(for file: Int) throws -> Int32? {
        let (fd, failed, temp) = state.withLock { s in (s.files[file].fd, s.files[file].failure != nil, s.files[file].temporary) }
        if failed { return nil }
        if fd >= 0 { return fd }
        let opened = try create(jobs[file].place.dir, temp)
        let chosen = state.withLock { s -> Int32 in
            if s.files[file].fd < 0 { s.files[file].fd = opened }
            return s.files[file].fd
        }
        if chosen != opened { close(opened) }
        return chosen
    }

    /// Opens the temporary file `name` in the directory `dir` for writing, creating it; a
    /// symlink at the name is not followed.
    private func create(_ dir: Int, _ name: [UInt8]) throws -> Int32 {
        try directories.with(dir) { fd in
            let opened = FileSystem.withName(name) { openat(fd, $0, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600) }
            guard opened >= 0 else { throw FileSystem.ioError("cannot create", directories.path(dir, name)) }
            return opened
        }
    }

    private func removeTemporary(_ dir: Int, _ name: [UInt8]) {
        _ = try? directories.with(dir) { fd in FileSystem.withName(name) { unlinkat(fd, $0, 0) } }
    }

    /// The file's path, for messages.
    private func path(_ file: Int) -> FSPath { directories.path(jobs[file].place.dir, jobs[file].place.name) }

    /// Completes a file: closes it, sets its metadata and renames it into place, or removes it
    /// if any of its blobs failed.
    private func finish(_ i: Int) throws {
        let job = jobs[i]
        let first = state.withLock { s -> FileState? in
            if s.finished[i] { return nil }
            s.finished[i] = true
            return s.files[i]
        }
        guard let f = first, !f.skipped else { return }
        var fd = f.fd
        defer { if fd >= 0 { close(fd) } }
        if let failure = f.failure {
            removeTemporary(job.place.dir, f.temporary)
            state.withLock { $0.errors.append(failure) }
            return
        }
        do {
            if fd < 0 { fd = try create(job.place.dir, f.temporary) }  // an empty file, or one made only of holes
            if f.written != job.size {
                throw EngineError(.invalidData, "\(path(i)): restored \(f.written) bytes but the snapshot records \(job.node.size)")
            }
            // Holes at the end (--sparse) are not written: the size is set explicitly.
            if sparse {
                guard ftruncate(fd, off_t(job.size)) == 0 else { throw FileSystem.ioError("cannot set the size of", path(i)) }
            }
            // A file this process created in a directory it created already has the owner
            // the snapshot wants when that is the restoring user: no chown needed.
            let ownerIsRight =
                job.inNewDirectory && !newDirectoriesAreSetgid && job.node.uid == SystemInfo.effectiveUID
                && job.node.gid == SystemInfo.effectiveGID
            try RestoreMetadata.apply(job.node, fd: fd, display: path(i), ownerIsRight: ownerIsRight)
            close(fd)
            fd = -1
            try directories.with(job.place.dir) { dir in
                // rename replaces a file or a symlink at the name (the link itself); a
                // directory there is removed first.
                if job.replaces, FileSystem.lstatIfPresent(in: dir, job.place.name)?.isDirectory == true {
                    try FileSystem.removeItem(in: dir, job.place.name, display: path(i))
                }
                let r = FileSystem.withName(f.temporary) { from in FileSystem.withName(job.place.name) { renameat(dir, from, dir, $0) } }
                guard r == 0 else { throw FileSystem.ioError("cannot rename into place", path(i)) }
            }
        } catch let e as EngineError where e.code == .io || e.code == .invalidData {
            removeTemporary(job.place.dir, f.temporary)
            state.withLock { $0.errors.append(e.message) }
            return
        }
        let progress = state.withLock { s -> (Int, Int) in
            s.filesDone += 1
            s.bytesDone &+= f.written
            s.bytesRestored &+= job.size
            return (s.filesDone, s.bytesDone)
        }
        onProgress(progress.0, progress.1)
    }

    /// Places that were restored (for `--verify` and hard links), with their nodes.
    var restored: [(place: RestorePlan.Place, node: Node)] {
        state.withLock { s in
            jobs.indices.filter { s.files[$0].failure == nil && !s.files[$0].skipped && s.finished[$0] }.map {
                (jobs[$0].place, jobs[$0].node)
            }
        }
    }

    /// Bytes of the files restored completely.
    var bytesRestored: Int { state.withLock { $0.bytesRestored } }

    func succeeded(_ i: Int) -> Bool {
        state.withLock { $0.files[i].failure == nil && !$0.files[i].skipped && $0.finished[i] }
    }
}
