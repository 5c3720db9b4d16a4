"""The scenarios: backups and restore, dump, maintenance (prune and check) and the cloud backup and restore."""

import json
import os
import shlex
import shutil
import subprocess
import time

from .common import BenchError, CLOUD_SCENARIOS, MAINT_ROUNDS, MAINT_ROUND_SHARE, MAINT_UNUSED_GOAL, MiB, log, run
from .dataset import Churn, Modification, dir_bytes, list_files, same_content, verify_restore, warm_up
from .measure import measure, record_step, tool_env, wait_idle
from .servers import ConnectionSampler, MotoServer, cloud_env, moto_version, request_summary



def init_tool_repository(binaries, tool, base, envs, problems, label):
    """Makes BASE/TOOL/logs and the repository BASE/TOOL/repo (init, untimed), with the tool's
    environment in envs[tool]; None, with a problem noted under `label`, when init fails."""
    os.makedirs(os.path.join(base, tool, "logs"))
    envs[tool] = tool_env(os.path.join(base, tool))
    repo = os.path.join(base, tool, "repo")
    p = run([binaries[tool], "-r", repo, "init"], env=envs[tool])
    if p.returncode != 0:
        problems.append(f"{label}: {tool} init failed: {p.stderr.strip()[-500:]}")
        return None
    return repo

def run_benchmark(args, stamp, binaries, scenarios):
    """Returns {scenario: {tool: [measurement per run]}}, repository sizes and problems."""
    results = {s: {t: [] for t in args.tools} for s in scenarios}
    results["_open"] = {t: [] for t in args.tools}
    kdf = {}
    repo_sizes = {t: {"initial": [], "modified": []} for t in args.tools}
    problems = []  # correctness problems: tool failures and restore differences
    warnings = []
    data = stamp["data"]
    modification_info = None
    for r in range(args.runs):
        order = list(args.tools) if r % 2 == 0 else list(reversed(args.tools))
        rundir = os.path.join(args.workdir, "runs", f"run{r + 1}")
        shutil.rmtree(rundir, ignore_errors=True)
        failed = set()
        envs = {}
        for tool in args.tools:
            repo = init_tool_repository(binaries, tool, rundir, envs, problems, f"run {r + 1}")
            if repo is None:
                failed.add(tool)
                continue
            try:
                keydir = os.path.join(repo, "keys")
                with open(os.path.join(keydir, os.listdir(keydir)[0])) as f:
                    k = json.load(f)
                kdf[tool] = f"{k['kdf']} N={k['N']} r={k['r']} p={k['p']}"
            except (OSError, ValueError, KeyError, IndexError):
                kdf[tool] = "?"
        if args.wait_idle:
            waited = wait_idle(args.wait_idle)
            if waited > 6:
                log(f"[run {r + 1}/{args.runs}] waited {waited:.0f} s for an idle machine")
        warm = warm_up(data)
        log(f"[run {r + 1}/{args.runs}] warm-up read of the dataset: {warm:.1f} s; order: "
            + ", ".join(order))

        def step(scenario, tool, cmd):
            if tool in failed:
                results[scenario][tool].append({"rc": -1, "error": "skipped: earlier failure"})
                return None
            prefix = os.path.join(rundir, tool, "logs", scenario)
            m = measure([binaries[tool]] + cmd, envs[tool], prefix, args.cpus, args.timeout)
            record_step(m, results[scenario][tool], failed, problems, f"run {r + 1}: {tool}",
                        scenario)
            return m

        def backup(scenario):
            for tool in order:
                repo = os.path.join(rundir, tool, "repo")
                step(scenario, tool, ["-r", repo, "backup", data, "--quiet"])

        backup("initial")
        for tool in args.tools:
            repo_sizes[tool]["initial"].append(dir_bytes(os.path.join(rundir, tool, "repo")))
        # The fixed cost in every command: open the repository (key derivation, index).
        for tool in order:
            if tool not in failed:
                repo = os.path.join(rundir, tool, "repo")
                m = measure([binaries[tool], "-r", repo, "snapshots", "--quiet"], envs[tool],
                            os.path.join(rundir, tool, "logs", "open"), args.cpus, args.timeout)
                results["_open"][tool].append(m)
        backup("unchanged")
        if "modified" in scenarios:
            mod = Modification(stamp, args.seed)
            mod.apply()
            try:
                modification_info = (mod.count, mod.total, mod.changed_bytes)
                backup("modified")
                for tool in args.tools:
                    repo_sizes[tool]["modified"].append(
                        dir_bytes(os.path.join(rundir, tool, "repo")))
                if "restore" in scenarios:
                    # Restores go under --restore-dir (a tmpfs by default), one directory per
                    # run, removed afterwards whatever happens.
                    restore_run = os.path.join(args.restore_base, f"run{r + 1}")
                    shutil.rmtree(restore_run, ignore_errors=True)
                    try:
                        for tool in order:
                            target = os.path.join(restore_run, tool)
                            repo = os.path.join(rundir, tool, "repo")
                            m = step("restore", tool, ["-r", repo, "restore", "latest",
                                                       "--target", target, "--quiet"])
                            verify_restore(m, data, target, "restore  ", f"run {r + 1}: {tool}",
                                           problems, warnings)
                            shutil.rmtree(target, ignore_errors=True)
                    finally:
                        shutil.rmtree(restore_run, ignore_errors=True)
            finally:
                mod.revert()
        if not args.keep:
            shutil.rmtree(rundir, ignore_errors=True)
    results["_kdf"] = kdf
    return results, repo_sizes, problems, warnings, modification_info


