import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// `RESTBackend` against a real `rclone serve restic` started by each test: the conformance
/// suite, restic's layout on the server's disk, authentication, append-only servers, and the
/// mapping of replies to error codes.
@Suite struct RESTBackendTests {
    /// Runs `body` with a server on a scratch directory and a backend for a fresh repository
    /// path on it (created).
    /// `login` is the user information as written in the URL (percent-encoded), when it differs
    /// from the server's `user:password`.
    func withServer(
        user: String? = nil, password: String? = nil, login: String? = nil, appendOnly: Bool = false,
        _ body: (TestServer, RESTBackend, String) async throws -> Void
    ) async throws {
        try await withScratchDirectory { dir in
            let server = try await TestServer.rclone(directory: dir + "/served", user: user, password: password, appendOnly: appendOnly)
            defer { server.stop() }
            let path = "repo-\(UUID().uuidString.prefix(8))"
            let backend = try #require(
                try RESTBackend.make(
                    location:
                        "rest:\(login.map { "http://\($0)@127.0.0.1:\(server.port)" } ?? server.url(user: user, password: password))/\(path)",
                    environment: [:], options: [:])
                    as? RESTBackend)
            try await backend.create()
            try await body(server, backend, dir + "/served/" + path)
        }
    }

    @Test(arguments: BackendConformance.cases)
    func conformance(_ c: BackendConformance.Case) async throws {
        try await withServer { _, backend, _ in try await c.run(backend) }
    }

    @Test func objectsLandInResticsLayoutOnTheServer() async throws {
        try await withServer { _, backend, dir in
            let id = String(repeating: "ab", count: 32)
            try await backend.save(Handle(.data, id), data: Data("pack".utf8))
            try await backend.save(Handle(.snapshots, id), data: Data("snap".utf8))
            try await backend.save(.config, data: Data("cfg".utf8))
            #expect(FileManager.default.contents(atPath: "\(dir)/data/ab/\(id)") == Data("pack".utf8))
            #expect(FileManager.default.contents(atPath: "\(dir)/snapshots/\(id)") == Data("snap".utf8))
            #expect(FileManager.default.contents(atPath: "\(dir)/config") == Data("cfg".utf8))
            for sub in ["data", "keys", "locks", "snapshots", "index"] {
                var isDirectory: ObjCBool = false
                #expect(
                    FileManager.default.fileExists(atPath: "\(dir)/\(sub)", isDirectory: &isDirectory) && isDirectory.boolValue, "\(sub)")
            }
            #expect(try await backend.list(.config) == [ObjectInfo(name: "config", size: 3)])
        }
    }

    @Test func credentialsFromTheURLAreSentAndNeverShown() async throws {
        try await withServer(user: "alice", password: "s3cr#t pw", login: "alice:s3cr%23t%20pw") { server, backend, _ in
            #expect(backend.config.user == "alice")
            #expect(backend.config.password == "s3cr#t pw")
            #expect(backend.location.hasPrefix("rest:http://alice:***@127.0.0.1:\(server.port)/repo-"))
            let h = Handle(.keys, String(repeating: "01", count: 32))
            try await backend.save(h, data: Data("key".utf8))
            #expect(try await backend.load(h) == Data("key".utf8))
        }
    }

    @Test(arguments: [("alice", "wrong"), (nil, nil)] as [(String?, String?)])
    func refusedCredentialsAreUnauthorized(user: String?, password: String?) async throws {
        try await withScratchDirectory { dir in
            let server = try await TestServer.rclone(directory: dir, user: "alice", password: "right")
            defer { server.stop() }
            let backend = try RESTBackend.make(
                location: "rest:\(server.url(user: user, password: password))/repo", environment: [:], options: [:])
            do {
                _ = try await backend.list(.snapshots)
                Issue.record("listing without the right credentials succeeded")
            } catch let e as StorageError {
                #expect(e.code == .unauthorized)
                #expect(e.message.contains("authentication failed"))
                #expect(!e.message.contains("wrong") && !e.message.contains("right"), "\(e.message)")
                if user != nil { #expect(e.message.contains("alice")) }
            }
        }
    }

    @Test func appendOnlyServersRefuseRemovalButAcceptIdenticalSaves() async throws {
        try await withServer(appendOnly: true) { _, backend, _ in
            let h = Handle(.data, String(repeating: "cd", count: 32))
            try await backend.save(h, data: Data("pack".utf8))
            // A save repeated after a lost reply: same bytes, so it counts as done.
            try await backend.save(h, data: Data("pack".utf8))
            await #expect(throws: StorageError.self) { try await backend.save(h, data: Data("other".utf8)) }
            do {
                try await backend.remove(h)
                Issue.record("append-only server removed an object")
            } catch let e as StorageError {
                #expect(e.code == .unauthorized)
                #expect(e.message.contains("append-only"), "\(e.message)")
            }
            #expect(try await backend.load(h) == Data("pack".utf8))
            // Lock files may still be removed.
            let lock = Handle(.locks, String(repeating: "ef", count: 32))
            try await backend.save(lock, data: Data("lock".utf8))
            try await backend.remove(lock)
        }
    }

    @Test func shortRangesAreInvalidDataNotShortResults() async throws {
        try await withServer { _, backend, _ in
            let h = Handle(.data, String(repeating: "12", count: 32))
            try await backend.save(h, data: Data(repeating: 7, count: 100))
            for (offset, length) in [(90, 20), (100, 1), (200, 5)] {
                await #expect(throws: StorageError.self, "offset \(offset) length \(length)") {
                    _ = try await backend.load(h, offset: offset, length: length)
                }
            }
            #expect(try await backend.load(h, offset: 99, length: 1) == Data([7]))
        }
    }

    /// (async-http-client keeps trying to connect until the 10 s connect timeout.)
    @Test func aStoppedServerIsTransient() async throws {
        try await withScratchDirectory { dir in
            let server = try await TestServer.rclone(directory: dir)
            let backend = try RESTBackend.make(location: "rest:\(server.url())/repo", environment: [:], options: [:])
            server.stop()
            do {
                _ = try await backend.size(.config)
                Issue.record("a stopped server answered")
            } catch let e as StorageError {
                #expect(e.code == .transient, "\(e.message)")
            }
        }
    }

    // MARK: Without a server

    @Test func locationsParseAsRestics() throws {
        let plain = try RESTConfig.parse("rest:http://host:8000/path")
        #expect(plain.url == "http://host:8000/path/")
        #expect(plain.authorization == nil)
        #expect(plain.location == "rest:http://host:8000/path")
        #expect(plain.url(Handle(.data, "abcdef")) == "http://host:8000/path/data/abcdef")
        #expect(plain.url(.config) == "http://host:8000/path/config")
        #expect(plain.url(listing: .keys) == "http://host:8000/path/keys/")

        let root = try RESTConfig.parse("rest:https://host/")
        #expect(root.url == "https://host/")
        #expect(root.url(.config) == "https://host/config")

        let login = try RESTConfig.parse("rest:http://us%40er:p%3Ass@host:8000/")
        #expect(login.user == "us@er" && login.password == "p:ss")
        #expect(login.url == "http://host:8000/")
        #expect(login.location == "rest:http://us%40er:***@host:8000")
        #expect(login.authorization == "Basic " + Data("us@er:p:ss".utf8).base64EncodedString())

        let env = try RESTConfig.parse(
            "rest:http://host:8000/", environment: ["RESTIC_REST_USERNAME": "bob", "RESTIC_REST_PASSWORD": "pw"],
            options: ["rest.connections": "9"])
        #expect(env.user == "bob" && env.password == "pw" && env.connections == 9)
        #expect(env.location == "rest:http://bob:***@host:8000")
        // Credentials in the URL win over the environment.
        #expect(try RESTConfig.parse("rest:http://al:x@host/", environment: ["RESTIC_REST_USERNAME": "bob"]).user == "al")
    }

    @Test(arguments: [
        ("rest:http://alice:secret@host:8000/repo", "rest:http://alice:***@host:8000/repo"),
        ("rest:http://alice:se:c@r et@host/", "rest:http://alice:***@host/"),
        ("rest:https://alice@host/a@b", "rest:https://alice@host/a@b"),
        ("rest:http://host:8000/", "rest:http://host:8000/"),
        ("/srv/a:b@c", "/srv/a:b@c"),
    ])
    func passwordsAreStrippedFromTypedLocations(typed: String, shown: String) {
        #expect(RESTConfig.strippingPassword(typed) == shown)
    }

    @Test(arguments: ["rest:ftp://user:secret@host/", "rest:secret", "rest:http:///x", "s3:host/bucket"])
    func badLocationsAreRefusedWithoutEchoingThem(_ location: String) throws {
        do {
            _ = try RESTConfig.parse(location)
            Issue.record("\(location) was accepted")
        } catch let e as StorageError {
            #expect(e.message.contains("rest:http://"), "\(e.message)")
            #expect(!e.message.contains("secret"), "\(e.message)")
        }
    }

    @Test(arguments: [
        (404, StorageError.Code.notFound), (401, .unauthorized), (403, .unauthorized), (416, .invalidData),
        (408, .transient), (429, .transient), (500, .transient), (502, .transient), (503, .transient), (400, .io),
    ])
    func repliesMapToCodes(status: Int, code: StorageError.Code) throws {
        let backend = RESTBackend(config: try RESTConfig.parse("rest:http://alice:secret@host:8000/repo"))
        let e = backend.failure(HTTPReply(status: status, headers: [], body: Data("Oops".utf8)), "loading keys/ab")
        #expect(e.code == code)
        #expect(e.message.hasPrefix("loading keys/ab: "))
        #expect(!e.message.contains("secret"))
        if code == .unauthorized { #expect(e.message.contains("alice") && e.message.contains("rest:http://alice:***@host:8000/repo")) }
    }

    @Test func listingsOfBothProtocolVersionsDecode() throws {
        let v2 = try RESTListing.decode(
            Data(#"[{"name":"ab","size":3},{"name":"cd","size":0}]"#.utf8), contentType: "application/vnd.x.restic.rest.v2", what: "listing"
        )
        #expect(v2 == .sized([ObjectInfo(name: "ab", size: 3), ObjectInfo(name: "cd", size: 0)]))
        let v1 = try RESTListing.decode(Data(#"["ab","cd"]"#.utf8), contentType: "application/json", what: "listing")
        #expect(v1 == .names(["ab", "cd"]))
        #expect(throws: StorageError.self) { try RESTListing.decode(Data("<html>".utf8), contentType: nil, what: "listing") }
    }
}
