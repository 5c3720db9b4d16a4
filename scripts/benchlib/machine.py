"""The machine: its description and limits (openssl, zstd, dd)."""

import datetime
import os
import platform
import re
import shutil

from .common import MiB, first_line, log, run
from .dataset import fs_type, list_files


def machine_info(args, binaries, offsite_desc):
    info = {}
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = model
    info["cores"] = os.cpu_count()
    info["usable_cores"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["ram"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        info["ram"] = "?"
    u = platform.uname()
    info["kernel"] = f"{u.system} {u.release} {u.machine}"
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    info["os"] = osname
    du = shutil.disk_usage(args.workdir)
    fstype = first_line(["findmnt", "-n", "-o", "FSTYPE", "-T", args.workdir])
    if fstype == "?":
        fstype = first_line(["stat", "-f", "-c", "%T", args.workdir])
    info["disk"] = (f"{args.workdir}: {fstype}, {du.free / 1e9:.1f} GB free of "
                    f"{du.total / 1e9:.1f} GB")
    if getattr(args, "restore_base", None):
        du = shutil.disk_usage(args.restore_base)
        info["restore_fstype"] = fs_type(args.restore_base)
        info["restore_dir"] = (f"{args.restore_base}: {info['restore_fstype']}, "
                               f"{du.free / 1e9:.1f} GB free of {du.total / 1e9:.1f} GB "
                               f"({args.restore_reason})")
    info["restic"] = first_line([binaries["restic"], "version"]) + f" ({binaries['restic']})"
    info["offsite"] = first_line([binaries["offsite"], "version"]) + f"; {offsite_desc}"
    info["swift"] = first_line(["swift", "--version"])
    info["python"] = platform.python_version()
    try:
        with open("/proc/loadavg") as f:
            info["loadavg"] = " ".join(f.read().split()[:3])
    except OSError:
        info["loadavg"] = "?"
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def openssl_speed(alg):
    p = run(["openssl", "speed", "-evp", alg, "-bytes", "16384", "-seconds", "1"])
    for line in reversed(p.stdout.splitlines()):
        m = re.match(r"^(\S+)\s+([\d.]+)k\s*$", line.strip())
        if m:
            return float(m.group(2)) * 1000
    return None


def dd_mbps(text):
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", text)
    return int(m.group(1)) / float(m.group(2)) if m else None


def machine_limits(args, stamp):
    """Single-core crypto and compression throughput and sequential disk speed, in B/s."""
    lim = {}
    d = os.path.join(args.workdir, "limits")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    log("limits: openssl speed sha256, aes-256-ctr")
    lim["sha256"] = openssl_speed("sha256")
    lim["aes"] = openssl_speed("aes-256-ctr")
    # zstd -b3 on a mix of the dataset: the start of every large compressible file plus
    # small source files, ~64 MiB in full mode.
    sample = os.path.join(d, "zstd-sample")
    budget = 64 * MiB if not args.quick else 8 * MiB
    per_large = budget // 4
    with open(sample, "wb") as out:
        written = 0
        files = list_files(stamp["data"])
        large = [f for f in files if f.startswith(("logs/", "data/"))]
        for rel in large:
            with open(os.path.join(stamp["data"], rel), "rb") as f:
                chunk = f.read(per_large)
            out.write(chunk)
            written += len(chunk)
        for rel in files:
            if written >= budget:
                break
            if rel.startswith(("logs/", "data/", "blobs/")):
                continue
            with open(os.path.join(stamp["data"], rel), "rb") as f:
                chunk = f.read()
            out.write(chunk)
            written += len(chunk)
    log("limits: zstd -b3")
    p = run(["zstd", "-b3", "-i3", sample])
    text = (p.stdout + p.stderr).replace("\r", "\n")
    m = None
    for line in text.splitlines():
        mm = re.search(r"\(x?([\d.]+)\),\s*([\d.]+) MB/s,\s*([\d.]+) MB/s", line)
        if mm:
            m = mm
    if m:
        lim["zstd_ratio"] = float(m.group(1))
        lim["zstd_c"] = float(m.group(2)) * 1e6
        lim["zstd_d"] = float(m.group(3)) * 1e6
    lim["zstd_sample"] = os.path.getsize(sample)
    os.remove(sample)
    # Disk: sequential write with fdatasync, then read with O_DIRECT (bypasses the page cache).
    count = 64 if args.quick else 1024
    ddfile = os.path.join(d, "dd.bin")
    log(f"limits: dd write/read {count} MiB in {d}")
    p = run(["dd", "if=/dev/zero", f"of={ddfile}", "bs=1M", f"count={count}", "conv=fdatasync"])
    lim["disk_write"] = dd_mbps(p.stderr)
    p = run(["dd", f"if={ddfile}", "of=/dev/null", "bs=1M", "iflag=direct"])
    lim["disk_read_direct"] = p.returncode == 0
    if p.returncode != 0:
        p = run(["dd", f"if={ddfile}", "of=/dev/null", "bs=1M"])
    lim["disk_read"] = dd_mbps(p.stderr)
    lim["dd_mib"] = count
    shutil.rmtree(d, ignore_errors=True)
    return lim