def run_dump(args, dstamp, binaries):
    """Scenario 5: each tool backs the one large file of the dump dataset up into a fresh
    repository (not timed), then each run times `TOOL -r REPO dump latest FILE > OUT` and the
    disk-speed baseline `cat FILE > OUT`, OUT under --restore-dir; every output is compared
    with the file. Returns ({tool or "baseline": [measurement per run]}, info, problems)."""
    who = list(args.tools) + ["baseline"]
    res = {w: [] for w in who}
    problems = []
    data = dstamp["data"]
    files = list_files(data)
    if len(files) != 1:
        raise BenchError(f"{data}: the dump dataset should hold one file, not {len(files)}")
    # Backups name the dataset by its absolute path, so that is the file's path in the snapshot.
    src = os.path.join(data, files[0])
    size = os.path.getsize(src)
    base = os.path.join(args.workdir, "runs", "dump")
    out_dir = os.path.join(args.restore_base, "dump")
    shutil.rmtree(base, ignore_errors=True)
    failed = set()
    envs = {"baseline": tool_env(os.path.join(base, "baseline"))}
    backup_walls = {}
    os.makedirs(os.path.join(base, "baseline", "logs"))
    try:
        for tool in args.tools:
            repo = init_tool_repository(binaries, tool, base, envs, problems, "dump")
            if repo is None:
                failed.add(tool)
                continue
            t0 = time.monotonic()
            p = run([binaries[tool], "-r", repo, "backup", data, "--quiet"], env=envs[tool])
            if p.returncode != 0:
                problems.append(f"dump: {tool} backup failed: {p.stderr.strip()[-500:]}")
                failed.add(tool)
                continue
            backup_walls[tool] = time.monotonic() - t0
            log(f"dump: {tool} backed up {src} ({size / MiB:,.0f} MiB) in "
                f"{backup_walls[tool]:.1f} s (not timed)")
        for r in range(args.runs):
            order = who if r % 2 == 0 else list(reversed(who))
            if args.wait_idle:
                waited = wait_idle(args.wait_idle)
                if waited > 6:
                    log(f"[dump run {r + 1}/{args.runs}] waited {waited:.0f} s for an idle "
                        "machine")
            warm = warm_up(data) + warm_up(base)
            log(f"[dump run {r + 1}/{args.runs}] warm-up read of the file and the repositories: "
                f"{warm:.1f} s; order: " + ", ".join(order))
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            for w in order:
                if w in failed:
                    res[w].append({"rc": -1, "error": "skipped: earlier failure"})
                    continue
                out = os.path.join(out_dir, w)
                if w == "baseline":
                    cmd = ["cat", src]
                else:
                    cmd = [binaries[w], "-r", os.path.join(base, w, "repo"), "dump", "latest", src]
                m = measure(cmd, envs[w], os.path.join(base, w, "logs", f"dump-run{r + 1}"),
                            args.cpus, args.timeout, stdout_path=out)
                res[w].append(m)
                if m["rc"] != 0:
                    failed.add(w)
                    problems.append(f"dump run {r + 1}: {w}: {m.get('error')}")
                    log(f"  dump      {w:8} FAILED: {m.get('error', '')[:300]}")
                else:
                    got = os.path.getsize(out)
                    same = got == size and same_content(src, out)
                    m["verified"] = same
                    if not same:
                        problems.append(f"dump run {r + 1}: {w} output differs from {src}"
                                        + (f" ({got:,} bytes, not {size:,})" if got != size
                                           else " (same size, other bytes)"))
                    log(f"  dump      {w:8} wall {m['wall']:7.2f} s  cpu {m['cpu']:7.2f} s  "
                        f"rss {m['rss_kib'] / 1024:7.1f} MiB  "
                        + ("identical" if same else "DIFFERS") + f"  (other processes: "
                        f"{m.get('other_cpu', 0):.2f} cpu-s)")
                os.remove(out)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    info = {"file": src, "bytes": size, "backup_walls": backup_walls,
            "profile": dstamp["profile"], "fingerprint": dstamp["fingerprint"]}
    return res, info, problems


