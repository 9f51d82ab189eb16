#!/bin/bash
# bench/sched/infer.sh: the class inference experiment (docs/scheduling.md).
#
# One 1-vCPU Linux guest alternates a CPU-bound phase (a shell busy loop)
# and an I/O-bound phase (dd reading its virtio disk, 4 KiB, O_DIRECT)
# every $PHASE_SECONDS s, three times each, with the adaptive controller
# on.  KVMM_SCHED_TRACE records the controller's raw class and label every
# period; the guest's phase markers are stamped with the same clock.
#
# Needs a KVM that runs Linux (here, the test host VM) and cgroups for the
# controller: inside the test host it mounts cgroup v2, or, when that
# fails, drives a plain directory (cgroup_root), where weights have no
# effect but the classes are the same.  Writes build/bench/sched/infer-*,
# prints a table (also infer.md) and draws docs/img/sched-infer.png.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
KVMM=$ROOT/build/kvmm
GUEST=$ROOT/build/guest
OUT=${BENCH_DIR:-$ROOT/build/bench}/sched
PHASE=${PHASE_SECONDS:-6}
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}
mkdir -p "$OUT"

# ---- inside the test host
# run CGROUP_ROOT: one guest run; 0 when the guest got through its phases
run() {
    local cgroot=$1 spec=/tmp/infer.json con=$OUT/infer.console disk=/tmp/infer.img pid rc=0 script
    # Each phase runs in its own session and process group (setsid: a
    # background job of a non-interactive shell is no group leader, so
    # setsid does not fork and \$! is the group), and the whole group is
    # killed when the phase ends: the dd with its loop.
    script="phase() { setsid sh -c \"\$1\" & p=\$!; sleep $PHASE; kill -TERM -\$p; wait \$p; }
for i in 1 2 3; do
echo PHASE cpu
phase 'while :; do :; done'
echo PHASE io
phase 'while :; do dd if=/dev/vda of=/dev/null bs=4096 iflag=direct 2>/dev/null; done'
done
echo PHASE end"
    truncate -s 64M "$disk"
    cat >"$spec" <<JSON
{"name": "infer", "kernel": "$GUEST/vmlinuz-cloud", "initrd": "$GUEST/initramfs-cloud.cpio.gz",
 "cmdline": "console=ttyS0 quiet kvmm.test=script $(printf 'kvmm.cmd=%s' "$(printf '%s\n' "$script" | base64 -w0)")",
 "vcpus": 1, "memory_mib": 256, "disks": [{"path": "$disk", "read_only": true}],
 "sched": {"cgroup_root": "$cgroot", "weight": 100, "adaptive": {"enabled": true}}}
JSON
    rm -f "$OUT/infer.trace"
    KVMM_SCHED_TRACE=$OUT/infer.trace "$KVMM" run "$spec" </dev/null >"$con" 2>&1 &
    pid=$!
    # Started at once: Python is slow to start in the loaded test host.
    /usr/bin/python3 bench/sched/sample.py "$pid" "$con" 'PHASE end' "$OUT/infer" --interval 50 \
        --timeout $((BOOT_TIMEOUT + PHASE * 6 * 4 + 60)) || rc=1
    grep -q 'PHASE end' "$con" || { echo "INFER: no end of phases with cgroup_root $cgroot"; tail -20 "$con"; rc=1; }
    kill "$pid" 2>/dev/null
    wait "$pid"
    return $rc
}

if [ "${1-}" = --inner ]; then
    layout=plain
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/cpu ]; then
        mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
    fi
    if [ -e /sys/fs/cgroup/cgroup.controllers ] && run /sys/fs/cgroup; then
        layout=v2
    else
        mkdir -p /tmp/infer-cg && run /tmp/infer-cg || { echo "INFER-INNER-RC=1"; exit 0; }
    fi
    echo "INFER-LAYOUT=$layout"
    echo "INFER-INNER-RC=0"
    exit 0
fi

# ---- outside
# --report: the table and the plot again from the last run's files
log=$OUT/infer.log
if [ "${1-}" = --report ]; then
    :
elif ! bash scripts/build-guest.sh >/dev/null; then
    exit 1
elif scripts/host-kvm-ok.sh; then
    bash "$0" --inner >"$log" 2>&1
else
    scripts/testhost.sh --timeout $((2 * (BOOT_TIMEOUT + PHASE * 24 + 90))) -- \
        env BENCH_DIR="${OUT%/sched}" PHASE_SECONDS="$PHASE" bash "$ROOT/bench/sched/infer.sh" --inner >"$log" 2>&1
fi
if ! grep -q '^INFER-INNER-RC=0' "$log"; then
    echo "bench-sched: inference experiment failed; its log ($log) ends:" >&2
    tail -25 "$log" >&2
    exit 1
fi
layout=$(sed -n 's/^INFER-LAYOUT=//p' "$log" | tr -d '\r')

