#!/usr/bin/env python3
"""Boot-time measurements for bench/boot.sh.

  boot.py run --label L --ram-mib M --timeout S --stall S --log FILE -- COMMAND...
      Start COMMAND (a VMM booting the test guest, console on stdout),
      read its output as it streams and, when the line with KVMM-INIT-OK
      arrives, note the time and sample the VMM's memory, then kill the VMM
      (the rest of the guest's run and the VMM's shutdown are not measured)
      and print one JSON object: the measurements, with the number of CPUs
      the guest kernel says it brought up.  Exit status 0 when the marker came, 124 on timeout
      (--timeout seconds in all, or, once the console has started, --stall
      seconds without output before the marker: a stalled boot), 1
      otherwise.

  boot.py series --out DIR --first N --runs N --timeout S --stall S
                 --budget S --ram-mib M -- LABEL=ARGVFILE...
      The benchmark's rounds in one process: every VMM once per round, in
      the order given, a boot that fails (times out, stalls, or the VMM
      exits before init) retried once, rounds
      FIRST..RUNS or until the time budget (no round is started that would
      likely end past it).  Complete rounds' results go to
      DIR/results.jsonl, console logs to DIR/logs/, notes to DIR/notes.txt.

  boot.py report RESULTS.jsonl MARKDOWN_OUT GOALS_OUT
      Medians per VMM, the ratios to QEMU, as a markdown section.

Memory beyond guest RAM: the sum of Rss over every mapping in
/proc/PID/smaps except guest RAM, which is the largest anonymous mapping
at least as large as the guest's memory.  Everything else (binary, shared
libraries, heap, thread stacks, ROM and VGA buffers, ...) counts as the
VMM's own footprint.
"""
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time

