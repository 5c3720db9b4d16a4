"""The dataset: generating it, the seeded modifications and churn, warming the cache, checking restores, and where restores go."""

import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time

from .common import BenchError, GEN, MiB, first_line, log


def ensure_dataset(args, profile):
    name = profile if profile != "scale" else f"scale-{args.scale_files}"
    directory = os.path.join(args.workdir, "datasets", name)
    cmd = [sys.executable, GEN, "--profile", profile, "--dir", directory, "--seed", str(args.seed)]
    if profile == "scale":
        cmd += ["--tiny-files", str(args.scale_files)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise BenchError("scripts/gen-dataset failed")
    stamp = json.loads(p.stdout)
    stamp["dir"] = directory
    stamp["data"] = os.path.realpath(os.path.join(directory, "data"))
    return stamp


def list_files(root):
    out = []
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                out.append(os.path.relpath(p, root))
    out.sort()
    return out


class Modification:
    """Changes 1% of the regular files, the same way on every machine, and undoes it exactly.

    Even-numbered picks get bytes appended, odd ones 64 bytes rewritten in place (appended when
    the file is shorter); every changed file's mtime moves forward one hour. While the dataset
    is modified its stamp is renamed away, so an interrupted benchmark regenerates it."""

    def __init__(self, stamp, seed):
        self.root = stamp["data"]
        self.stamp_path = os.path.join(stamp["dir"], "stamp.json")
        self.seed = seed
        self.saved = []
        self.changed_bytes = 0

    def apply(self):
        os.rename(self.stamp_path, self.stamp_path + ".modified")
        files = list_files(self.root)
        rng = random.Random(self.seed * 1000 + 17)
        picks = rng.sample(files, max(1, len(files) // 100))
        for i, rel in enumerate(picks):
            p = os.path.join(self.root, rel)
            st = os.stat(p)
            with open(p, "r+b") as f:
                if i % 2 == 1 and st.st_size >= 64:
                    off = rng.randrange(st.st_size - 63)
                    f.seek(off)
                    old = f.read(64)
                    new = bytes(0x61 + rng.randrange(26) for _ in range(64))
                    f.seek(off)
                    f.write(new)
                    self.saved.append((p, st, off, old))
                    self.changed_bytes += 64
                else:
                    extra = f"\n# changed by scripts/bench, pick {i}\n".encode() \
                        + rng.randbytes(rng.randrange(16, 4096)).hex().encode()
                    f.seek(0, os.SEEK_END)
                    f.write(extra)
                    self.saved.append((p, st, None, None))
                    self.changed_bytes += len(extra)
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 3600 * 10**9))
        self.count = len(picks)
        self.total = len(files)

    def revert(self):
        for p, st, off, old in reversed(self.saved):
            with open(p, "r+b") as f:
                if off is None:
                    f.truncate(st.st_size)
                else:
                    f.seek(off)
                    f.write(old)
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.saved = []
        os.rename(self.stamp_path + ".modified", self.stamp_path)


class Churn:
    """Rounds of new data for scenario 6, the same on every machine, in a directory of its own
    that is backed up next to the dataset (the dataset itself is never touched: it is cached
    between runs and guarded by its stamp, and undoing ten rounds of Modification-style
    rewrites of the large files would cost more than the rounds).

    Each round first deletes half of the files earlier rounds wrote (a seeded sample), then
    writes new files of random bytes (incompressible, so stored bytes = written bytes; sizes
    from 4 KiB to 4 MiB) until it has written `per_round` bytes. Files live for different
    numbers of rounds, so once old snapshots are forgotten packs are partly used and prune
    repacks some of them instead of only deleting whole packs. `present[i]` records which files
    (and their sizes) snapshot i holds, from which unused_bytes() tells what forgetting all
    but the last K snapshots leaves unreferenced."""

    SIZES = [((4 << 10, 64 << 10), 6), ((64 << 10, 512 << 10), 3), ((512 << 10, 4 << 20), 2)]

    def __init__(self, root, seed, per_round):
        self.root = root
        self.rng = random.Random(seed * 1000 + 29)
        self.per_round = per_round
        self.live = {}
        self.present = []
        self.written = 0

    def step(self):
        rnd = len(self.present)
        for name in self.rng.sample(sorted(self.live), len(self.live) // 2):
            os.remove(os.path.join(self.root, name))
            del self.live[name]
        d = os.path.join(self.root, f"round{rnd:02d}")
        os.makedirs(d, exist_ok=True)
        written, i = 0, 0
        while written < self.per_round:
            (lo, hi), = self.rng.choices([b for b, _ in self.SIZES],
                                         weights=[w for _, w in self.SIZES])
            size = min(self.rng.randrange(lo, hi), max(self.per_round - written, lo))
            name = f"round{rnd:02d}/f{i:05d}.bin"
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(self.rng.randbytes(size))
            self.live[name] = size
            written += size
            i += 1
        self.written += written
        self.present.append(dict(self.live))

    def unused_bytes(self, keep_last):
        """Bytes of the files that only snapshots older than the last keep_last hold."""
        kept = set()
        for snap in self.present[-keep_last:]:
            kept.update(snap)
        gone = {}
        for snap in self.present[:-keep_last]:
            for name, size in snap.items():
                if name not in kept:
                    gone[name] = size
        return sum(gone.values())


def warm_up(root):
    """One untimed read of every file so both tools start from a warm page cache."""
    t0 = time.monotonic()
    subprocess.run(f"find {shlex.quote(root)} -type f -print0 | xargs -0 -r cat > /dev/null",
                   shell=True, check=True)
    return time.monotonic() - t0


def compare_trees(expected, actual, limit=10):
    """Compares a restored tree with the dataset: structure, types, sizes, symlink targets and
    contents are errors; mode and mtime differences of files are warnings."""
    errors, warnings = [], []

    def scan(root):
        entries = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                entries[os.path.relpath(p, root)] = os.lstat(p)
        return entries

    if not os.path.isdir(actual):
        return [f"restored tree {actual} does not exist"], []
    a, b = scan(expected), scan(actual)
    for rel in sorted(set(a) - set(b))[:limit]:
        errors.append(f"missing in restore: {rel}")
    for rel in sorted(set(b) - set(a))[:limit]:
        errors.append(f"unexpected in restore: {rel}")
    for rel in sorted(set(a) & set(b)):
        sa, sb = a[rel], b[rel]
        pa, pb = os.path.join(expected, rel), os.path.join(actual, rel)
        ta, tb = sa.st_mode & 0o170000, sb.st_mode & 0o170000
        if ta != tb:
            errors.append(f"type differs: {rel}")
        elif os.path.islink(pa):
            if os.readlink(pa) != os.readlink(pb):
                errors.append(f"symlink target differs: {rel}")
        elif ta == 0o100000:
            if sa.st_size != sb.st_size:
                errors.append(f"size differs: {rel} ({sa.st_size} vs {sb.st_size})")
            elif not same_content(pa, pb):
                errors.append(f"content differs: {rel}")
            if sa.st_mode & 0o7777 != sb.st_mode & 0o7777:
                warnings.append(f"mode differs: {rel}")
            if sa.st_mtime_ns // 10**9 != sb.st_mtime_ns // 10**9:
                warnings.append(f"mtime differs: {rel}")
        if len(errors) >= limit:
            break
    return errors, warnings


def verify_restore(m, data, target, label, who, problems, warnings):
    """After a successful `restore latest --target TARGET` of the dataset DATA (m: its
    measurement, None or failed: nothing to check): compares TARGET/DATA with DATA, sets
    m["verified"], logs, and adds differences to problems and metadata ones to warnings."""
    if not m or m["rc"] != 0:
        return
    t0 = time.monotonic()
    errs, warns = compare_trees(data, target + data)
    m["verified"] = not errs
    tool = who.rpartition(" ")[2]
    log(f"  {label} {tool:7} verified in {time.monotonic() - t0:.1f} s: "
        + ("identical" if not errs else f"{len(errs)}+ differences")
        + (f" ({len(warns)} metadata warnings)" if warns else ""))
    for e in errs:
        problems.append(f"{who} restore differs: {e}")
    if warns:
        warnings.append(f"{who} restore: {len(warns)} metadata differences, e.g. {warns[0]}")


def same_content(pa, pb):
    with open(pa, "rb") as fa, open(pb, "rb") as fb:
        while True:
            ba, bb = fa.read(MiB), fb.read(MiB)
            if ba != bb:
                return False
            if not ba:
                return True


def dir_bytes(path):
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for n in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                pass
    return total


def fs_type(path):
    t = first_line(["findmnt", "-n", "-o", "FSTYPE", "-T", path])
    return t if t != "?" else first_line(["stat", "-f", "-c", "%T", path])


def choose_restore_dir(args, biggest):
    """Sets args.restore_base (where restores and dump outputs go), args.restore_reason and
    args.restore_created. biggest: the larger of the datasets (one restore or dump output at
    a time lives there)."""
    if args.restore_dir:
        base = os.path.abspath(args.restore_dir)
        reason = "--restore-dir"
    else:
        shm = "/dev/shm"
        shm_type = fs_type(shm) if os.path.isdir(shm) else "missing"
        free = shutil.disk_usage(shm).free if shm_type == "tmpfs" else 0
        if shm_type == "tmpfs" and free >= 3 * biggest:
            # One name per work dir, so a run killed before its clean-up is cleaned by the next.
            tag = hashlib.sha256(args.workdir.encode()).hexdigest()[:8]
            base = os.path.join(shm, f"offsite-bench-restore-{tag}")
            reason = "default: /dev/shm is a tmpfs with at least 3× the dataset free"
        else:
            base = os.path.join(args.workdir, "restore")
            reason = ("default: /dev/shm is " + (f"{shm_type}, not a tmpfs"
                      if shm_type != "tmpfs" else
                      f"a tmpfs with only {free / 1e9:.1f} GB free, under 3× the dataset")
                      + ", so the work dir")
    args.restore_created = not os.path.exists(base)
    os.makedirs(base, exist_ok=True)
    args.restore_base = base
    args.restore_reason = reason
    free = shutil.disk_usage(base).free
    if free < 1.2 * biggest:
        log(f"warning: {free / 1e9:.1f} GB free in the restore dir {base}, about "
            f"{biggest / 1e9:.1f} GB needed")