python3 - "$OUT" "$layout" <<'PY' | tee "$OUT/infer.md"
import json, sys
out, layout = sys.argv[1], sys.argv[2]
code = {"idle": 0, "cpu": 1, "io": 2}
trace = [json.loads(l) for l in open(out + "/infer.trace")]
trace = [r for r in trace if r["thread"] == "vcpu0"]
phases = []
for l in open(out + "/infer.lines"):
    t, line = l.rstrip("\n").split(" ", 1)
    if line.startswith("PHASE "):
        phases.append((float(t), line.split()[1]))
t0 = phases[0][0]
period = (trace[-1]["t_ms"] - trace[0]["t_ms"]) / max(1, len(trace) - 1)
with open(out + "/infer.dat", "w") as f:
    for r in trace:
        f.write("%.2f %d %d %d\n" % ((r["t_ms"] - t0) / 1000.0, code[r["class"]],
                                     code[r["raw"]], r["weight"]))
with open(out + "/infer-phases.dat", "w") as f:
    for (t, name), nxt in zip(phases, phases[1:]):
        f.write("%.2f %.2f %s\n" % ((t - t0) / 1000.0, (nxt[0] - t0) / 1000.0, name))
print("Trace: one line per %.0f ms period; cgroups: %s." % (period, layout))
print()
print("| phase | periods | label cpu / io / idle | raw cpu / io / idle | label right | label settles after "
      "| right after 2 periods | device requests/s | halt exits/s | halt wait % | run % | I/O thread % "
      "| weight at end |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
tot = [0, 0, 0, 0]
for (t, name), nxt in zip(phases, phases[1:]):
    rows = [r for r in trace if t <= r["t_ms"] < nxt[0]]
    if not rows:
        continue
    n = len(rows)
    lab = [sum(r["class"] == c for r in rows) for c in ("cpu", "io", "idle")]
    raw = [sum(r["raw"] == c for r in rows) for c in ("cpu", "io", "idle")]
    settle = next(((r["t_ms"] - t) / 1000.0 for r in rows if r["class"] == name), None)
    right = sum(r["class"] == name for r in rows)
    # periods that end more than two periods after the phase began
    late = [r for r in rows if r["t_ms"] - t > 2 * period]
    late_right = sum(r["class"] == name for r in late)
    tot = [tot[0] + right, tot[1] + n, tot[2] + late_right, tot[3] + len(late)]
    secs = n * period / 1000.0
    halts = sum(r["halt_exits"] for r in rows) / secs
    run = sum(r["run_us"] for r in rows) / 1000.0 / (n * period) * 100
    wait = sum(r["halt_wait_us"] for r in rows) / 1000.0 / (n * period) * 100
    reqs = sum(r.get("dev_requests", 0) for r in rows) / secs
    iot = sum(r.get("io_run_us", 0) for r in rows) / 1000.0 / (n * period) * 100
    print("| %s @%.1fs | %d | %d / %d / %d | %d / %d / %d | %.0f%% | %s | %.0f%% | %.0f | %.0f "
          "| %.0f%% | %.0f%% | %.0f%% | %d |" % (
        name, (t - t0) / 1000.0, n, lab[0], lab[1], lab[2], raw[0], raw[1], raw[2],
        100.0 * right / n,
        "%.2f s (%.1f periods)" % (settle, settle * 1000.0 / period) if settle is not None else "never",
        100.0 * late_right / max(1, len(late)), reqs, halts, wait, run, iot, rows[-1]["weight"]))
print()
print("All phases: label right in %d of %d periods (%.0f%%), in %d of %d (%.0f%%) "
      "after each phase's first two periods." % (tot[0], tot[1], 100.0 * tot[0] / max(1, tot[1]),
                                                 tot[2], tot[3], 100.0 * tot[2] / max(1, tot[3])))
PY
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

if command -v gnuplot >/dev/null; then
    mkdir -p docs/img
    gnuplot <<GP
set terminal png size 800,480
set output "docs/img/sched-infer.png"
set title "Classifier label of a 1-vCPU guest alternating CPU and disk phases"
set xlabel "seconds since the first phase"
set ytics ("idle" 0, "cpu" 1, "io" 2)
set yrange [-0.3:2.6]
set y2label "vCPU weight"
set y2tics
set y2range [0:450]
set key outside below horizontal
set style fill transparent solid 0.12 noborder
plot "$OUT/infer-phases.dat" using (\$1):(stringcolumn(3) eq "io" ? 2.6 : 1/0):(\$1):(\$2):(-0.3):(2.6) \
         with boxxyerror lc rgb "blue" title "io phase (dd iflag=direct)", \
     "$OUT/infer-phases.dat" using (\$1):(stringcolumn(3) eq "cpu" ? 2.6 : 1/0):(\$1):(\$2):(-0.3):(2.6) \
         with boxxyerror lc rgb "red" title "cpu phase (busy loop)", \
     "$OUT/infer.dat" using 1:(\$3+0.08) with points pt 7 ps 0.4 lc rgb "gray40" title "raw class", \
     "$OUT/infer.dat" using 1:2 with steps lw 2 lc rgb "black" title "label", \
     "$OUT/infer.dat" using 1:4 axes x1y2 with steps dt 2 lc rgb "dark-green" title "weight"
GP
    echo "plot: docs/img/sched-infer.png"
else
    echo "bench-sched: gnuplot not installed: no plot" >&2
fi
