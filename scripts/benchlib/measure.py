"""Running one timed command under /usr/bin/time -v and recording its figures."""

import os
import shlex
import statistics
import subprocess
import time

from .common import PASSWORD, TIME, log


def parse_time_v(path):
    fields = {}
    with open(path, errors="replace") as f:
        for line in f:
            if ":" in line:
                k, _, v = line.strip().rpartition(": ")
                fields[k.strip()] = v.strip()
    wall_s = fields.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", "")
    wall = 0.0
    for part in wall_s.split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall": wall,
        "user": float(fields["User time (seconds)"]),
        "sys": float(fields["System time (seconds)"]),
        "cpu": float(fields["User time (seconds)"]) + float(fields["System time (seconds)"]),
        "rss_kib": int(fields["Maximum resident set size (kbytes)"]),
    }


def busy_cpu_seconds():
    """Machine-wide busy CPU time so far (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / hz
    except (OSError, ValueError, IndexError):
        return None


def measure(cmd, env, prefix, cpus, timeout=None, stdout_path=None):
    """Runs cmd under /usr/bin/time -v; returns its figures and exit status, and how much CPU
    time other processes used meanwhile (noise: a concurrent build, say). Its standard output
    goes to stdout_path when given (as `cmd > stdout_path` would), else to prefix.out."""
    full = []
    if cpus:
        full += ["taskset", "-c", f"0-{cpus - 1}"]
    full += [TIME, "-v", "-o", prefix + ".time"] + cmd
    busy0 = busy_cpu_seconds()
    timed_out = False
    with open(stdout_path or prefix + ".out", "wb") as out, open(prefix + ".err", "wb") as err:
        # A session of its own, so a timeout ends the tool too, not only /usr/bin/time.
        proc = subprocess.Popen(full, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)
            rc = proc.wait()
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): the tool is in another session and would go on
            # writing into directories the clean-up removes.
            os.killpg(proc.pid, 9)
            proc.wait()
            raise
    busy1 = busy_cpu_seconds()
    result = {"rc": rc, "cmd": shlex.join(cmd)}
    if timed_out:
        result["rc"] = 124
        result["error"] = f"timed out after {timeout} s (--timeout)"
        return result
    try:
        result.update(parse_time_v(prefix + ".time"))
        if busy0 is not None and busy1 is not None:
            result["other_cpu"] = max(0.0, busy1 - busy0 - result["cpu"])
    except (OSError, KeyError, ValueError) as e:
        result["rc"] = rc or 125
        result["error"] = f"could not read /usr/bin/time output: {e}"
    if result["rc"] != 0:
        with open(prefix + ".err", errors="replace") as f:
            tail = f.read()[-2000:]
        result.setdefault("error", f"exit status {rc}: {tail.strip()}")
    return result


def record_step(m, ms, failed, problems, who, scenario, extra=""):
    """Appends measurement m of `scenario` to ms and logs it; a failure marks the tool (the last
    word of `who`, "run N: TOOL") failed for the rest of the run and is a problem."""
    tool = who.rpartition(" ")[2]
    ms.append(m)
    if m["rc"] != 0:
        failed.add(tool)
        problems.append(f"{who} {scenario}: {m.get('error')}")
        log(f"  {scenario:9} {tool:7} FAILED: {m.get('error', '')[:300]}")
    else:
        log(f"  {scenario:9} {tool:7} wall {m['wall']:7.2f} s  cpu {m['cpu']:7.2f} s  "
            f"rss {m['rss_kib'] / 1024:7.1f} MiB  {extra}(other processes: "
            f"{m.get('other_cpu', 0):.2f} cpu-s)")


def wait_idle(max_wait):
    """Waits (up to max_wait seconds) until other processes use under 10% of the machine over
    five seconds; returns the seconds waited."""
    t0 = time.monotonic()
    cores = len(os.sched_getaffinity(0))
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(5)
        b1 = busy_cpu_seconds()
        waited = time.monotonic() - t0
        if b0 is None or b1 is None or (b1 - b0) / (5 * cores) < 0.10 or waited >= max_wait:
            return waited
        log(f"  machine busy ({100 * (b1 - b0) / (5 * cores):.0f}% of {cores} cores); waiting")


def tool_env(workdir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RESTIC_") and not k.startswith("OFFSITE_")}
    env["RESTIC_PASSWORD"] = PASSWORD
    env["RESTIC_CACHE_DIR"] = os.path.join(workdir, "cache")
    return env


def ok_runs(ms):
    return [m for m in ms if m.get("rc") == 0]


def med(ms, key):
    vals = [m[key] for m in ok_runs(ms)]
    return statistics.median(vals) if vals and len(vals) == len(ms) else None


def failed(ms):
    return any(m.get("rc") != 0 for m in ms)
