import Foundation
public import OffsiteStorage

/// The behaviour every `StorageBackend` must show. Each case gets a fresh, created backend.
/// Test targets run `BackendConformance.cases` as an argument table for each backend.
public enum BackendConformance {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Case: Sendable, CustomStringConvertible {
        public var name: String
        public var run: @Sendable (any StorageBackend) async throws -> Void
        public var description: String { name }
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Failure(description: message()) }
    }

    static func expectError(_ code: StorageError.Code, _ what: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as StorageError {
            try check(e.code == code, "\(what): expected \(code), got \(e.code): \(e.message)")
            return
        }
        throw Failure(description: "\(what): expected \(code), got success")
    }

    static func id(_ n: Int) -> String {
        String(repeating: String(format: "%02x", n % 256), count: 32)
    }

    public static let cases: [Case] = [
        Case(name: "save, load, size and list round-trip every type") { b in
            for (i, type) in FileType.listable.enumerated() {
                let h = Handle(type, id(i + 1))
                let data = Data((0..<(1000 + i)).map { UInt8(truncatingIfNeeded: $0 * 7 + i) })
                try await b.save(h, data: data)
                try check(try await b.load(h) == data, "\(h): loaded bytes differ")
                try check(try await b.size(h) == data.count, "\(h): wrong size")
                let listed = try await b.list(type)
                try check(listed == [ObjectInfo(name: h.name, size: data.count)], "\(type): listing \(listed)")
            }
            try await b.save(.config, data: Data("cfg".utf8))
            try check(try await b.load(.config) == Data("cfg".utf8), "config differs")
        },
        Case(name: "ranged loads return exact bytes") { b in
            let h = Handle(.data, id(9))
            let data = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0) })
            try await b.save(h, data: data)
            try check(try await b.load(h, offset: 100, length: 50) == data[100..<150], "middle range")
            try check(try await b.load(h, offset: 4000, length: nil) == data[4000...], "open range")
            try check(try await b.load(h, offset: 4096, length: 0).isEmpty, "empty range at end")
            try await expectError(.invalidData, "range past the end") { _ = try await b.load(h, offset: 4000, length: 200) }
        },
        Case(name: "missing objects are notFound") { b in
            let h = Handle(.snapshots, id(3))
            try await expectError(.notFound, "load") { _ = try await b.load(h) }
            try await expectError(.notFound, "size") { _ = try await b.size(h) }
            try await expectError(.notFound, "remove") { try await b.remove(h) }
            try check(try await b.exists(h) == false, "exists says true")
            try check(try await b.list(.snapshots).isEmpty, "listing not empty")
        },
        Case(name: "save replaces, remove deletes") { b in
            let h = Handle(.index, id(4))
            try await b.save(h, data: Data("one".utf8))
            try await b.save(h, data: Data("two".utf8))
            try check(try await b.load(h) == Data("two".utf8), "replace failed")
            try await b.remove(h)
            try check(try await b.exists(h) == false, "still exists after remove")
            try check(try await b.list(.index).isEmpty, "still listed after remove")
        },
        Case(name: "empty objects and many concurrent saves") { b in
            try await b.save(Handle(.locks, id(5)), data: Data())
            try check(try await b.load(Handle(.locks, id(5))).isEmpty, "empty object")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<64 {
                    group.addTask { try await b.save(Handle(.data, id(i * 3 + 1)), data: Data(repeating: UInt8(i), count: i * 100)) }
                }
                try await group.waitForAll()
            }
            let listed = try await b.list(.data)
            try check(Set(listed.map(\.name)).count == 64, "expected 64 packs, listed \(listed.count)")
            for info in listed {
                let data = try await b.load(Handle(.data, info.name))
                try check(data.count == info.size, "listed size \(info.size) != \(data.count)")
            }
        },
        Case(name: "create is idempotent and keeps objects") { b in
            try await b.save(Handle(.keys, id(7)), data: Data("k".utf8))
            try await b.create()
            try check(try await b.load(Handle(.keys, id(7))) == Data("k".utf8), "create lost an object")
        },
    ]
}
