public import Foundation

/// A certificate authority made for one test with `openssl`, a server certificate it signed for
/// 127.0.0.1, a client certificate it signed (certificate and key in one PEM file, as
/// `--tls-client-cert` takes them), and an unrelated authority that trusts neither.
public struct TestCertificates: Sendable {
    public var ca: String
    public var serverCertificate: String
    public var serverKey: String
    public var client: String
    public var otherCA: String

    /// Makes the files in `directory`. Fails (never skips) when openssl is missing.
    public static func make(in directory: String) async throws -> TestCertificates {
        guard let openssl = ProcessRunner.which("openssl") else {
            throw ProcessRunner.NotFound(description: "openssl is not installed: run `apt-get install openssl` (or `make deps`)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory + "/" + name }
        func run(_ args: [String]) async throws {
            let r = try await ProcessRunner.run(openssl, args, currentDirectory: directory)
            guard r.status == 0 else {
                throw ProcessRunner.NotFound(description: "openssl \(args.prefix(2).joined(separator: " ")) failed: \(r.stderr)")
            }
        }
        let days = ["-days", "2"]
        for ca in ["ca", "other-ca"] {
            try await run(
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(ca + ".key"),
                    "-out", path(ca + ".pem"), "-subj", "/CN=offsite test \(ca)",
                ] + days)
        }
        try Data("subjectAltName=IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: path("server.ext")))
        try Data("extendedKeyUsage=clientAuth\n".utf8).write(to: URL(fileURLWithPath: path("client.ext")))
        for (name, subject) in [("server", "/CN=127.0.0.1"), ("client", "/CN=offsite test client")] {
            try await run(
                [
                    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(name + ".key"),
                    "-out", path(name + ".csr"), "-subj", subject,
                ])
            try await run(
                [
                    "x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                    "-out", path(name + ".pem"), "-extfile", path(name + ".ext"),
                ] + days)
        }
        let client =
            try Data(contentsOf: URL(fileURLWithPath: path("client.pem"))) + Data(contentsOf: URL(fileURLWithPath: path("client.key")))
        try client.write(to: URL(fileURLWithPath: path("client-with-key.pem")))
        return TestCertificates(
            ca: path("ca.pem"), serverCertificate: path("server.pem"), serverKey: path("server.key"),
            client: path("client-with-key.pem"), otherCA: path("other-ca.pem"))
    }
}
