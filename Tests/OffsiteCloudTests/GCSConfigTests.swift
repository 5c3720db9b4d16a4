import OffsiteStorage
import Testing

@testable import OffsiteCloud

/// restic's `gs:BUCKET:/PREFIX` locations, the emulator variable and the `-o gs.*` options.
@Suite struct GCSConfigTests {
    @Test(arguments: [
        ("gs:bucket:/repo", "bucket", "repo"),
        ("gs:bucket:/", "bucket", ""),
        ("gs:bucket:", "bucket", ""),
        ("gs:bucket:/a//b/./c/", "bucket", "a/b/c"),
        ("gs:bucket:/a/../b", "bucket", "b"),
        ("gs:bucket:/../x", "bucket", "x"),
        ("gs:bucket:relative/path", "bucket", "relative/path"),
        ("gs:bucket:../x", "bucket", "../x"),
        ("gs:bucket:a/../../..", "bucket", "../.."),
        ("gs:my.bucket-1:/with:colon", "my.bucket-1", "with:colon"),
    ])
    func locations(location: String, bucket: String, prefix: String) throws {
        let c = try GCSConfig.parse(location, environment: [:], options: [:])
        #expect(c.bucket == bucket)
        #expect(c.prefix == prefix)
        // Shown with a leading slash, except a prefix that climbs, which reads back the same only relative.
        #expect(c.location == (prefix.hasPrefix("..") ? "gs:\(bucket):\(prefix)" : "gs:\(bucket):/\(prefix)"))
        #expect(try GCSConfig.parse(c.location, environment: [:], options: [:]).prefix == prefix)
        #expect(c.endpoint == "https://storage.googleapis.com")
        #expect(!c.isEmulator)
        #expect(c.region == "us")
        #expect(c.connections == 5)
    }

    @Test(arguments: ["gs:bucket", "gs::/repo", "gs:a/b:/repo", "s3:bucket:/x"])
    func invalidLocations(location: String) {
        #expect(throws: StorageError.self) { try GCSConfig.parse(location, environment: [:], options: [:]) }
    }

    @Test func objectNamesAndURLs() throws {
        let c = try GCSConfig.parse("gs:b:/p/q", environment: ["STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443/"], options: [:])
        #expect(c.objectName("data/ab/abcd") == "p/q/data/ab/abcd")
        #expect(c.metadataURL() == "http://127.0.0.1:4443/storage/v1/b/b")
        #expect(c.metadataURL(object: "p/q/config") == "http://127.0.0.1:4443/storage/v1/b/b/o/p%2Fq%2Fconfig")
    }

    @Test func emulatorHostAndOptions() throws {
        let env = ["STORAGE_EMULATOR_HOST": "localhost:9023", "GOOGLE_PROJECT_ID": "proj"]
        let c = try GCSConfig.parse("gs:b:/r", environment: env, options: ["gs.connections": "9", "gs.region": "EUROPE-WEST3"])
        #expect(c.endpoint == "http://localhost:9023")
        #expect(c.isEmulator)
        #expect(c.projectID == "proj")
        #expect(c.connections == 9)
        #expect(c.region == "EUROPE-WEST3")
        #expect(throws: StorageError.self) {
            try GCSConfig.parse("gs:b:/r", environment: ["STORAGE_EMULATOR_HOST": "ftp://x"], options: [:])
        }
        #expect(throws: StorageError.self) { try GCSConfig.parse("gs:b:/r", environment: [:], options: ["gs.connections": "0"]) }
    }
}