def prune_plan(path):
    """The statistics prune prints before it acts (restic's format, which offsite's follows):
    {"to repack": "422 blobs / 29.429 MiB", "total prune": ..., "remaining": ...}."""
    plan = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                k, sep, v = line.partition(":")
                if sep and k.strip() in ("to repack", "total prune", "remaining"):
                    plan[k.strip()] = " ".join(v.split())
    except OSError:
        pass
    return plan


def run_maintenance(args, stamp, binaries, mode):
    """Scenario 6. Not timed: each tool backs the dataset plus a Churn directory up into its own
    repository, then MAINT_ROUNDS rounds of churn each followed by a backup (the same files for
    both tools, the tools in lockstep), then `forget --keep-last K` with the tool itself (restic
    forget when offsite's fails), K chosen so that ~30% of the stored bytes become unused.
    Each run then copies every tool's repository (and restic's cache) with `cp -a`, untimed,
    and times `TOOL -r COPY prune` and then `TOOL -r COPY check --read-data`; after both,
    `restic check` (untimed) must pass on offsite's pruned copy too. Returns
    ({"prune": {tool: [m]}, "check": {tool: [m]}}, info, problems, warnings)."""
    res = {"prune": {t: [] for t in args.tools}, "check": {t: [] for t in args.tools}}
    problems, warnings = [], []
    base = os.path.join(args.workdir, "runs", "maintenance")
    shutil.rmtree(base, ignore_errors=True)
    churn_dir = os.path.join(base, "churn")
    os.makedirs(churn_dir)
    rounds = MAINT_ROUNDS[mode]
    churn = Churn(churn_dir, args.seed, int(stamp["bytes"] * MAINT_ROUND_SHARE[mode]))
    info = {"rounds": rounds, "per_round": churn.per_round, "forget_with": {},
            "sizes": {}, "build_walls": {}}
    failed = set()
    envs, repos = {}, {}
    have_restic = os.access(args.restic, os.X_OK)

    def untimed(tool, cmd, what, binary=None):
        p = run([binary or binaries[tool], "-r", repos[tool]] + cmd, env=envs[tool])
        if p.returncode != 0:
            problems.append(f"maintenance: {tool} {what} failed: {p.stderr.strip()[-500:]}")
            failed.add(tool)
        return p

    try:
        for tool in args.tools:
            os.makedirs(os.path.join(base, tool, "logs"))
            envs[tool] = tool_env(os.path.join(base, tool))
            repos[tool] = os.path.join(base, tool, "repo")
            untimed(tool, ["init"], "init")
            info["build_walls"][tool] = 0.0
        for rnd in range(rounds + 1):
            churn.step()
            for tool in args.tools:
                if tool not in failed:
                    t0 = time.monotonic()
                    untimed(tool, ["backup", stamp["data"], churn_dir, "--quiet"],
                            f"backup {rnd}")
                    info["build_walls"][tool] += time.monotonic() - t0
        # K: the number of kept snapshots whose unused share is nearest the goal, from the
        # known files and the repositories' measured sizes (restic's when there is one).
        sizes = {t: dir_bytes(repos[t]) for t in args.tools if t not in failed}
        total = sizes.get("restic") or next(iter(sizes.values()), 0)
        keep = min(range(1, rounds + 1), key=lambda k: abs(
            churn.unused_bytes(k) / max(total, 1) - MAINT_UNUSED_GOAL))
        info.update(keep=keep, snapshots=rounds + 1, churn_written=churn.written,
                    unused_estimate=churn.unused_bytes(keep) / max(total, 1))
        log(f"maintenance: {rounds + 1} snapshots, {churn.written / 1e6:,.0f} MB of churn; "
            f"forget --keep-last {keep} leaves ~{100 * info['unused_estimate']:.0f}% unused; "
            "built in " + ", ".join(f"{t} {w:.0f} s" for t, w in info["build_walls"].items())
            + " (not timed)")
        for tool in args.tools:
            if tool in failed:
                continue
            p = run([binaries[tool], "-r", repos[tool], "forget", "--keep-last", str(keep)],
                    env=envs[tool])
            info["forget_with"][tool] = tool
            if p.returncode != 0 and tool != "restic":
                warnings.append(f"maintenance: `{tool} forget` failed, used restic forget: "
                                f"{p.stderr.strip()[-300:]}")
                info["forget_with"][tool] = "restic"
                p = untimed(tool, ["forget", "--keep-last", str(keep)], "forget",
                            binary=args.restic)
            elif p.returncode != 0:
                problems.append(f"maintenance: {tool} forget failed: {p.stderr.strip()[-500:]}")
                failed.add(tool)
            if tool in failed:
                continue
            n = keep
            if have_restic:
                p = run([args.restic, "-r", repos[tool], "--no-cache", "snapshots", "--json"],
                        env=envs[tool])
                try:
                    n = len(json.loads(p.stdout or "null") or [])
                except ValueError:
                    n = -1
            if n != keep:
                problems.append(f"maintenance: after {info['forget_with'][tool]} forget "
                                f"--keep-last {keep}, restic lists {n} snapshots in {tool}'s "
                                "repository")
                failed.add(tool)
            info["sizes"][tool] = dir_bytes(repos[tool])

        for r in range(args.runs):
            order = list(args.tools) if r % 2 == 0 else list(reversed(args.tools))
            if args.wait_idle:
                waited = wait_idle(args.wait_idle)
                if waited > 6:
                    log(f"[maintenance run {r + 1}/{args.runs}] waited {waited:.0f} s for an "
                        "idle machine")
            log(f"[maintenance run {r + 1}/{args.runs}] order: " + ", ".join(order))
            for tool in order:
                if tool in failed:
                    for s in ("prune", "check"):
                        res[s][tool].append({"rc": -1, "error": "skipped: earlier failure"})
                    continue
                copy = os.path.join(base, tool, f"run{r + 1}")
                shutil.rmtree(copy, ignore_errors=True)
                os.makedirs(copy)
                subprocess.run(["cp", "-a", repos[tool], os.path.join(copy, "repo")], check=True)
                cache = os.path.join(base, tool, "cache")
                if os.path.isdir(cache):
                    subprocess.run(["cp", "-a", cache, os.path.join(copy, "cache")], check=True)
                env = tool_env(copy)
                repo = os.path.join(copy, "repo")
                warm_up(copy)
                before = dir_bytes(repo)
                logs = os.path.join(base, tool, "logs")
                ok = True
                for s, cmd in (("prune", ["prune"]), ("check", ["check", "--read-data"])):
                    if not ok:
                        res[s][tool].append({"rc": -1, "error": "skipped: prune failed"})
                        continue
                    m = measure([binaries[tool], "-r", repo] + cmd, env,
                                os.path.join(logs, f"{s}-run{r + 1}"), args.cpus, args.timeout)
                    res[s][tool].append(m)
                    extra = ""
                    if s == "prune":
                        m["size_before"], m["size_after"] = before, dir_bytes(repo)
                        m["plan"] = prune_plan(os.path.join(logs, f"{s}-run{r + 1}.out"))
                        extra = (f"  repo {before / 1e6:,.1f} -> {m['size_after'] / 1e6:,.1f} MB")
                    if m["rc"] != 0:
                        ok = False
                        problems.append(f"maintenance run {r + 1}: {tool} {shlex.join(cmd)}: "
                                        f"{m.get('error')}")
                        log(f"  {s:9} {tool:7} FAILED: {m.get('error', '')[:300]}")
                    else:
                        log(f"  {s:9} {tool:7} wall {m['wall']:7.2f} s  cpu {m['cpu']:7.2f} s  "
                            f"rss {m['rss_kib'] / 1024:7.1f} MiB{extra}  (other processes: "
                            f"{m.get('other_cpu', 0):.2f} cpu-s)")
                if ok and tool != "restic" and have_restic:
                    # The tool's own check passed (timed above); restic must agree.
                    p = run([args.restic, "-r", repo, "--no-cache", "check"], env=env)
                    res["check"][tool][-1]["restic_check"] = p.returncode == 0
                    if p.returncode != 0:
                        problems.append(f"maintenance run {r + 1}: restic check of {tool}'s "
                                        f"pruned repository failed: "
                                        f"{(p.stdout + p.stderr).strip()[-500:]}")
                        log(f"  restic check of {tool}'s pruned copy FAILED")
                    else:
                        log(f"  restic check of {tool}'s pruned copy: no errors")
                if not args.keep:
                    shutil.rmtree(copy, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return res, info, problems, warnings


def run_cloud(args, stamp, binaries):
    """Scenario 7. Per run: a fresh moto S3 server on loopback, each tool's repository in its
    own bucket (`s3:http://127.0.0.1:PORT/bench-TOOL`, init not timed), an untimed read of the
    dataset, then `TOOL -r URL backup DATASET --quiet` (7a) and `TOOL -r URL restore latest
    --target DIR --quiet` (7b, DIR under --restore-dir, compared with the dataset), the tools
    alternating which goes first; moto is stopped at the end of the run. Every timed command
    also records the requests moto logged for it, the peak number of open connections and
    moto's CPU time meanwhile (subtracted from the "other processes" noise). Returns
    ({"cloud-backup": {tool: [m]}, "cloud-restore": {tool: [m]}}, info, problems, warnings)."""
    res = {s: {t: [] for t in args.tools} for s in CLOUD_SCENARIOS}
    problems, warnings = [], []
    info = {"moto": moto_version(), "stored": {},
            "moto_rss": [], "moto_cpu": []}
    data = stamp["data"]
    base = os.path.join(args.workdir, "runs", "cloud")
    restore_base = os.path.join(args.restore_base, "cloud")
    shutil.rmtree(base, ignore_errors=True)
    try:
        for r in range(args.runs):
            order = list(args.tools) if r % 2 == 0 else list(reversed(args.tools))
            rundir = os.path.join(base, f"run{r + 1}")
            os.makedirs(rundir)
            moto = MotoServer(os.path.join(rundir, "moto.log"), os.path.join(rundir, "moto-tmp"))
            failed = set()
            envs, repos = {}, {}
            try:
                port = moto.start()
                cpu_start = moto.cpu_seconds()
                for tool in args.tools:
                    os.makedirs(os.path.join(rundir, tool, "logs"))
                    envs[tool] = cloud_env(os.path.join(rundir, tool))
                    repos[tool] = f"s3:http://127.0.0.1:{port}/bench-{tool}"
                    p = run([binaries[tool], "-r", repos[tool], "init"], env=envs[tool])
                    if p.returncode != 0:
                        problems.append(f"cloud run {r + 1}: {tool} init failed: "
                                        f"{(p.stdout + p.stderr).strip()[-500:]}")
                        failed.add(tool)
                if args.wait_idle:
                    waited = wait_idle(args.wait_idle)
                    if waited > 6:
                        log(f"[cloud run {r + 1}/{args.runs}] waited {waited:.0f} s for an idle "
                            "machine")
                warm = warm_up(data)
                log(f"[cloud run {r + 1}/{args.runs}] moto on 127.0.0.1:{port}; warm-up read of "
                    f"the dataset: {warm:.1f} s; order: " + ", ".join(order))

                def step(scenario, tool, cmd):
                    if tool in failed:
                        res[scenario][tool].append({"rc": -1, "error": "skipped: earlier failure"})
                        return None
                    prefix = os.path.join(rundir, tool, "logs", scenario)
                    off0, cpu0 = moto.log_size(), moto.cpu_seconds()
                    with ConnectionSampler(moto.proc.pid) as conns:
                        m = measure([binaries[tool], "-r", repos[tool]] + cmd, envs[tool],
                                    prefix, args.cpus, args.timeout)
                    time.sleep(0.2)  # moto logs a request after answering it
                    cpu1 = moto.cpu_seconds()
                    reqs = request_summary(moto.requests(off0, moto.log_size()))
                    m["requests"] = reqs
                    m["peak_connections"] = conns.peak
                    if cpu0 is not None and cpu1 is not None:
                        m["server_cpu"] = cpu1 - cpu0
                        if "other_cpu" in m:
                            m["other_cpu"] = max(0.0, m["other_cpu"] - m["server_cpu"])
                    record_step(m, res[scenario][tool], failed, problems,
                                f"cloud run {r + 1}: {tool}", scenario,
                                f"{reqs['total']} requests, peak {conns.peak} connections, moto "
                                f"{m.get('server_cpu', 0):.2f} cpu-s  ")
                    return m

                for tool in order:
                    step("cloud-backup", tool, ["backup", data, "--quiet"])
                for tool in args.tools:
                    if tool not in failed:
                        usage = moto.bucket_usage(f"bench-{tool}")
                        if usage:
                            info["stored"].setdefault(tool, []).append(usage)
                shutil.rmtree(restore_base, ignore_errors=True)
                for tool in order:
                    target = os.path.join(restore_base, tool)
                    m = step("cloud-restore", tool, ["restore", "latest", "--target", target,
                                                     "--quiet"])
                    verify_restore(m, data, target, "cloud-restore", f"cloud run {r + 1}: {tool}",
                                   problems, warnings)
                    shutil.rmtree(target, ignore_errors=True)
                cur, peak = moto.rss_kib()
                if peak is not None:
                    info["moto_rss"].append(peak)
                cpu_end = moto.cpu_seconds()
                if cpu_start is not None and cpu_end is not None:
                    info["moto_cpu"].append(cpu_end - cpu_start)
            finally:
                moto.stop()
                shutil.rmtree(restore_base, ignore_errors=True)
                shutil.rmtree(os.path.join(rundir, "moto-tmp"), ignore_errors=True)
                if not args.keep:
                    shutil.rmtree(rundir, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return res, info, problems, warnings