MARKER = b"KVMM-INIT-OK"
MAP_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def read_status(pid):
    """VmRSS, RssAnon, RssFile, RssShmem (kB) and the thread count."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(val.split()[0])
            elif key == "Threads":
                out[key] = int(val)
    return out


def read_smaps(pid):
    """One dict per mapping: size, rss, anon (kB), path, inode."""
    maps = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if MAP_RE.match(line):
                parts = line.split(None, 5)
                cur = {"range": parts[0], "inode": int(parts[4]),
                       "path": parts[5].strip() if len(parts) > 5 else "",
                       "size": 0, "rss": 0, "anon": 0, "thp": 0}
                maps.append(cur)
                continue
            key, _, val = line.partition(":")
            if cur is None:
                continue
            if key == "Size":
                cur["size"] = int(val.split()[0])
            elif key == "Rss":
                cur["rss"] = int(val.split()[0])
            elif key == "Anonymous":
                cur["anon"] = int(val.split()[0])
            elif key == "AnonHugePages":
                cur["thp"] = int(val.split()[0])
    return maps


def memory_sample(pid, ram_kb):
    st = read_status(pid)
    maps = read_smaps(pid)
    # Guest RAM: the largest mapping not backed by a file and at least as big
    # as the guest's memory (QEMU may add a little alignment slack).
    cands = [m for m in maps if m["inode"] == 0 and m["size"] >= ram_kb
             and not m["path"].startswith("[")]
    guest = max(cands, key=lambda m: m["size"]) if cands else None
    others = [m for m in maps if m is not guest]
    total_rss = sum(m["rss"] for m in maps)
    over = sum(m["rss"] for m in others)
    over_anon = sum(m["anon"] for m in others)
    # The five largest contributors, for the curious.
    top = sorted(others, key=lambda m: m["rss"], reverse=True)[:5]
    return {
        "vmrss_kb": st.get("VmRSS"), "rssanon_kb": st.get("RssAnon"),
        "rssfile_kb": st.get("RssFile"), "rssshmem_kb": st.get("RssShmem"),
        "threads": st.get("Threads"),
        "smaps_rss_kb": total_rss, "nmaps": len(maps),
        "guest_map_kb": guest["size"] if guest else None,
        "guest_rss_kb": guest["rss"] if guest else None,
        "overhead_kb": over, "overhead_anon_kb": over_anon,
        "overhead_file_kb": over - over_anon,
        "overhead_thp_kb": sum(m["thp"] for m in others),
        "top": [f"{m['rss']} of {m['size']} kB {m['path'] or '[anon]'}"
                + (f" ({m['thp']} kB in huge pages)" if m["thp"] else "") for m in top],
    }


def measure(label, cmd, ram_kb, timeout, stall, log_path=None):
    """One boot; returns the result dict.  See the module's docstring."""
    res = {"label": label, "wall_ms": None, "uptime_s": None,
           "nproc": None, "done": False, "status": None, "timed_out": False,
           "stalled": False}
    log = bytearray()
    # The stamp is taken just before the spawn (vfork + exec): well under a
    # millisecond before the VMM's exec, the same for every VMM.
    t0 = time.monotonic_ns()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    pending = b""
    found = False
    last_output = None
    while not res["done"]:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            res["timed_out"] = not found
            break
        if stall and not found and last_output is not None:
            if now - last_output >= stall:
                res["timed_out"] = res["stalled"] = True
                break
            left = min(left, last_output + stall - now)
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        t = time.monotonic_ns()
        if not chunk:
            break
        if last_output is None:
            res["first_output_ms"] = (t - t0) / 1e6
        last_output = time.monotonic()
        log += chunk
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if not found and MARKER in line:
                found = True
                res["wall_ms"] = (t - t0) / 1e6
                m = re.search(rb"uptime=([0-9.]+)", line)
                if m:
                    res["uptime_s"] = float(m.group(1))
                try:
                    res.update(memory_sample(proc.pid, ram_kb))
                except OSError as e:
                    res["mem_error"] = str(e)
                # The CPUs the guest kernel brought up, from its log.
                m = re.search(rb"smp: Brought up \d+ nodes?, (\d+) CPU", log)
                if m:
                    res["nproc"] = int(m.group(1))
                res["done"] = True
                break
        if len(pending) > 65536:
            pending = pending[-4096:]
    t_kill = time.monotonic_ns()
    if proc.poll() is None:
        proc.kill()
    try:
        res["status"] = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # Killed but not gone: stuck in the kernel.  Nothing after this in
        # the same environment would be comparable.
        res["status"] = None
        res["stuck"] = True
    # How long the killed VMM took to go away (the next boot waits for it).
    res["teardown_ms"] = (time.monotonic_ns() - t_kill) / 1e6
    proc.stdout.close()
    text = log.replace(b"\r\n", b"\n").decode("utf-8", "replace")
    res["warnings"] = len(re.findall(r"WARNING", text))
    res["call_traces"] = len(re.findall(r"Call Trace", text))
    # The distinct warning lines, without the kernel's timestamps.  A kernel
    # WARN() prints its message on the line before "WARNING: CPU:".
    plain = [re.sub(r"^\[[ 0-9.]+\] ", "", l).strip() for l in text.splitlines()]
    warns = set()
    for i, l in enumerate(plain):
        if "WARNING" in l:
            if l.startswith("WARNING: CPU:") and i and "cut here" not in plain[i - 1]:
                l = f"{plain[i - 1]} / {l}"
            warns.add(l)
    res["warning_lines"] = sorted(warns)
    res["last_line"] = next((l for l in reversed(plain) if l), "")[:100]
    if log_path:
        with open(log_path, "w") as f:
            f.write(text)
    return res


def parse_opts(argv, opts, what):
    """--key value pairs up to "--"; returns the rest after "--"."""
    while argv and argv[0] != "--":
        key = argv.pop(0)
        if key not in opts or not argv:
            sys.exit(f"boot.py {what}: bad argument {key}")
        opts[key] = argv.pop(0)
    return argv[1:] if argv else []


