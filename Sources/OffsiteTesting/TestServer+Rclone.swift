public import Foundation

extension TestServer {
    /// `rclone serve restic` (Debian's `rclone`) serving `directory` over restic's REST protocol
    /// on loopback. With `user`, clients must log in with `user`/`password` (HTTP basic auth);
    /// with `appendOnly`, the server refuses to delete or replace objects (locks excepted).
    public static func rclone(
        directory: String, user: String? = nil, password: String? = nil, appendOnly: Bool = false
    ) async throws -> TestServer {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var options: [String] = []
        if let user { options += ["--user", user] }
        if let password { options += ["--pass", password] }
        if appendOnly { options.append("--append-only") }
        return try await TestServer("rclone", install: "apt-get install rclone") { port in
            // `--config ""`: no rclone.conf (the user's own stays out of the test).
            ["serve", "restic", "--config", "", "--addr", "127.0.0.1:\(port)"] + options + [directory]
        }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`, with `user:password@` when given.
    public func url(user: String? = nil, password: String? = nil) -> String {
        guard let user else { return "http://127.0.0.1:\(port)" }
        return "http://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(port)"
    }
}
