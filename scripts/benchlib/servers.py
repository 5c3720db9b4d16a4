"""The moto S3 server on loopback for the cloud scenario, and the sampler of open connections."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from .common import BenchError, MOTO, first_line
from .measure import tool_env


class MotoServer:
    """moto's S3 server on a free loopback port, in a session of its own, logging every request
    to `log_path` (werkzeug's access log: `"METHOD /bucket/key HTTP/1.1" STATUS`); its temporary
    files (objects over 5 MB spill from memory to disk) go to `tmp_dir`. stop() ends it: moto
    ignores SIGTERM, so SIGINT, then SIGKILL when it is still alive after 5 s."""

    def __init__(self, log_path, tmp_dir):
        self.log_path, self.tmp_dir = log_path, tmp_dir
        self.proc = None
        self.port = None

    def start(self, timeout=30):
        exe = shutil.which(MOTO)
        if not exe:
            raise BenchError(f"{MOTO} is missing: pip install 'moto[server]' (or make deps)")
        os.makedirs(self.tmp_dir, exist_ok=True)
        env = dict(os.environ, TMPDIR=self.tmp_dir)
        for _ in range(5):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with open(self.log_path, "ab") as log_f:
                self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                                             stdout=log_f, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env,
                                             start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        self.port = port
                        return port
                except OSError:
                    time.sleep(0.05)
            self.stop()  # did not come up (the port was taken meanwhile?): another port
        with open(self.log_path, errors="replace") as f:
            tail = f.read()[-1500:]
        raise BenchError(f"{MOTO} did not start listening within {timeout} s: {tail.strip()}")

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 5), (signal.SIGKILL, 10)):
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                pass

    def cpu_seconds(self):
        """moto's user+sys CPU time so far (all its threads)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    def rss_kib(self):
        """(current, peak) resident set size of moto in KiB."""
        out = {}
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("VmRSS", "VmHWM"):
                        out[k] = int(v.split()[0])
        except (OSError, ValueError, AttributeError):
            pass
        return out.get("VmRSS"), out.get("VmHWM")

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def requests(self, start, end):
        """The requests moto logged between two log offsets: [(method, path, status)]."""
        with open(self.log_path, "rb") as f:
            f.seek(start)
            text = f.read(max(0, end - start)).decode(errors="replace")
        return [(m.group(1), m.group(2), int(m.group(3))) for m in re.finditer(
            r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})', text)]

    def bucket_usage(self, bucket):
        """(objects, bytes) in a bucket, from unsigned ListObjectsV2 requests (moto accepts
        them); None when the listing fails."""
        count = total = 0
        token = None
        try:
            while True:
                q = {"list-type": "2"}
                if token:
                    q["continuation-token"] = token
                url = f"http://127.0.0.1:{self.port}/{bucket}?" + urllib.parse.urlencode(q)
                with urllib.request.urlopen(url, timeout=60) as resp:
                    root = ET.fromstring(resp.read())
                ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
                for c in root.iter(ns + "Contents"):
                    count += 1
                    total += int(c.findtext(ns + "Size") or 0)
                if (root.findtext(ns + "IsTruncated") or "").lower() != "true":
                    return count, total
                token = root.findtext(ns + "NextContinuationToken")
                if not token:
                    return count, total
        except (OSError, ValueError, ET.ParseError):
            return None


class ConnectionSampler:
    """Samples the server's open sockets (/proc/PID/fd) every `interval` seconds while a command
    runs and keeps the largest number above what it had open before (its listening socket):
    the connections the client had open at once. A connection is not a request in flight (an
    idle pooled one counts too), but a tool that never opens more than one cannot have two
    requests in flight. (Counting in /proc/net/tcp instead cost 40% of a core at this rate
    on a machine with a few thousand sockets; this costs under 2%.)"""

    def __init__(self, pid, interval=0.01):
        self.fd_dir = f"/proc/{pid}/fd"
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = self._count()

    def _count(self):
        n = 0
        try:
            for fd in os.listdir(self.fd_dir):
                try:
                    if os.readlink(os.path.join(self.fd_dir, fd)).startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._count() - self.baseline)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def request_summary(reqs):
    """{"total": N, "methods": {GET: n, ...}, "data": {GET: n, PUT: n}, "errors": n,
    "most_gets": the most GETs of any one object under data/ (ranged reads of one pack)}."""
    out = {"total": len(reqs), "methods": {}, "data": {}, "errors": 0, "most_gets": 0}
    gets = {}
    for method, path, status in reqs:
        out["methods"][method] = out["methods"].get(method, 0) + 1
        key = path.split("?", 1)[0]
        parts = key.split("/")
        if len(parts) > 2 and parts[2] == "data" and len(parts) > 3 and parts[3]:
            out["data"][method] = out["data"].get(method, 0) + 1
            if method == "GET":
                gets[key] = gets.get(key, 0) + 1
        if status >= 400 and not (method == "HEAD" and status == 404):
            out["errors"] += 1
    out["most_gets"] = max(gets.values(), default=0)
    return out


def moto_version():
    """"moto X.Y.Z" from the Python that runs moto_server (its script's #! line)."""
    exe = shutil.which(MOTO)
    pythons = []
    try:
        with open(os.path.realpath(exe), "rb") as f:
            line = f.readline().decode(errors="replace")
        if line.startswith("#!") and "python" in line:
            pythons.append(line[2:].split()[0])
    except (OSError, TypeError):
        pass
    for py in pythons + [sys.executable]:
        v = first_line([py, "-c", "import moto; print('moto', moto.__version__)"])
        if v.startswith("moto "):
            return v
    return "moto, version unknown"


def cloud_env(workdir):
    """tool_env plus moto's made-up credentials; the caller's AWS_ settings are dropped."""
    env = {k: v for k, v in tool_env(workdir).items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = "x"
    env["AWS_SECRET_ACCESS_KEY"] = "x"
    return env
