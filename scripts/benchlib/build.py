"""Building the offsite binary the benchmark runs (release, its own scratch path, or a git revision)."""

import os
import shlex
import shutil
import subprocess
import time

from .common import BenchError, ROOT, log, run


def build_offsite(args):
    """Returns (binary path, description of what was built)."""
    if args.offsite:
        path = os.path.abspath(args.offsite)
        if not os.access(path, os.X_OK):
            raise BenchError(f"--offsite {path}: not an executable")
        return path, f"prebuilt binary {path}"
    if args.rev:
        sha = run(["git", "-C", ROOT, "rev-parse", "--verify", args.rev + "^{commit}"])
        if sha.returncode != 0:
            raise BenchError(f"--rev {args.rev}: {sha.stderr.strip()}")
        sha = sha.stdout.strip()
        src = os.path.join(args.workdir, "src", sha[:12])
        if not os.path.exists(os.path.join(src, "Package.swift")):
            shutil.rmtree(src, ignore_errors=True)
            os.makedirs(src)
            archive = subprocess.Popen(["git", "-C", ROOT, "archive", sha], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
            if archive.wait() != 0:
                raise BenchError(f"git archive {sha} failed")
            resolved = os.path.join(ROOT, "Package.resolved")
            if os.path.exists(resolved) and not os.path.exists(os.path.join(src, "Package.resolved")):
                shutil.copy(resolved, src)  # same dependency versions as the working tree
        desc = f"git {sha[:12]} ({args.rev}), built from a clean export"
        build_dir = src
    else:
        head = run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--", "Sources",
                     "Package.swift"]).stdout.strip()
        desc = f"git {head or '?'}" + (" + uncommitted changes in Sources/" if dirty else "") \
            + ", working tree"
        build_dir = ROOT
    binary = os.path.join(build_dir, ".build-bench", "release", "offsite")
    if args.no_build:
        if not os.access(binary, os.X_OK):
            raise BenchError(f"--no-build: {binary} does not exist")
        return binary, desc + " (not rebuilt: --no-build)"
    cmd = ["swift", "build", "-c", "release", "--scratch-path", ".build-bench", "--product",
           "offsite"]
    for attempt in range(1, 4):
        log(f"build: {shlex.join(cmd)} (in {build_dir})")
        t0 = time.monotonic()
        p = run(cmd, cwd=build_dir)
        if p.returncode == 0:
            log(f"build: done in {time.monotonic() - t0:.0f} s")
            return binary, desc
        text = p.stdout + p.stderr
        # Someone editing Sources/ while we compile: try again on the new state.
        if "modified during the build" in text and attempt < 3:
            log("build: a source file changed during the build; building again")
            continue
        log(text[-4000:])
        raise BenchError("swift build failed")
    raise BenchError("swift build failed")
