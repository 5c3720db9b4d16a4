public import Foundation

extension TestServer {
    /// `rclone serve restic` (Debian's `rclone`) serving `directory` over restic's REST protocol
    /// on loopback. With `user`, clients must log in with `user`/`password` (HTTP basic auth);
    /// with `appendOnly`, the server refuses to delete or replace objects (locks excepted).
    /// With `tls`, it serves HTTPS with `tls.server` and, when `requireClientCertificate`,
    /// accepts only clients presenting a certificate signed by `tls.ca`.
    public static func rclone(
        directory: String, user: String? = nil, password: String? = nil, appendOnly: Bool = false,
        tls: TestCertificates? = nil, requireClientCertificate: Bool = false
    ) async throws -> TestServer {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var options: [String] = []
        if let user { options += ["--user", user] }
        if let password { options += ["--pass", password] }
        if appendOnly { options.append("--append-only") }
        if let tls {
            options += ["--cert", tls.serverCertificate, "--key", tls.serverKey]
            if requireClientCertificate { options += ["--client-ca", tls.ca] }
        }
        return try await TestServer("rclone", install: "apt-get install rclone") { port in
            // `--config ""`: no rclone.conf (the user's own stays out of the test).
            ["serve", "restic", "--config", "", "--addr", "127.0.0.1:\(port)"] + options + [directory]
        }
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (`https` with `tls`), with
    /// `user:password@` when given.
    public func url(user: String? = nil, password: String? = nil, tls: Bool = false) -> String {
        let scheme = tls ? "https" : "http"
        guard let user else { return "\(scheme)://127.0.0.1:\(port)" }
        return "\(scheme)://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(port)"
    }
}
