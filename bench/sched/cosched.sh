#!/bin/bash
# bench/sched/cosched.sh: the co-scheduling experiment (docs/scheduling.md).
#
# One 2-vCPU Linux guest runs tests/guest/barrier (two threads, one per
# vCPU, meeting at a spin barrier) while a CPU hog pinned to host CPU 1
# competes for the host's 2 CPUs; the vCPU threads are not pinned.  Runs
# alternate co-scheduling off and on (sched.coschedule, max_skew_ms
# $SKEW_MS, boost_weight $BOOST), REPEAT times each.  Measured: barrier
# rounds/s (what the guest prints); the skew as the controller measures
# it (KVMM_COSCHED_TRACE: its progress clocks every max_skew/4, also
# sampled with co-scheduling off); the spread between the two vCPUs'
# time on a CPU since the barrier started (schedstat every 50 ms); and,
# when on, the controller's statistics (x-query-sched) and its boosts and
# holds during the barrier (from the trace).  Inside the test host the
# script mounts cgroup v2 for the boosts.
#
# Needs a KVM that runs Linux: here, the test host VM (scripts/testhost.sh);
# the runs happen inside it.  Writes build/bench/sched/cosched-*, prints a
# table (also cosched.md) and draws docs/img/sched-cosched.png.
# Environment: BARRIER_SECONDS (default 12), SKEW_MS (default 10),
# BOOST (boost_weight, default 1000), REPEAT (default 2).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
KVMM=$ROOT/build/kvmm
GUEST=$ROOT/build/guest
OUT=${BENCH_DIR:-$ROOT/build/bench}/sched
SECS=${BARRIER_SECONDS:-12}
SKEW_MS=${SKEW_MS:-10}
BOOST=${BOOST:-1000}
REPEAT=${REPEAT:-2}
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}
mkdir -p "$OUT"

# ---- inside the test host: one run per mode
run_mode() {
    local mode=$1 on sock spec con pid hog sampler rc=0 script
    on=$([ "${mode%%-*}" = on ] && echo true || echo false)
    sock=/tmp/cosched-$mode.sock spec=/tmp/cosched-$mode.json con=$OUT/cosched-$mode.console
    script="echo BARRIER-READY
sleep 3
barrier -t $SECS -i 500
sleep 600"
    cat >"$spec" <<JSON
{"name": "barrier", "kernel": "$GUEST/vmlinuz-cloud", "initrd": "$GUEST/initramfs-cloud.cpio.gz",
 "cmdline": "console=ttyS0 quiet kvmm.test=script $(printf 'kvmm.cmd=%s' "$(printf '%s\n' "$script" | base64 -w0)")",
 "vcpus": 2, "memory_mib": 256, "control": {"path": "$sock"},
 "sched": {"coschedule": {"enabled": $on, "max_skew_ms": $SKEW_MS, "boost_weight": $BOOST}}}
JSON
    # The trace goes to tmpfs: a write to the 9p repository mount per tick
    # would cost the controller its timing.
    KVMM_COSCHED_TRACE=/tmp/cosched-$mode.trace "$KVMM" run "$spec" </dev/null >"$con" 2>&1 &
    pid=$!
    # The sampler starts now: under the loaded test host, Python takes
    # seconds to start.  It waits for the vCPU threads itself.
    /usr/bin/python3 bench/sched/sample.py "$pid" "$con" BARRIER-DONE "$OUT/cosched-$mode" \
        --timeout $((BOOT_TIMEOUT + SECS * 4 + 60)) --vcpus 2 --interval 50 &
    sampler=$!
    for _ in $(seq $((BOOT_TIMEOUT * 5))); do
        grep -q BARRIER-READY "$con" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! grep -q BARRIER-READY "$con"; then
        echo "COSCHED-$mode: guest did not come up"; tail -20 "$con"; kill "$pid" "$sampler"; wait
        return 1
    fi
    # The guest waits 3 s before the barrier starts.
    taskset -c 1 sh -c 'while :; do :; done' &
    hog=$!
    wait "$sampler" || rc=1
    kill "$hog"; wait "$hog" 2>/dev/null
    "$KVMM" ctl --json "$sock" x-query-sched >"$OUT/cosched-$mode.query.json" || rc=1
    "$KVMM" ctl "$sock" quit >/dev/null
    wait "$pid"
    cp /tmp/cosched-$mode.trace "$OUT/" || rc=1
    echo "COSCHED-$mode: rc=$rc $(grep BARRIER-DONE "$con")"
    return $rc
}

