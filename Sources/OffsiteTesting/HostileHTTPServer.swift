public import Foundation

/// A loopback HTTP server that answers like a broken or hostile storage server, for the cloud
/// backends' malformed-response tests. The misbehaviour is chosen by a path segment naming a
/// mode (an S3 bucket `s3:http://127.0.0.1:PORT/MODE/repo`, a REST path
/// `rest:http://127.0.0.1:PORT/MODE/`, a GCS bucket `gs:MODE:/repo`), so one server serves
/// every case:
///
/// - `cl-long`: a GET's reply announces 100 bytes more than it sends, then the connection closes;
/// - `cl-short`: a GET's reply announces half the bytes it sends;
/// - `empty-200`: a GET (ranged or not) gets 200 with an empty body;
/// - `html`: every request gets 200 with an HTML page (a captive portal, a misconfigured proxy);
/// - `xml-truncated`: an S3 listing is cut in the middle of its XML;
/// - `truncated-no-token`: an S3 listing says `IsTruncated` without a continuation token;
/// - `same-token`: S3 and GCS listings name the same next page every time; after 20 pages the
///   server gives in and ends the listing, so a client that loops returns (with duplicates)
///   instead of hanging the test;
/// - `redirect-301`, `-302`, `-307`, `-308`: every request is redirected to `redirectPort`
///   (another server, e.g. a second `HostileHTTPServer` whose requests are counted);
/// - anything else: objects exist with 1000 bytes (`i % 251`), ranges honoured, listings hold
///   one object.
///
/// `GET /__requests` returns `{"requests": N, "authorized": M}` (requests other than this one,
/// and how many carried an `Authorization` header).
public enum HostileHTTPServer {
    public static let objectSize = 1000

    public static func start(redirectPort: Int = 9) async throws -> TestServer {
        let script = NSTemporaryDirectory() + "offsite-hostile-http-\(UUID().uuidString.prefix(8)).py"
        try Data(source.utf8).write(to: URL(fileURLWithPath: script))
        return try await TestServer("python3", install: "apt-get install python3") { port in
            [script, String(port), String(redirectPort)]
        }
    }

    /// The counts `GET /__requests` reports.
    public static func requests(_ server: TestServer) throws -> (requests: Int, authorized: Int) {
        let data = try Data(contentsOf: URL(string: "http://127.0.0.1:\(server.port)/__requests")!)
        let counts = try JSONSerialization.jsonObject(with: data) as? [String: Int] ?? [:]
        return (counts["requests"] ?? -1, counts["authorized"] ?? -1)
    }

    static let source = #"""
        import json, re, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, redirect_port = int(sys.argv[1]), int(sys.argv[2])
        SIZE = 1000
        OBJECT = bytes(i % 251 for i in range(SIZE))
        MODES = ("cl-long", "cl-short", "empty-200", "html", "xml-truncated", "truncated-no-token", "same-token",
                 "redirect-301", "redirect-302", "redirect-307", "redirect-308")
        lock = threading.Lock()
        counts = {"requests": 0, "authorized": 0}
        pages = {}

        def listing_xml(truncated, token):
            t = "<NextContinuationToken>%s</NextContinuationToken>" % token if token else ""
            return ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    '<Name>b</Name><Prefix>repo/snapshots/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>'
                    '<IsTruncated>%s</IsTruncated>%s<Contents><Key>repo/snapshots/%s</Key><Size>%d</Size></Contents>'
                    '</ListBucketResult>' % ("true" if truncated else "false", t, "ab" * 32, SIZE)).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass

            def raw(self, status, body, length=None, ctype="application/octet-stream", extra=(), close=False):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in extra:
                    self.send_header(k, v)
                if close:
                    # No reuse of a connection left with stray bytes: each case starts afresh.
                    self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self.wfile.flush()
                if close:
                    self.close_connection = True

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == "/__requests":
                    return self.raw(200, json.dumps(counts).encode(), ctype="application/json")
                with lock:
                    counts["requests"] += 1
                    if self.headers.get("Authorization"):
                        counts["authorized"] += 1
                segments = re.split(r"[/?&=]", self.path)
                mode = next((s for s in segments if s in MODES), "")
                listing = "list-type=2" in self.path or self.path.endswith("/") or re.search(r"/o\?|/o$", self.path) is not None
                gcs = "/storage/v1/" in self.path
                if mode.startswith("redirect-"):
                    code = int(mode.split("-")[1])
                    target = "http://127.0.0.1:%d%s" % (redirect_port, self.path)
                    return self.raw(code, b"", extra=[("Location", target)])
                if mode == "html":
                    return self.raw(200, b"<html><body><h1>Welcome</h1><p>Please log in to continue.</p></body></html>", ctype="text/html")
                if listing:
                    if gcs:
                        body = {"items": [{"name": "repo/snapshots/" + "ab" * 32, "size": str(SIZE)}]}
                        if mode == "same-token":
                            with lock:
                                pages["gcs"] = pages.get("gcs", 0) + 1
                                if pages["gcs"] <= 20:
                                    body["nextPageToken"] = "again"
                        return self.raw(200, json.dumps(body).encode(), ctype="application/json")
                    if mode == "xml-truncated":
                        doc = listing_xml(False, None)
                        return self.raw(200, doc[: len(doc) // 2], ctype="application/xml")
                    if mode == "truncated-no-token":
                        return self.raw(200, listing_xml(True, None), ctype="application/xml")
                    if mode == "same-token":
                        with lock:
                            pages["s3"] = pages.get("s3", 0) + 1
                            more = pages["s3"] <= 20
                        return self.raw(200, listing_xml(more, "again" if more else None), ctype="application/xml")
                    return self.raw(200, listing_xml(False, None), ctype="application/xml")
                if self.command == "HEAD":
                    return self.raw(200, b"", length=SIZE)
                if self.command != "GET":
                    return self.raw(200, b"")
                start, end = 0, SIZE - 1
                m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
                if m:
                    start = int(m.group(1))
                    end = min(int(m.group(2)), SIZE - 1) if m.group(2) else SIZE - 1
                body = OBJECT[start : end + 1]
                status = 206 if m else 200
                extra = [("Content-Range", "bytes %d-%d/%d" % (start, end, SIZE))] if m else []
                if mode == "cl-long":
                    return self.raw(status, body, length=len(body) + 100, extra=extra, close=True)
                if mode == "cl-short":
                    return self.raw(status, body, length=len(body) // 2, extra=extra, close=True)
                if mode == "empty-200":
                    return self.raw(200, b"")
                return self.raw(status, body, extra=extra)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}
