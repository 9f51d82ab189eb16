#!/bin/bash
# bench/sched/cosched.sh: the co-scheduling experiment (docs/scheduling.md).
#
# One 2-vCPU Linux guest runs tests/guest/barrier (two threads, one per
# vCPU, meeting at a spin barrier) while a CPU hog pinned to host CPU 1
# competes for the host's 2 CPUs; the vCPU threads are not pinned.  Two
# runs: co-scheduling off, then on (sched.coschedule, max_skew_ms
# $SKEW_MS).  Measured: barrier rounds/s (what the guest prints), the
# spread between the two vCPUs' time on a CPU (sampled every 10 ms from
# schedstat, the controller's notion of progress for vCPUs that never
# halt) and, when on, the controller's own statistics (x-query-sched).
#
# Needs a KVM that runs Linux: here, the test host VM (scripts/testhost.sh);
# the runs happen inside it.  Writes build/bench/sched/cosched-*, prints a
# table (also cosched.md) and draws docs/img/sched-cosched.png.
# Environment: BARRIER_SECONDS (default 12), SKEW_MS (default 10).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
KVMM=$ROOT/build/kvmm
GUEST=$ROOT/build/guest
OUT=${BENCH_DIR:-$ROOT/build/bench}/sched
SECS=${BARRIER_SECONDS:-12}
SKEW_MS=${SKEW_MS:-10}
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}
mkdir -p "$OUT"

# ---- inside the test host: one run per mode
run_mode() {
    local mode=$1 on sock spec con pid hog sampler rc=0 script
    on=$([ "$mode" = on ] && echo true || echo false)
    sock=/tmp/cosched-$mode.sock spec=/tmp/cosched-$mode.json con=$OUT/cosched-$mode.console
    script="echo BARRIER-READY
sleep 3
barrier -t $SECS -i 500
sleep 600"
    cat >"$spec" <<JSON
{"name": "barrier", "kernel": "$GUEST/vmlinuz-cloud", "initrd": "$GUEST/initramfs-cloud.cpio.gz",
 "cmdline": "console=ttyS0 quiet kvmm.test=script $(printf 'kvmm.cmd=%s' "$(printf '%s\n' "$script" | base64 -w0)")",
 "vcpus": 2, "memory_mib": 256, "control": {"path": "$sock"},
 "sched": {"coschedule": {"enabled": $on, "max_skew_ms": $SKEW_MS}}}
JSON
    "$KVMM" run "$spec" </dev/null >"$con" 2>&1 &
    pid=$!
    # The sampler starts now: under the loaded test host, Python takes
    # seconds to start.  It waits for the vCPU threads itself.
    /usr/bin/python3 bench/sched/sample.py "$pid" "$con" BARRIER-DONE "$OUT/cosched-$mode" \
        --timeout $((BOOT_TIMEOUT + SECS * 4 + 60)) --vcpus 2 &
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
    echo "COSCHED-$mode: rc=$rc $(grep BARRIER-DONE "$con")"
    return $rc
}

if [ "${1-}" = --inner ]; then
    run_mode off && run_mode on
    echo "COSCHED-INNER-RC=$?"
    exit 0
fi

# ---- outside: run, then tabulate and plot
bash scripts/build-guest.sh >/dev/null || exit 1
log=$OUT/cosched.log
if scripts/host-kvm-ok.sh; then
    bash "$0" --inner >"$log" 2>&1
else
    scripts/testhost.sh --timeout $((2 * (BOOT_TIMEOUT + SECS * 4 + 90))) -- \
        env BARRIER_SECONDS="$SECS" SKEW_MS="$SKEW_MS" bash "$ROOT/bench/sched/cosched.sh" --inner >"$log" 2>&1
fi
if ! grep -q '^COSCHED-INNER-RC=0' "$log"; then
    echo "bench-sched: co-scheduling experiment failed; its log ($log) ends:" >&2
    tail -25 "$log" >&2
    exit 1
fi

python3 - "$OUT" "$SKEW_MS" <<'PY' | tee "$OUT/cosched.md"
import json, sys
out, bound = sys.argv[1], float(sys.argv[2])
bounds = [1, 2, 5, 10, 20, 50, 100]

