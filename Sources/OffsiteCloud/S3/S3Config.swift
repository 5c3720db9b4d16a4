public import Foundation
import OffsiteStorage

/// Where an S3 repository is and how to address it, from restic's location forms:
/// `s3:host/bucket/prefix`, `s3:https://host:port/bucket/prefix`, `s3:http://host:port/bucket`
/// (local servers) and `s3://host/bucket`.
public struct S3Config: Sendable, Equatable {
    /// `host` or `host:port`.
    public var endpoint: String
    public var bucket: String
    /// Key prefix of the repository inside the bucket, without slashes at either end ("" for the root).
    public var prefix: String
    public var useHTTP: Bool
    public var region: String
    /// Virtual-hosted (`bucket.host/key`) rather than path-style (`host/bucket/key`) requests.
    public var virtualHosted: Bool
    /// `x-amz-storage-class` for data packs (`-o s3.storage-class=STANDARD_IA`).
    public var storageClass: String?
    public var connections: Int

    public var location: String { "s3:\(useHTTP ? "http://" : "")\(endpoint)/\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") }

    public static func parse(_ location: String, environment: [String: String], options: [String: String]) throws -> S3Config {
        var rest = location
        var useHTTP = false
        var endpoint: String
        if location.hasPrefix("s3:http://") || location.hasPrefix("s3:https://") {
            rest = String(location.dropFirst(3))
            guard let url = URLComponents(string: rest), let host = url.host, !host.isEmpty else {
                throw StorageError(.io, "invalid S3 location \(location): expected s3:https://HOST[:PORT]/BUCKET[/PREFIX]")
            }
            useHTTP = url.scheme == "http"
            endpoint = host + (url.port.map { ":\($0)" } ?? "")
            rest = String(url.path.drop { $0 == "/" })
        } else if location.hasPrefix("s3:") {
            rest = String(location.dropFirst(location.hasPrefix("s3://") ? 5 : 3))
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            endpoint = String(parts[0])
            rest = parts.count > 1 ? String(parts[1]) : ""
        } else {
            // As restic: only `s3:` locations (dropping three characters of anything else made a
            // location that names another endpoint when read back, found by the url fuzz target).
            throw StorageError(.io, "invalid S3 location \(location): expected s3:HOST/BUCKET[/PREFIX], e.g. s3:s3.amazonaws.com/my-bucket")
        }
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(parts.first ?? "")
        let prefix = parts.count > 1 ? String(parts[1]).split(separator: "/").joined(separator: "/") : ""
        guard !endpoint.isEmpty, !bucket.isEmpty else {
            throw StorageError(
                .io,
                "invalid S3 location \(location): host or bucket name not found (expected s3:HOST/BUCKET[/PREFIX], e.g. s3:s3.amazonaws.com/my-bucket)"
            )
        }
        let host = endpoint.split(separator: ":").first.map(String.init) ?? endpoint
        let region =
            options["s3.region"] ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? regionFromHost(host) ?? "us-east-1"
        let virtual: Bool
        switch options["s3.bucket-lookup"] ?? "auto" {
        case "dns": virtual = true
        case "path": virtual = false
        case "auto":
            // As minio-go: virtual hosts on AWS for names that fit in a host name; paths elsewhere.
            virtual = host.hasSuffix(".amazonaws.com") && !bucket.contains(".") && bucket == bucket.lowercased()
        case let other:
            throw StorageError(.io, "invalid option -o s3.bucket-lookup=\(other): use auto, dns or path")
        }
        return S3Config(
            endpoint: endpoint, bucket: bucket, prefix: prefix, useHTTP: useHTTP, region: region, virtualHosted: virtual,
            storageClass: options["s3.storage-class"].flatMap { $0.isEmpty ? nil : $0 },
            connections: try CloudBackends.intOption(options, "s3.connections", default: 5))
    }

    /// `s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`, `s3.us-west-004.backblazeb2.com`.
    static func regionFromHost(_ host: String) -> String? {
        let labels = host.split(separator: ".").map(String.init)
        if host.hasSuffix(".backblazeb2.com"), labels.count >= 4, labels[0] == "s3" { return labels[1] }
        if host.hasSuffix(".amazonaws.com") {
            if labels.count >= 4, labels[0] == "s3" || labels[0] == "s3-fips" { return labels[1] }
            if labels[0].hasPrefix("s3-") { return String(labels[0].dropFirst(3)) }
        }
        return nil
    }

    /// The object key of `path` (relative to the repository).
    func key(_ path: String) -> String { prefix.isEmpty ? path : prefix + "/" + path }

    /// The Host header and the encoded request path for `key` (nil: the bucket).
    func hostAndPath(key path: String?) -> (String, String) {
        let encoded = path.map { SigV4.uriEncode(key($0), keepSlash: true) }
        if virtualHosted {
            return (bucket + "." + endpoint, "/" + (encoded ?? ""))
        }
        return (endpoint, "/" + bucket + (encoded.map { "/" + $0 } ?? ""))
    }
}

extension AWSCredentials {
    /// restic's order: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
    /// `AWS_SESSION_TOKEN`), else the profile `AWS_PROFILE` (default `default`) of the shared
    /// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`); nil
    /// when neither is there (anonymous requests, for public buckets).
    public static func find(environment env: [String: String]) throws -> AWSCredentials? {
        func value(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        if let id = value("AWS_ACCESS_KEY_ID") {
            guard let secret = value("AWS_SECRET_ACCESS_KEY") else {
                throw StorageError(.unauthorized, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both")
            }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"))
        }
        let home = value("HOME") ?? NSHomeDirectory()
        let file = value("AWS_SHARED_CREDENTIALS_FILE") ?? home + "/.aws/credentials"
        let profile = value("AWS_PROFILE") ?? "default"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            if value("AWS_PROFILE") != nil {
                throw StorageError(.unauthorized, "AWS_PROFILE=\(profile) is set but \(file) cannot be read")
            }
            return nil
        }
        var section = ""
        var fields: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard section == profile, let eq = line.firstIndex(of: "=") else { continue }
            fields[line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: eq)...]
                .trimmingCharacters(in: .whitespaces)
        }
        guard let id = fields["aws_access_key_id"], let secret = fields["aws_secret_access_key"] else {
            if value("AWS_PROFILE") != nil {
                throw StorageError(.unauthorized, "profile \(profile) in \(file) has no aws_access_key_id and aws_secret_access_key")
            }
            return nil
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: fields["aws_session_token"])
    }
}
