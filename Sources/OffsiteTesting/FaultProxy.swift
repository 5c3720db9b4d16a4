public import Foundation

/// A fault-injecting HTTP proxy in front of a test server (moto, rclone): a given fraction of
/// requests (evenly spread: with 0.2, every fifth) fail with 500 or 503 SlowDown, have their
/// connection reset before or after the upstream server handled them, have their upload cut
/// halfway, or stall for `stallSeconds` with nothing sent. The kind of each fault comes from
/// `seed`, so a failing run can be replayed.
/// `GET /__faults` returns the counts of injected faults as JSON.
public enum FaultProxy {
    public static func start(upstreamPort: Int, failRate: Double, seed: UInt64, stallSeconds: Double = 4) async throws -> TestServer {
        let script = NSTemporaryDirectory() + "offsite-fault-proxy-\(UUID().uuidString.prefix(8)).py"
        try Data(source.utf8).write(to: URL(fileURLWithPath: script))
        return try await TestServer("python3", install: "apt-get install python3") { port in
            [script, String(port), String(upstreamPort), String(failRate), String(seed), String(stallSeconds)]
        }
    }

    static let source = #"""
        import http.client, json, random, socket, struct, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, upstream, rate, seed, stall = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        rng = random.Random(seed)
        lock = threading.Lock()
        counts = {"requests": 0, "error500": 0, "slowdown503": 0, "reset_before": 0, "reset_after": 0, "cut_upload": 0, "stall": 0}

        def choose(method):
            with lock:
                counts["requests"] += 1
                n = counts["requests"]
                # Exactly `rate` of the requests, evenly spread (a random draw could leave a
                # short run without faults, or a streak longer than the retries allow).
                if int(n * rate) == int((n - 1) * rate):
                    return None
                kinds = ["error500", "slowdown503", "reset_before", "reset_after", "stall"]
                if method in ("PUT", "POST"):
                    kinds.append("cut_upload")
                kind = rng.choice(kinds)
                counts[kind] += 1
                return kind

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass

            def reset(self):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def reply(self, status, body, headers=(), length=None):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if self.path == "/__faults":
                    self.rfile.read(length)
                    return self.reply(200, json.dumps(counts).encode())
                kind = choose(self.command)
                if kind == "cut_upload" and length > 1:
                    self.rfile.read(length // 2)
                    return self.reset()
                body = self.rfile.read(length) if length else b""
                if kind == "stall":
                    time.sleep(stall)
                    return self.reset()
                if kind == "reset_before":
                    return self.reset()
                if kind in ("error500", "slowdown503"):
                    code, name = (500, "InternalError") if kind == "error500" else (503, "SlowDown")
                    xml = f"<?xml version=\"1.0\"?><Error><Code>{name}</Code><Message>injected</Message></Error>".encode()
                    return self.reply(code, xml, [("Content-Type", "application/xml")])
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                conn.request(self.command, self.path, body=body if length else None, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                if kind == "reset_after":
                    return self.reset()
                skip = ("connection", "content-length", "transfer-encoding", "server", "date")
                # HEAD replies carry the object's length without its body.
                length = r.getheader("Content-Length") if self.command == "HEAD" else None
                self.reply(r.status, data, [(k, v) for k, v in r.getheaders() if k.lower() not in skip], length)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}