if [ "${1-}" = --inner ]; then
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/cpu ]; then
        mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
    fi
    echo "COSCHED-CGROUP: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || echo none)"
    rc=0
    for r in $(seq "$REPEAT"); do
        run_mode off-$r && run_mode on-$r || { rc=1; break; }
    done
    echo "COSCHED-INNER-RC=$rc"
    exit 0
fi

# ---- outside: run, then tabulate and plot
bash scripts/build-guest.sh >/dev/null || exit 1
log=$OUT/cosched.log
if scripts/host-kvm-ok.sh; then
    bash "$0" --inner >"$log" 2>&1
else
    scripts/testhost.sh --timeout $((2 * REPEAT * (BOOT_TIMEOUT + SECS * 4 + 90))) -- \
        env BARRIER_SECONDS="$SECS" SKEW_MS="$SKEW_MS" BOOST="$BOOST" REPEAT="$REPEAT" \
        bash "$ROOT/bench/sched/cosched.sh" --inner >"$log" 2>&1
fi
if ! grep -q '^COSCHED-INNER-RC=0' "$log"; then
    echo "bench-sched: co-scheduling experiment failed; its log ($log) ends:" >&2
    tail -25 "$log" >&2
    exit 1
fi

python3 - "$OUT" "$SKEW_MS" "$REPEAT" <<'PY' | tee "$OUT/cosched.md"
import json, sys
out, bound, repeat = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
tick = bound / 4

def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))] if s else 0

def starts(rows, key):
    n, prev = 0, None
    for r in rows:
        cur = r[key]
        if prev is not None:
            n += sum(1 for a, b in zip(prev, cur) if b and not a)
        prev = cur
    return n

runs = []
for r in range(1, repeat + 1):
    for mode in ("off", "on"):
        name = "%s-%d" % (mode, r)
        lines = [l.rstrip("\n").split(" ", 1) for l in open("%s/cosched-%s.lines" % (out, name))]
        start = next(float(t) for t, l in lines if l.startswith("BARRIER-START"))
        end, done = next((float(t), l) for t, l in lines if l.startswith("BARRIER-DONE"))
        rate = float(done.split("rate=")[1])
        series = [(float(t) - start, float(l.split("rate=")[1])) for t, l in lines
                  if l.startswith("BARRIER t=")]
        stat = [list(map(float, l.split())) for l in open("%s/cosched-%s.stat" % (out, name))]
        stat = [s for s in stat if start <= s[0] <= end]
        r0, r1 = stat[0][1], stat[0][3]
        spread = [abs((s[1] - r0) - (s[3] - r1)) for s in stat]
        cpu = ((stat[-1][1] - r0) + (stat[-1][3] - r1)) / (stat[-1][0] - stat[0][0]) * 100
        trace = [json.loads(l) for l in open("%s/cosched-%s.trace" % (out, name))]
        win = [t for t in trace if start <= t["t_ms"] <= end]
        skew = [t["skew_us"] / 1000.0 for t in win]
        q = json.load(open("%s/cosched-%s.query.json" % (out, name)))["return"]["vms"][0]
        with open("%s/cosched-%s.dat" % (out, name), "w") as f:
            for t in win:
                f.write("%.3f %.3f\n" % ((t["t_ms"] - start) / 1000.0, t["skew_us"] / 1000.0))
        with open("%s/cosched-%s-rate.dat" % (out, name), "w") as f:
            for t, v in series:
                f.write("%.3f %.0f\n" % (t / 1000.0, v))
        same = sum(1 for t in win if len(set(t.get("cpu", [-1, -2]))) == 1)
        held = sum(1 for t in win if any(t["held"]))
        boosted = sum(1 for t in win if any(t["boosted"]))
        runs.append(dict(name=name, mode=mode, rate=rate, cpu=cpu, skew=skew, spread=spread,
                         cs=q["coschedule"], ticks=len(win),
                         period=(win[-1]["t_ms"] - win[0]["t_ms"]) / max(1, len(win) - 1),
                         holds=starts(win, "held"), boosts=starts(win, "boosted"),
                         same_pct=100.0 * same / max(1, len(win)),
                         held_pct=100.0 * held / max(1, len(win)),
                         boosted_pct=100.0 * boosted / max(1, len(win))))

