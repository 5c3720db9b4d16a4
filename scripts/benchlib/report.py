"""Judging the figures against the targets and writing the Markdown report."""

import os
import statistics

from .common import MARK_BEGIN, MARK_END, MiB, TMPFS_WHY
from .measure import failed, med, ok_runs


def fmt(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def judge(scenario_def, res, tools):
    """Returns {'wall': (target text, result), 'rss': (...)}; result is PASS/FAIL/— ."""
    out = {"wall": ("—", ""), "rss": ("—", ""), "cpu": ("—", "")}
    off = res.get("offsite", [])
    rst = res.get("restic", [])
    both = "offsite" in tools and "restic" in tools
    if any(m.get("rc") != 0 for m in off):
        # offsite failed: every target of the scenario is missed.
        for key in ("wall", "rss"):
            if scenario_def.get(key + "_ratio") is not None or (
                    key == "rss" and scenario_def.get("rss_abs_mb") is not None):
                out[key] = ("offsite failed", "FAIL")
        if scenario_def.get("baseline_ratio") is not None:
            out["baseline"] = ("offsite failed", "FAIL")
        return out
    wr = scenario_def.get("wall_ratio")
    if wr is not None and both:
        r = ratio(med(off, "wall"), med(rst, "wall"))
        out["wall"] = (f"≤ {wr}× restic", "—" if r is None else ("PASS" if r <= wr else "FAIL"))
    rr = scenario_def.get("rss_ratio")
    if rr is not None and both:
        pairs = [(a, b) for a, b in zip(off, rst) if a.get("rc") == 0 and b.get("rc") == 0]
        if len(pairs) == len(off) and pairs:
            good = all(a["rss_kib"] <= rr * b["rss_kib"] for a, b in pairs)
            out["rss"] = ("≤ restic, every run", "PASS" if good else "FAIL")
        else:
            out["rss"] = ("≤ restic, every run", "—")
    br = scenario_def.get("baseline_ratio")
    if br is not None and "offsite" in tools:
        r = ratio(med(off, "wall"), med(res.get("baseline", []), "wall"))
        out["baseline"] = (f"≤ {br}× baseline copy",
                           "—" if r is None else ("PASS" if r <= br else "FAIL"))
    ra = scenario_def.get("rss_abs_mb")
    if ra is not None and "offsite" in tools:
        ok = ok_runs(off)
        if ok and len(ok) == len(off):
            worst = max(m["rss_kib"] * 1024 for m in ok)
            out["rss"] = (f"offsite < {ra} MB", "PASS" if worst < ra * 1e6 else "FAIL")
        else:
            out["rss"] = (f"offsite < {ra} MB", "—")
    return out


def verdict(judged, note):
    target, result = judged
    if result in ("PASS", "FAIL"):
        return f"{target}: **{result}**{note}"
    return target


def scenario_table(sdef, res, tools, judged_note):
    j = judge(sdef, res, tools)
    cols = list(tools)
    head = "| | " + " | ".join(cols) + (" | offsite/restic" if len(cols) == 2 else "") \
        + " | target | result |"
    sep = "|---|" + "---:|" * len(cols) + ("---:|" if len(cols) == 2 else "") + "---|---|"
    rows = [head, sep]
    for key, label, conv in (("wall", "wall (s)", 1.0), ("cpu", "CPU user+sys (s)", 1.0),
                             ("rss_kib", "peak RSS (MiB)", 1 / 1024)):
        vals = [med(res.get(t, []), key) for t in cols]
        vals = [None if v is None else v * conv for v in vals]
        cells = [fmt(v, 2 if key != "rss_kib" else 1) for v in vals]
        for i, t in enumerate(cols):
            if any(m.get("rc") not in (0, None) for m in res.get(t, [])):
                cells[i] = "**error**"
        line = f"| {label} | " + " | ".join(cells)
        if len(cols) == 2:
            r = ratio(vals[0], vals[1])
            line += " | " + ("—" if r is None else f"{r:.2f}×")
        jk = {"wall": "wall", "cpu": "cpu", "rss_kib": "rss"}[key]
        target, result = j[jk]
        if result in ("PASS", "FAIL"):
            result = f"**{result}**" + judged_note
        line += f" | {target} | {result} |"
        rows.append(line)
    return "\n".join(rows), j


def dump_table(sdef, res, tools, size, judged_note):
    """Rows: each tool's dump and the baseline copy; wall, CPU, RSS, throughput, ratios."""
    labels = {"offsite": "offsite dump", "restic": "restic dump",
              "baseline": "baseline copy (`cat`)"}
    who = [w for w in list(tools) + ["baseline"] if w in res]
    walls = {w: med(res[w], "wall") for w in who}
    rows = ["| command | wall (s) | CPU user+sys (s) | peak RSS (MiB) | MB/s | wall ÷ restic dump "
            "| wall ÷ baseline |", "|---|---:|---:|---:|---:|---:|---:|"]
    for w in who:
        if failed(res[w]):
            cells = ["**error**"] * 4
        else:
            rss = med(res[w], "rss_kib")
            cells = [fmt(walls[w]), fmt(med(res[w], "cpu")), fmt(rss and rss / 1024, 1),
                     "—" if not walls[w] else f"{size / 1e6 / walls[w]:,.0f}"]
        rr = ratio(walls[w], walls.get("restic"))
        rb = ratio(walls[w], walls.get("baseline"))
        cells += ["—" if rr is None else f"{rr:.2f}×", "—" if rb is None else f"{rb:.2f}×"]
        rows.append(f"| {labels[w]} | " + " | ".join(cells) + " |")
    j = judge(sdef, res, tools)
    verdicts = []
    for key, what in (("wall", "offsite/restic wall"), ("baseline", "offsite/baseline wall")):
        if key in j and j[key][0] != "—":
            target, result = j[key]
            verdicts.append(f"{what} {target}" + (f": **{result}**{judged_note}"
                                                   if result in ("PASS", "FAIL") else ""))
    text = "\n".join(rows)
    if verdicts:
        text += "\n\nTargets (\"at disk speed\"): " + "; ".join(verdicts) + "."
    return text


def noisy_mark(m):
    """'*' when other processes used more than a quarter of a core during the command."""
    return "*" if m.get("other_cpu", 0) > 0.25 * max(m.get("wall", 0), 0.01) else ""


def per_run_line(res, tools):
    parts = []
    for t in tools:
        ms = res.get(t, [])
        if len(ms) > 1:
            walls = ", ".join("err" if m.get("rc") else f"{m['wall']:.2f}" + noisy_mark(m)
                              for m in ms)
            rss = ", ".join("err" if m.get("rc") else f"{m['rss_kib'] / 1024:.0f}" for m in ms)
            parts.append(f"{t}: wall {walls} s; RSS {rss} MiB")
    if not parts:
        return ""
    star = any(noisy_mark(m) for t in tools for m in res.get(t, []))
    return "Per run: " + "; ".join(parts) + "." + (
        " (* other processes used more than a quarter of a core meanwhile.)" if star else "")


def prune_size_row(res, tools):
    """The prune table's last row: repository bytes before → after (medians over the runs)."""
    cells, after = [], []
    for t in tools:
        ok = [m for m in res.get(t, []) if m.get("rc") == 0 and "size_after" in m]
        if not ok or len(ok) != len(res.get(t, [])):
            cells.append("—")
            after.append(None)
            continue
        b = statistics.median(m["size_before"] for m in ok)
        a = statistics.median(m["size_after"] for m in ok)
        after.append(a)
        cells.append(f"{b / 1e6:,.1f} → {a / 1e6:,.1f} (−{100 * (1 - a / b):.0f}%)" if b else "—")
    line = "| repository (MB), before → after | " + " | ".join(cells)
    if len(tools) == 2:
        r = ratio(after[0], after[1])
        line += " | " + ("—" if r is None else f"{r:.2f}× after")
    return line + " | — |  |"


def render(args, mode, info, stamp, results, repo_sizes, problems, warnings, limits,
           modification_info, scenarios, command_line, elapsed):
    tools = list(args.tools)
    judged_note = " (informational)" if mode == "quick" else ""
    L = []
    title = {"full": "Benchmark: offsite vs restic", "quick": "Quick benchmark (CI)",
             "scale": "Scale: 1,000,000 tiny files",
             "cloud": "Cloud: offsite vs restic through S3 (moto on loopback)"}[mode]
    if mode == "scale":
        title = f"Scale: {stamp['files']:,} tiny files"
    L.append(f"## {title} ({info['date']})")
    L.append("")
    L.append(f"Command: `{command_line}` (in {elapsed / 60:.1f} min, median of {args.runs} "
             f"run{'s' if args.runs != 1 else ''} per figure).")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    cores = f"{info['cores']} ({info['usable_cores']} usable)"
    if args.cpus:
        cores += f"; tools pinned to CPUs 0-{args.cpus - 1} with taskset"
    elif info["usable_cores"] != 2:
        cores += "; the issue's targets are defined for 2 cores (use --cpus 2)"
    for k, v in (("CPU", info["cpu"]), ("cores", cores), ("RAM", info["ram"]),
                 ("kernel", info["kernel"]), ("OS", info["os"]), ("disk", info["disk"]),
                 ("restore dir", info.get("restore_dir") if mode != "scale" else None),
                 ("restic", info["restic"]), ("offsite", info["offsite"]),
                 ("toolchain", info["swift"]), ("date", info["date"])):
        if v is not None:
            L.append(f"| {k} | {v} |")
    L.append("")
    L.append(f"Dataset (`scripts/gen-dataset --profile {stamp['profile']}`, seed {stamp['seed']}, "
             f"generator v{stamp['generator_version']}): {stamp['files']:,} files, "
             f"{stamp['dirs']:,} directories, {stamp['symlinks']} symlinks, "
             f"{stamp['bytes'] / 1e6:,.1f} MB; fingerprint `{stamp['fingerprint'][:16]}` "
             f"(identical on every machine).")
    if mode != "scale":
        L.append("Small source-like text files in nested directories, large compressible logs "
                 "and CSV, one incompressible random file.")
    L.append("")
    L.append(("Method: each tool backs up into its own fresh local repository (`init` is not "
              "timed; repository v2, compression auto, `RESTIC_PASSWORD` in the environment), "
              "as `TOOL -r REPO backup DATASET --quiet`"
              + (" and `TOOL -r REPO restore latest --target DIR --quiet`" if mode != "scale"
                 else "") if mode != "cloud" else
              "Method: each tool backs up into its own fresh repository in an S3 bucket and "
              "restores from it (scenario 7 below)")
             + "; every command under `/usr/bin/time -v` (wall clock, user+sys CPU, maximum "
             "resident set size); the two tools alternate which goes first. The page cache "
             "cannot be dropped without root, so the dataset is read once, untimed, before each "
             "run: both tools see a warm cache. restic uses its default local cache "
             "(`RESTIC_CACHE_DIR` under the run directory, fresh each run).")
    if mode != "scale" and info.get("restore_dir"):
        tmpfs = info.get("restore_fstype") == "tmpfs"
        L.append(f"Restores and dump outputs are written to `{args.restore_base}` "
                 f"({info.get('restore_fstype', '?')}" + (", the default" if tmpfs and
                                                           not args.restore_dir else "")
                 + "; `--restore-dir`) and removed after each run. " + TMPFS_WHY
                 + ("" if tmpfs else " **This run's restore dir is not a tmpfs: restore times "
                    "include that file system's allocator and vary from run to run.**"))
    opens = []
    for t in tools:
        w = med(results.get("_open", {}).get(t, []), "wall")
        if w is not None:
            opens.append(f"{t} {w:.2f} s ({results['_kdf'].get(t, '?')})")
    if opens:
        L.append("Every command first opens the repository (key derivation with the scrypt "
                 "parameters each tool chose at `init`, then the index); that fixed cost, "
                 "measured as `TOOL snapshots`, is: " + ", ".join(opens) + ".")
    timed = [m for sname in scenarios for who in results[sname] for m in results[sname][who]
             if m.get("rc") == 0 and "other_cpu" in m]
    if timed:
        cores = info["usable_cores"]
        other = sum(m["other_cpu"] for m in timed)
        capacity = sum(m["wall"] for m in timed) * cores
        worst = max(timed, key=lambda m: m["other_cpu"] / max(m["wall"], 0.01))
        share = 100 * other / capacity if capacity else 0
        L.append(f"Noise: while the timed commands ran, other processes used {other:.1f} "
                 f"CPU-seconds ({share:.0f}% of the machine's capacity over that time; worst "
                 f"single command {100 * worst['other_cpu'] / max(worst['wall'], 0.01) / cores:.0f}%"
                 f" of {cores} cores). Load average at start: {info['loadavg']}."
                 + (" (moto's own CPU time during scenario 7 is not counted here.)"
                    if "cloud-backup" in scenarios else "")
                 + (" **The machine was not idle: treat the figures as noisy.**"
                    if share > 5 else ""))
    if modification_info:
        n, total, nbytes = modification_info
        L.append(f"Scenario 3 changes {n} of {total} files ({nbytes:,} bytes appended or "
                 "rewritten in place, mtimes moved one hour), the same way on every machine; "
                 "scenario 4 restores that latest snapshot and compares it with the dataset "
                 "(contents, sizes, types, symlinks).")
    dinfo = results.get("_dump")
    if "dump" in scenarios and dinfo:
        bw = ", ".join(f"{t} {w:.1f} s" for t, w in dinfo["backup_walls"].items())
        L.append(f"Scenario 5 has its own dataset (`scripts/gen-dataset --profile "
                 f"{dinfo['profile']}`, fingerprint `{dinfo['fingerprint'][:16]}`): one file of "
                 f"{dinfo['bytes'] / MiB:,.0f} MiB in 4 MiB segments alternating log text and "
                 f"random bytes. Each tool backs it up into a fresh repository (not timed"
                 + (f": {bw}" if bw else "") + "); then `TOOL -r REPO dump latest "
                 f"{dinfo['file']} > OUT` and the disk-speed baseline `cat {dinfo['file']} > "
                 "OUT` are timed the same way, OUT in the restore dir, after an untimed read "
                 "of the file and both repositories; every output is compared byte for byte "
                 "with the file.")
    minfo = results.get("_maint")
    if "prune" in scenarios and minfo and minfo.get("keep"):
        fw = minfo["forget_with"]
        forget_note = "" if all(fw.get(t) == t for t in fw) else (
            " (" + ", ".join(f"{t}'s repository with {w} forget" for t, w in fw.items()
                             if w != t) + ": the tool's own forget failed)")
        sizes = ", ".join(f"{t} {v / 1e6:,.1f} MB" for t, v in minfo["sizes"].items())
        L.append(f"Scenario 6 builds one repository per tool, untimed: a backup of the dataset "
                 f"plus a churn directory, then {minfo['rounds']} rounds that each delete "
                 f"half of the churn files and write {minfo['per_round'] / 1e6:,.1f} MB of new "
                 "random files (4 KiB-4 MiB, the same on every machine), each followed by a "
                 f"backup: {minfo['snapshots']} snapshots. `TOOL forget --keep-last "
                 f"{minfo['keep']}`{forget_note} then leaves ~"
                 f"{100 * minfo['unused_estimate']:.0f}% of the stored bytes unused "
                 f"(repositories after forget: {sizes}). Every run copies each repository "
                 "(`cp -a`, with restic's cache; untimed) and times `TOOL -r COPY prune` "
                 "(default `--max-unused 5%`), then `TOOL -r COPY check --read-data` on the "
                 "pruned copy; the check must pass, and `restic check` must pass on offsite's "
                 "pruned copy too.")
    cinfo = results.get("_cloud")
    if "cloud-backup" in scenarios and cinfo:
        L.append(cloud_paragraph(args, cinfo))
    L.append("")
    if mode == "quick":
        L.append("Targets are shown for information only: `--quick` judges correctness "
                 "(every command succeeds, restores and dumps reproduce their source), not speed.")
        L.append("")

    # Summary
    summary = []
    for i, (s, sdef) in enumerate(scenarios.items(), 1):
        table, j = scenario_table(sdef, results[s], tools, judged_note)
        if s == "prune":
            table += "\n" + prune_size_row(results[s], tools)
            plans = []
            for t in tools:
                ms = [m for m in results[s].get(t, []) if m.get("plan")]
                if ms:
                    p = ms[0]["plan"]
                    plans.append(f"{t} repacked {p.get('to repack', '?')}, removed "
                                 f"{p.get('total prune', '?')}, kept {p.get('remaining', '?')}")
            if plans:
                table += ("\n\nPrune plans (each tool's own statistics, first run): "
                          + "; ".join(plans) + ".")
        summary.append((sdef.get("num", i), s, sdef, table, j))
    if len(tools) == 2:
        L.append("| scenario | offsite wall (s) | restic wall (s) | wall ratio | target | "
                 "offsite RSS (MiB) | restic RSS (MiB) | RSS ratio | target |")
        L.append("|---|---:|---:|---:|---|---:|---:|---:|---|")
        for i, s, sdef, table, j in summary:
            ow, rw = med(results[s]["offsite"], "wall"), med(results[s]["restic"], "wall")
            orss, rrss = med(results[s]["offsite"], "rss_kib"), med(results[s]["restic"], "rss_kib")
            wr, rr = ratio(ow, rw), ratio(orss, rrss)
            ow, rw, orss, rrss = (("error" if failed(results[s][t]) else fmt(v, d))
                                  for t, v, d in (("offsite", ow, 2), ("restic", rw, 2),
                                                  ("offsite", orss and orss / 1024, 1),
                                                  ("restic", rrss and rrss / 1024, 1)))
            wall_verdict = verdict(j["wall"], judged_note)
            if "baseline" in j:
                wall_verdict += "; " + verdict(j["baseline"], judged_note)
            L.append(f"| {i}. {sdef['title']} | {ow} | {rw} | "
                     f"{'—' if wr is None else f'{wr:.2f}×'} | {wall_verdict} | "
                     f"{orss} | {rrss} | "
                     f"{'—' if rr is None else f'{rr:.2f}×'} | {verdict(j['rss'], judged_note)} |")
        L.append("")
    for i, s, sdef, table, j in summary:
        L.append(f"### {i}. {sdef['title']}")
        L.append("")
        if s == "dump" and dinfo:
            L.append(dump_table(sdef, results[s], tools, dinfo["bytes"], judged_note))
            prl = per_run_line(results[s], list(tools) + ["baseline"])
        else:
            L.append(table)
            prl = per_run_line(results[s], tools)
        if s in ("cloud-backup", "cloud-restore"):
            L.append("")
            L.append(cloud_table(results[s], tools))
        if mode != "scale" and s in ("initial", "modified", "unchanged", "restore",
                                     "cloud-backup", "cloud-restore"):
            thr = [f"{t} {stamp['bytes'] / 1e6 / w:,.0f} MB/s"
                   for t in tools for w in [med(results[s][t], "wall")] if w]
            if thr:
                L.append("")
                L.append(("Restored size" if s == "restore" else "Dataset size")
                         + " ÷ wall time: " + ", ".join(thr) + ".")
        if s == "cloud-backup" and cinfo and cinfo.get("stored"):
            cells = []
            for t in tools:
                v = cinfo["stored"].get(t)
                if v:
                    n = statistics.median(x[0] for x in v)
                    b = statistics.median(x[1] for x in v)
                    cells.append(f"{t} {b / 1e6:,.1f} MB in {n:,.0f} objects")
            if cells:
                L.append("Stored in the bucket after the backup: " + ", ".join(cells) + ".")
        if prl:
            L.append("")
            L.append(prl)
        L.append("")

    if repo_sizes and mode != "scale":
        L.append("### Repository size")
        L.append("")
        L.append("| after | " + " | ".join(tools) + " |")
        L.append("|---|" + "---:|" * len(tools))
        for key, label in (("initial", "initial backup"), ("modified", "third backup (1% modified)")):
            cells = []
            for t in tools:
                v = repo_sizes[t][key]
                cells.append(f"{statistics.median(v) / 1e6:,.1f} MB" if v else "—")
            L.append(f"| {label} | " + " | ".join(cells) + " |")
        L.append("")
    elif repo_sizes:
        cells = []
        for t in tools:
            v = repo_sizes[t]["initial"]
            if v:
                cells.append(f"{t} {statistics.median(v) / 1e6:,.1f} MB")
        if cells:
            L.append("Repository size after the initial backup: " + ", ".join(cells) + ".")
            L.append("")

    if limits:
        L.append("### Machine limits (one core)")
        L.append("")
        L.append("| what | throughput | how |")
        L.append("|---|---:|---|")

        def mbps(v):
            return "—" if not v else f"{v / 1e6:,.0f} MB/s"
        L.append(f"| SHA-256 | {mbps(limits.get('sha256'))} | `openssl speed -evp sha256 "
                 f"-bytes 16384 -seconds 1` |")
        L.append(f"| AES-256-CTR | {mbps(limits.get('aes'))} | `openssl speed -evp aes-256-ctr "
                 f"-bytes 16384 -seconds 1` |")
        L.append(f"| zstd level 3 compress | {mbps(limits.get('zstd_c'))} | `zstd -b3 -i3` on a "
                 f"{limits['zstd_sample'] / MiB:.0f} MiB sample of the dataset's compressible "
                 f"files (ratio {limits.get('zstd_ratio', 0):.2f}) |")
        L.append(f"| zstd decompress | {mbps(limits.get('zstd_d'))} | same run |")
        L.append(f"| disk sequential write | {mbps(limits.get('disk_write'))} | `dd if=/dev/zero "
                 f"bs=1M count={limits['dd_mib']} conv=fdatasync` in the work dir |")
        L.append(f"| disk sequential read | {mbps(limits.get('disk_read'))} | `dd bs=1M"
                 + (" iflag=direct` (bypasses the page cache)" if limits.get("disk_read_direct")
                    else "` (O_DIRECT refused: from the page cache)") + " |")
        L.append("")
        sha, aes, zc = limits.get("sha256"), limits.get("aes"), limits.get("zstd_c")
        rsizes = repo_sizes.get("restic", {}).get("initial") if repo_sizes else None
        if sha and aes and zc and rsizes:
            d = stamp["bytes"]
            r = statistics.median(rsizes)
            cpu_floor = d / sha + d / zc + r / aes
            cores = args.cpus or info["usable_cores"]
            disk = r / limits["disk_write"] if limits.get("disk_write") else None
            L.append(f"A rough floor for the initial backup on this machine: hashing every byte "
                     f"({d / sha:.2f} s), compressing every byte at zstd -3 speed "
                     f"({d / zc:.2f} s) and encrypting the stored {r / 1e6:,.0f} MB "
                     f"({r / aes:.2f} s) is {cpu_floor:.2f} CPU-seconds, "
                     f"{cpu_floor / cores:.2f} s of wall time on {cores} cores; writing the "
                     f"repository at the measured disk speed takes "
                     f"{fmt(disk)} s. (Chunking, the MAC and the file system work are not in "
                     f"this floor.)")
            L.append("")

    if problems or warnings:
        L.append("### Problems")
        L.append("")
        for p in problems[:30]:
            L.append(f"- {p}")
        for w in warnings[:10]:
            L.append(f"- warning: {w}")
        L.append("")
    return "\n".join(L).rstrip() + "\n"


def cloud_paragraph(args, cinfo):
    rss = cinfo.get("moto_rss") or []
    cpu = cinfo.get("moto_cpu") or []
    return ("Scenario 7 runs both tools against an S3 server on loopback: for every run the "
            f"script starts a fresh moto server (`moto_server -H 127.0.0.1 -p PORT`, "
            f"{cinfo.get('moto', '?')}; stopped with SIGINT at the end of the run), `init`s "
            "each tool's repository in a bucket of its own (`s3:http://127.0.0.1:PORT/"
            "bench-TOOL`, `AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x`; not timed), reads the "
            "dataset once (untimed), then times `TOOL -r s3:… backup DATASET --quiet` (7a) and "
            "`TOOL -r s3:… restore latest --target DIR --quiet` (7b, DIR in the restore dir, "
            "compared with the dataset like scenario 4). Both tools get the same flags: "
            "`s3.connections` stays at its default, 5, for both; restic keeps its local cache "
            "(index and trees written by the backup) for the restore, offsite has none. moto "
            "is a single Python process with a thread per connection, on the same cores as "
            "the tools, so its CPU time (reported per command, and left out of the noise "
            "figure) is part of every wall time here; it keeps objects in memory (over 5 MB "
            "in temporary files under the work dir)"
            + (f"; its peak RSS, holding both buckets, was "
               f"{', '.join(f'{v / 1024:,.0f}' for v in rss)} MiB (moto's, not the tools')"
               if rss else "")
            + (f", and it used {', '.join(f'{v:.1f}' for v in cpu)} CPU-seconds per run" if cpu
               else "")
            + ". Requests are counted from moto's access log, per bucket; \"peak open "
            "connections\" is the most sockets moto had open at once beyond its listening one "
            "(`/proc/PID/fd`, sampled every 10 ms while the command ran; an idle pooled "
            "connection counts too).")


def cloud_table(res, tools):
    """Per command: requests by method, data-pack requests, peak connections, moto's CPU."""
    def medv(ms, f):
        vals = [f(m) for m in ok_runs(ms)]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    rows = ["| requests and connections (median over the runs) | " + " | ".join(tools) + " |",
            "|---|" + "---:|" * len(tools)]
    cells = {k: [] for k in ("total", "methods", "data", "most", "errors", "conns", "moto")}
    for t in tools:
        ms = [m for m in res.get(t, []) if m.get("rc") == 0 and "requests" in m]
        if not ms:
            for k in cells:
                cells[k].append("—")
            continue
        cells["total"].append(f"{medv(ms, lambda m: m['requests']['total']):,.0f}")
        methods = sorted({k for m in ms for k in m["requests"]["methods"]},
                         key=lambda k: ("GET", "PUT", "HEAD", "DELETE", "POST").index(k)
                         if k in ("GET", "PUT", "HEAD", "DELETE", "POST") else 9)
        cells["methods"].append(", ".join(
            f"{k} {medv(ms, lambda m, k=k: m['requests']['methods'].get(k, 0)):,.0f}"
            for k in methods))
        cells["data"].append(" / ".join(
            f"{medv(ms, lambda m, k=k: m['requests']['data'].get(k, 0)):,.0f}"
            for k in ("PUT", "GET")))
        cells["most"].append(f"{medv(ms, lambda m: m['requests'].get('most_gets', 0)):,.0f}")
        cells["errors"].append(f"{medv(ms, lambda m: m['requests']['errors']):,.0f}")
        cells["conns"].append(f"{medv(ms, lambda m: m.get('peak_connections')):,.0f}")
        mc = medv(ms, lambda m: m.get("server_cpu"))
        cells["moto"].append(fmt(mc))
    for k, label in (("total", "requests"), ("methods", "by method"),
                     ("data", "of them `data/` packs (data and tree packs): PUT / GET"),
                     ("most", "most GETs of one pack (ranged reads)"),
                     ("errors", "answered with an error (HEAD 404 not counted)"),
                     ("conns", "peak open connections"), ("moto", "moto's CPU time meanwhile (s)")):
        rows.append(f"| {label} | " + " | ".join(cells[k]) + " |")
    return "\n".join(rows)


def write_doc(path, mode, section):
    begin, end = MARK_BEGIN.format(mode=mode), MARK_END.format(mode=mode)
    block = begin + "\n" + section + end + "\n"
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end, a) + len(end)
        if text[b:b + 1] == "\n":
            b += 1
        text = text[:a] + block + text[b:]
    else:
        if not text:
            text = "# Performance\n\nGenerated by `scripts/bench`; see the script's help.\n"
        text = text.rstrip("\n") + "\n\n" + block
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