def cmd_run(argv):
    o = {"--label": None, "--ram-mib": "256", "--timeout": "120", "--stall": "0", "--log": None}
    cmd = parse_opts(argv, o, "run")
    if not cmd:
        sys.exit("boot.py run: missing -- COMMAND")
    res = measure(o["--label"], cmd, int(o["--ram-mib"]) * 1024, float(o["--timeout"]),
                  float(o["--stall"]), o["--log"])
    print(json.dumps(res), flush=True)
    if res["wall_ms"] is not None:
        return 0
    return 124 if res["timed_out"] else 1


def failure(res, timeout, stall, label):
    """Why a boot did not reach the marker, in words."""
    last = f"last console line: `{res['last_line']}`"
    if res["stalled"]:
        return f"stalled (no console output for {stall:.0f} s; {last})"
    if res["timed_out"]:
        return f"timed out after {timeout:.0f} s ({last})"
    if res["status"] == 0 and label.startswith("qemu"):
        # Before init the guest cannot have powered off: with -no-reboot a
        # guest reset (e.g. a triple fault) ends QEMU with status 0.
        return f"QEMU exited with status 0 before init, i.e. the guest reset ({last})"
    return f"the VMM exited with status {res['status']} before init ({last})"


def cmd_series(argv):
    """series --out DIR --first N --runs N --timeout S --stall S --budget S
    --ram-mib M -- LABEL=ARGVFILE...: the interleaved rounds FIRST..RUNS.
    ARGVFILE holds the VMM's command line, NUL-separated.  A round's results
    go to DIR/results.jsonl when the round is complete (an interrupted round
    leaves none), its number to DIR/rounds_done; console logs to DIR/logs/,
    notes to DIR/notes.txt, progress to stderr."""
    o = {"--out": None, "--first": "1", "--runs": "10", "--timeout": "150", "--stall": "45",
         "--budget": "660", "--ram-mib": "256"}
    specs = parse_opts(argv, o, "series")
    vmms = []
    for spec in specs:
        label, _, path = spec.partition("=")
        with open(path, "rb") as f:
            vmms.append((label, [a.decode() for a in f.read().split(b"\0") if a]))
    first, runs, budget = int(o["--first"]), int(o["--runs"]), float(o["--budget"])
    timeout, stall = float(o["--timeout"]), float(o["--stall"])
    ram_kb = int(o["--ram-mib"]) * 1024
    out = o["--out"]
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    notes = open(os.path.join(out, "notes.txt"), "a")

    def note(msg):
        print(f"boot bench: {msg}", file=sys.stderr, flush=True)
        notes.write(msg + "\n")
        notes.flush()

    # A VMM whose first boot failed was dropped; a later session knows it
    # from the notes.
    dropped = set()
    with open(os.path.join(out, "notes.txt")) as f:
        for line in f:
            m = re.match(r"(\S+): dropped from the benchmark", line)
            if m:
                dropped.add(m.group(1))
    t_start = time.monotonic()
    done = 0
    for rnd in range(first, runs + 1):
        batch = []
        for label, cmd in vmms:
            if label in dropped:
                continue
            for attempt in (1, 2):
                log = os.path.join(out, "logs", f"{label}-{rnd}{'' if attempt == 1 else '-retry'}.log")
                res = measure(label, cmd, ram_kb, timeout, stall, log)
                res["round"], res["attempt"] = rnd, attempt
                batch.append(res)
                if res.get("stuck"):
                    note(f"{label} round {rnd}: the VMM did not exit within 60 s of SIGKILL; "
                         "ending this session (an unfinished round is not counted)")
                    return 3
                if res["wall_ms"] is not None:
                    break
                note(f"{'RETRY: ' if attempt == 1 else ''}{label} round {rnd}: "
                     f"{failure(res, timeout, stall, label)}"
                     + ("; booting it once more" if attempt == 1 else "; retry failed too"))
            if res["wall_ms"] is None:
                if rnd == 1:
                    # A VMM that cannot boot this guest is not booted ten times.
                    dropped.add(label)
                    note(f"{label}: dropped from the benchmark after its first boot failed")
            else:
                print(f"boot bench: round {rnd}/{runs} {label}: init after "
                      f"{res['wall_ms']:.0f} ms, uptime {res['uptime_s']} s", file=sys.stderr,
                      flush=True)
        with open(os.path.join(out, "results.jsonl"), "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in batch))
        with open(os.path.join(out, "rounds_done"), "w") as f:
            f.write(f"{rnd}\n")
        done += 1
        elapsed = time.monotonic() - t_start
        est = elapsed / done
        if rnd < runs and elapsed + est > budget:
            note(f"stopped after {rnd} of {runs} rounds: another round (~{est:.0f} s) "
                 f"would pass the boot rounds' time budget (BENCH_BOOT_BUDGET)")
            break
    print(f"rounds {first}..{first + done - 1}: {time.monotonic() - t_start:.0f} s")
    return 0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    return f"{x:.{nd}f}"


def cmd_report(argv):
    path, md_out, goals_out = argv
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                runs.append(json.loads(line))
    order = ["kvmm", "qemu-q35", "qemu-microvm"]
    ok = {k: [r for r in runs if r["label"] == k and r.get("wall_ms") is not None]
          for k in order}
    tried = {k: [r for r in runs if r["label"] == k] for k in order}
    mib = lambda x: None if x is None else x / 1024
    med = {}
    for k in order:
        rs = ok[k]
        med[k] = {
            "n": len(rs), "tried": len(tried[k]),
            "timeouts": sum(1 for r in tried[k] if r.get("timed_out")),
            "stalls": sum(1 for r in tried[k] if r.get("stalled")),
            "wall": median([r["wall_ms"] for r in rs]),
            "wall_min": min([r["wall_ms"] for r in rs], default=None),
            "wall_max": max([r["wall_ms"] for r in rs], default=None),
            "uptime": median([r["uptime_s"] for r in rs]),
            "first": median([r.get("first_output_ms") for r in rs]),
            "teardown": median([r.get("teardown_ms") for r in rs]),
            "over": median([r.get("overhead_kb") for r in rs]),
            "over_anon": median([r.get("overhead_anon_kb") for r in rs]),
            "over_file": median([r.get("overhead_file_kb") for r in rs]),
            "vmrss": median([r.get("vmrss_kb") for r in rs]),
            "guest": median([r.get("guest_rss_kb") for r in rs]),
            "nproc": sorted({r.get("nproc") for r in rs}, key=str),
            "warn": sum(r.get("warnings", 0) for r in tried[k]),
            "trace": sum(r.get("call_traces", 0) for r in tried[k]),
        }

    def ratio(a, b):
        if a is None or b is None or b == 0:
            return None
        return a / b

    L = []
    L.append("| VMM | boots reaching init | boot → init, wall ms (median) | min – max ms "
             "| first console output, ms | guest uptime at init, s | guest CPUs up "
             "| VmRSS at init, MiB | guest RAM touched, MiB "
             "| VMM RSS beyond guest RAM, MiB (anon + file) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for k in order:
        m = med[k]
        reach = f"{m['n']}/{m['tried']}"
        if m["timeouts"]:
            reach += f" ({m['timeouts']} timed out"
            reach += f", {m['stalls']} of them stalled)" if m["stalls"] else ")"
        L.append(f"| {k} | {reach} | {fmt(m['wall'])} | "
                 f"{fmt(m['wall_min'])} – {fmt(m['wall_max'])} | {fmt(m['first'])} | "
                 f"{fmt(m['uptime'], 2)} | "
                 f"{'/'.join(str(x) for x in m['nproc']) or 'n/a'} | "
                 f"{fmt(mib(m['vmrss']), 1)} | {fmt(mib(m['guest']), 1)} | "
                 f"**{fmt(mib(m['over']), 2)}** ({fmt(mib(m['over_anon']), 2)} + "
                 f"{fmt(mib(m['over_file']), 2)}) |")
    L.append("")
    L.append("| ratio of medians | kvmm / QEMU q35 | kvmm / QEMU microvm |")
    L.append("|---|---|---|")
    for name, key in (("boot → init, wall clock", "wall"),
                      ("guest uptime at init", "uptime"),
                      ("VMM RSS beyond guest RAM", "over")):
        L.append(f"| {name} | {fmt(ratio(med['kvmm'][key], med['qemu-q35'][key]), 2)} | "
                 f"{fmt(ratio(med['kvmm'][key], med['qemu-microvm'][key]), 2)} |")
    L.append("")
    L.append("Time from the kill (at the marker) until the VMM process was "
             "gone, median: " + ", ".join(f"{k} {fmt(med[k]['teardown'])}" + (" ms" if med[k]['teardown'] is not None else "") for k in order)
             + " (not part of any figure above).")
    L.append("")
    L.append("Largest mappings beyond guest RAM, from the run with the median figure:")
    L.append("")
    for k in order:
        rs = sorted((r for r in ok[k] if r.get("overhead_kb") is not None),
                    key=lambda r: r["overhead_kb"])
        if rs:
            r = rs[len(rs) // 2]
            L.append(f"- {k}: {r['nmaps']} mappings, {r['threads']} threads; "
                     + "; ".join(r["top"]))
    L.append("")
    L.append("Guest kernel messages in the console logs (all runs): " + "; ".join(
        f"{k}: {med[k]['warn']} × `WARNING`, {med[k]['trace']} × `Call Trace`"
        for k in order) + ".")
    seen = {}
    for r in runs:
        for w in r.get("warning_lines", []):
            seen.setdefault(w, {}).setdefault(r["label"], 0)
            seen[w][r["label"]] += 1
    if seen:
        L.append("")
        L.append("The distinct `WARNING` lines, with the boots that printed them:")
        L.append("")
        for w, who in sorted(seen.items()):
            L.append(f"- `{w}`: " + ", ".join(f"{k} {who.get(k, 0)}/{med[k]['tried']}"
                                              for k in order))
    with open(md_out, "w") as f:
        f.write("\n".join(L) + "\n")

    # Goal rows for the summary: | goal | target | measured | verdict |
    G = []
    r = ratio(med["kvmm"]["wall"], med["qemu-q35"]["wall"])
    if r is None:
        G.append("| boot → init, kvmm / QEMU q35 (median wall clock) | ≤ 0.60 | n/a | not measured |")
    else:
        verdict = (f"met ({(1 - r / 0.6) * 100:.0f}% below the limit)" if r <= 0.6
                   else f"missed by {r - 0.6:.2f} ({(r / 0.6 - 1) * 100:.0f}% over the limit)")
        G.append(f"| boot → init, kvmm / QEMU q35 (median wall clock) | ≤ 0.60 | {r:.2f} "
                 f"({med['kvmm']['n']} and {med['qemu-q35']['n']} boots) | {verdict} |")
    o = mib(med["kvmm"]["over"])
    if o is None:
        G.append("| kvmm RSS beyond guest RAM (median) | ≤ 3 MiB | n/a | not measured |")
    else:
        verdict = f"met ({3 - o:.2f} MiB to spare)" if o <= 3 else f"missed by {o - 3:.2f} MiB"
        G.append(f"| kvmm RSS beyond guest RAM (median) | ≤ 3 MiB | {o:.2f} MiB | {verdict} |")
    with open(goals_out, "w") as f:
        f.write("\n".join(G) + "\n")
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        return cmd_run(argv)
    if cmd == "series":
        return cmd_series(argv)
    if cmd == "report" and len(argv) == 3:
        return cmd_report(argv)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