def hist(vals):
    h = [0] * (len(bounds) + 1)
    for v in vals:
        h[next((i for i, b in enumerate(bounds) if v < b), len(bounds))] += 1
    return h

def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))] if s else 0

rows = {}
for mode in ("off", "on"):
    lines = [l.split(" ", 1) for l in open("%s/cosched-%s.lines" % (out, mode))]
    start = next(float(t) for t, l in lines if l.startswith("BARRIER-START"))
    done = next(l for t, l in lines if l.startswith("BARRIER-DONE"))
    rate = float(done.split("rate=")[1])
    series = [(float(t) - start, float(l.split("rate=")[1])) for t, l in lines
              if l.startswith("BARRIER t=")]
    stat = [list(map(float, l.split())) for l in open("%s/cosched-%s.stat" % (out, mode))]
    stat = [r for r in stat if r[0] >= start]
    r0, r1 = stat[0][1], stat[0][3]
    skew = [abs((r[1] - r0) - (r[3] - r1)) for r in stat]
    cpu = [((r[1] - r0) + (r[3] - r1)) / (r[0] - stat[0][0]) * 100 for r in stat[-1:]]
    q = json.load(open("%s/cosched-%s.query.json" % (out, mode)))["return"]["vms"][0]
    cs = q["coschedule"]
    with open("%s/cosched-%s.dat" % (out, mode), "w") as f:
        for r, s in zip(stat, skew):
            f.write("%.3f %.3f\n" % ((r[0] - start) / 1000.0, s))
    with open("%s/cosched-%s-rate.dat" % (out, mode), "w") as f:
        for t, v in series:
            f.write("%.3f %.0f\n" % (t / 1000.0, v))
    rows[mode] = dict(rate=rate, p50=pct(skew, 50), p90=pct(skew, 90), max=max(skew),
                      hist=hist(skew), cpu=cpu[0], cs=cs)

names = ["<1", "<2", "<5", "<10", "<20", "<50", "<100", ">=100"]
print("| co-scheduling | barrier rounds/s | vCPU CPU time (% of one CPU, both) | "
      "on-CPU spread p50 / p90 / max (ms) | holds | useful / timeouts | held (ms) | "
      "not held: laggard not waiting |")
print("|---|---|---|---|---|---|---|---|")
for m, r in rows.items():
    cs = r["cs"]
    on = cs["enabled"]
    print("| %s | %.0f | %.0f%% | %.1f / %.1f / %.1f | %s | %s | %s | %s |" % (
        m if m == "off" else "on (%g ms)" % bound, r["rate"], r["cpu"], r["p50"], r["p90"],
        r["max"], cs["costops"] if on else "-",
        "%d / %d" % (cs["useful"], cs["timeouts"]) if on else "-",
        "%.0f" % cs["held_ms"] if on else "-", cs["skipped"] if on else "-"))
print()
print("Spread samples (every 10 ms) per bucket, ms: " + ", ".join(names))
for m, r in rows.items():
    print("- %s, sampled: %s" % (m, " ".join(str(x) for x in r["hist"])))
on = rows["on"]["cs"]
print("- on, controller (x-query-sched, every %g ms): %s; max seen %.1f ms" % (
    on["max_skew_ms"] / 4, " ".join(str(b["count"]) for b in on["skew_histogram"]),
    on["max_skew_seen_ms"]))
print()
print("rounds/s on / off: x%.2f" % (rows["on"]["rate"] / rows["off"]["rate"]))
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
set key top left
set logscale y
plot "$OUT/cosched-off-rate.dat" using 1:(\$2+1) with linespoints lw 2 title "co-scheduling off", \
     "$OUT/cosched-on-rate.dat" using 1:(\$2+1) with linespoints lw 2 title "co-scheduling on (${SKEW_MS} ms)"
set ylabel "vCPU on-CPU time spread (ms)"
plot "$OUT/cosched-off.dat" using 1:(\$2+0.01) with lines lw 2 title "off", \
     "$OUT/cosched-on.dat" using 1:(\$2+0.01) with lines lw 2 title "on", \
     ${SKEW_MS} with lines dt 2 lc rgb "black" title "bound"
unset multiplot
GP
    echo "plot: docs/img/sched-cosched.png"
else
    echo "bench-sched: gnuplot not installed: no plot" >&2
fi