print("Barrier window only.  Skew: the controller's progress clocks (KVMM_COSCHED_TRACE, "
      "every %g ms, also with co-scheduling off); spread: the vCPUs' time on a CPU since "
      "the barrier started (schedstat every 50 ms)." % tick)
print()
print("| run | co-scheduling | barrier rounds/s | vCPU CPU time (% of one CPU, both) | "
      "skew p50 / p90 / p99 / max (ms) | on-CPU spread p50 / p99 / max (ms) | "
      "boosts / holds started | ticks boosted / held | ticks with both vCPUs on one CPU |")
print("|---|---|---|---|---|---|---|---|---|")
for r in runs:
    on = r["mode"] == "on"
    print("| %s | %s | %.0f | %.0f%% | %.1f / %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %s | %s | %.0f%% |" % (
        r["name"], "on (%g ms, boost %d)" % (bound, r["cs"]["boost_weight"]) if on else "off",
        r["rate"], r["cpu"], pct(r["skew"], 50), pct(r["skew"], 90), pct(r["skew"], 99),
        max(r["skew"]), pct(r["spread"], 50), pct(r["spread"], 99), max(r["spread"]),
        "%d / %d" % (r["boosts"], r["holds"]) if on else "-",
        "%.0f%% / %.0f%%" % (r["boosted_pct"], r["held_pct"]) if on else "-", r["same_pct"]))
print()
print("Controller statistics over the whole run, boot included (x-query-sched):")
for r in runs:
    cs = r["cs"]
    if r["mode"] != "on":
        continue
    print("- %s: boost %s, boosts %d (%.0f ms boosted), spreads %d (undone %d), holds %d (useful %d, "
          "timeouts %d, lapsed %d, renewed %d, %.0f ms held), skipped %d, histogram %s, max %.1f ms" % (
              r["name"], "available" if cs["boost"] else "unavailable", cs["boosts"],
              cs["boosted_ms"], cs.get("spreads", 0), cs.get("unspreads", 0), cs["costops"], cs["useful"],
              cs["timeouts"], cs.get("lapsed", 0), cs.get("renewals", 0), cs["held_ms"],
              cs["skipped"], " ".join(str(b["count"]) for b in cs["skew_histogram"]),
              cs["max_skew_seen_ms"]))
print()
mean = lambda m: sum(r["rate"] for r in runs if r["mode"] == m) / repeat
p99 = max(pct(r["skew"], 99) for r in runs if r["mode"] == "on")
print("rounds/s on / off (means of %d runs each): x%.2f" % (repeat, mean("on") / mean("off")))
print("worst p99 skew with co-scheduling on: %.1f ms (bound %g ms + one %g ms tick = %g ms): %s" % (
    p99, bound, tick, bound + tick, "kept" if p99 <= bound + tick else "NOT kept"))
PY
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

if command -v gnuplot >/dev/null; then
    mkdir -p docs/img
    gnuplot <<GP
set terminal png size 800,620
set output "docs/img/sched-cosched.png"
set multiplot layout 2,1 title "2-vCPU spin barrier against a host CPU hog (test host VM, 2 CPUs)"
set xlabel "seconds since the barrier started"
set ylabel "barrier rounds/s (per 0.5 s)"
set key bottom left
set logscale y
plot "$OUT/cosched-off-1-rate.dat" using 1:(\$2+1) with linespoints lw 2 title "co-scheduling off", \
     "$OUT/cosched-on-1-rate.dat" using 1:(\$2+1) with linespoints lw 2 title "co-scheduling on (${SKEW_MS} ms, boost ${BOOST})"
set ylabel "skew (ms), controller's measure"
set key top left
plot "$OUT/cosched-off-1.dat" using 1:(\$2+0.01) with lines lw 1 title "off", \
     "$OUT/cosched-on-1.dat" using 1:(\$2+0.01) with lines lw 1 title "on", \
     ${SKEW_MS} with lines dt 2 lw 2 lc rgb "black" title "bound"
unset multiplot
GP
    echo "plot: docs/img/sched-cosched.png"
else
    echo "bench-sched: gnuplot not installed: no plot" >&2
fi
