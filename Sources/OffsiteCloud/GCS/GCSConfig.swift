import Foundation
import OffsiteStorage

/// Where a GCS repository is: restic's `gs:BUCKET:/PREFIX` form, the API endpoint (Google's,
/// or an emulator's from `STORAGE_EMULATOR_HOST`), and the `-o gs.*` options.
public struct GCSConfig: Sendable, Equatable {
    public var bucket: String
    /// Object name prefix of the repository, without slashes at either end ("" for the root).
    public var prefix: String
    /// `https://storage.googleapis.com`, or the emulator's `http://HOST:PORT`, without a slash at the end.
    public var endpoint: String
    /// True when `STORAGE_EMULATOR_HOST` set the endpoint (requests may then go unauthenticated).
    public var isEmulator: Bool
    /// The project a missing bucket is created in by `init` (`GOOGLE_PROJECT_ID`).
    public var projectID: String?
    /// Location of a bucket created by `init` (`-o gs.region=…`, default `us`, as restic).
    public var region: String
    public var connections: Int

    public static let googleEndpoint = "https://storage.googleapis.com"

    /// `gs:BUCKET:/PREFIX`; a prefix that still climbs (`../x`, kept by Go's `path.Clean` in a
    /// relative location) is shown relative, `gs:BUCKET:../x`, so the location reads back the same.
    public var location: String {
        prefix == ".." || prefix.hasPrefix("../") ? "gs:\(bucket):\(prefix)" : "gs:\(bucket):/\(prefix)"
    }

    /// Parses `gs:BUCKET:/PREFIX` as restic does (the prefix is cleaned as Go's `path.Clean`;
    /// `gs:BUCKET:/` is the bucket's root).
    public static func parse(_ location: String, environment: [String: String], options: [String: String]) throws -> GCSConfig {
        guard location.hasPrefix("gs:") else { throw invalid(location) }
        let rest = location.dropFirst(3)
        guard let colon = rest.firstIndex(of: ":") else { throw invalid(location) }
        let bucket = String(rest[..<colon])
        guard !bucket.isEmpty, !bucket.contains("/") else { throw invalid(location) }
        let prefix = cleanPrefix(String(rest[rest.index(after: colon)...]))
        var endpoint = googleEndpoint
        var isEmulator = false
        if let host = environment["STORAGE_EMULATOR_HOST"], !host.isEmpty {
            // Google's client libraries accept `host:port` as well as a URL.
            endpoint = host.contains("://") ? host : "http://" + host
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            guard let url = URLComponents(string: endpoint), url.host?.isEmpty == false, url.scheme == "http" || url.scheme == "https"
            else {
                throw StorageError(.io, "invalid STORAGE_EMULATOR_HOST=\(host): expected http://HOST:PORT")
            }
            isEmulator = true
        }
        return GCSConfig(
            bucket: bucket, prefix: prefix, endpoint: endpoint, isEmulator: isEmulator,
            projectID: environment["GOOGLE_PROJECT_ID"].flatMap { $0.isEmpty ? nil : $0 },
            region: options["gs.region"].flatMap { $0.isEmpty ? nil : $0 } ?? "us",
            connections: try CloudBackends.intOption(options, "gs.connections", default: 5))
    }

    static func invalid(_ location: String) -> StorageError {
        StorageError(.io, "invalid GCS location \(location): expected gs:BUCKET:/PATH (e.g. gs:my-bucket:/backups/server1)")
    }

    /// Go's `path.Clean` without the leading and trailing slashes: `/a//b/../c/` → `a/c`, `/` → "".
    static func cleanPrefix(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                // Above the root there is nothing; relative paths keep a leading `..` as Go does.
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !path.hasPrefix("/") {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }

    /// The object name of `path` (relative to the repository).
    func objectName(_ path: String) -> String { prefix.isEmpty ? path : prefix + "/" + path }

    /// The JSON API URL of the bucket, or of an object in it.
    func metadataURL(object: String? = nil) -> String {
        let b = "\(endpoint)/storage/v1/b/\(SigV4.uriEncode(bucket))"
        return object.map { b + "/o/" + SigV4.uriEncode($0) } ?? b
    }
}
