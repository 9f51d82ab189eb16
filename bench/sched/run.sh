#!/bin/bash
# bench/sched/run.sh: make bench-sched.  First the port-I/O stand-in of the
# I/O-aware weights experiment, on this host's /dev/kvm (a quick check of
# the mechanism, not the experiment: no Linux, no disk); then the real
# experiments with Linux guests: ioweights.sh (fio next to a CPU loop),
# cosched.sh and infer.sh.
#
# The stand-in: one kvmm process, two single-vCPU VMs whose vCPUs share host CPU 1
# (their I/O threads are on CPU 0): "cpu" runs an integer loop
# (firmware/work.c, io=0), "io" does port I/O round trips to the test
# device (io=1: one exit to kvmm per operation).  Both start with weight
# 100 in their own cgroups; the run is repeated with the adaptive
# controller off and on.  Progress is what the guests print ("p N" every
# chunk); weights and classes come from the controller's trace.
#
# Writes build/bench/sched/{table.md,series.dat,weights.dat,io-weights-portio.png} and
# prints the table.  Needs root (cgroup v1 or v2) and this host's
# /dev/kvm; SECONDS_PER_RUN (default 10) sets the run length.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
KVMM=${KVMM:-build/kvmm}
ELF=$PWD/build/firmware/work.elf
T=${SECONDS_PER_RUN:-10}
OUT=${BENCH_DIR:-$PWD/build/bench}/sched
IO_CHUNK=200
CPU_CHUNK=20000
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/kvmm-bench-sched.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT

# run MODE ADAPTIVE(true|false)
run() {
    local mode=$1 adaptive=$2 pid t0
    cat >"$tmp/$mode.json" <<JSON
{"vms": [
 {"name": "cpu", "kernel": "$ELF", "memory_mib": 32, "console": "file:$tmp/$mode.cpu.con",
  "params": {"io": "0", "chunk": "$CPU_CHUNK"},
  "sched": {"weight": 100, "vcpu_affinity": [[1]], "io_affinity": [0],
            "adaptive": {"enabled": $adaptive}}},
 {"name": "io", "kernel": "$ELF", "memory_mib": 32, "console": "file:$tmp/$mode.io.con",
  "params": {"io": "1", "chunk": "$IO_CHUNK"},
  "sched": {"weight": 100, "vcpu_affinity": [[1]], "io_affinity": [0],
            "adaptive": {"enabled": $adaptive}}}]}
JSON
    : >"$tmp/$mode.cpu.con"; : >"$tmp/$mode.io.con"
    KVMM_SCHED_TRACE=$tmp/$mode.trace "$KVMM" run "$tmp/$mode.json" 2>"$tmp/$mode.err" </dev/null &
    pid=$!
    t0=$(date +%s.%N)
    # progress every half second: time, cpu lines, io lines
    : >"$tmp/$mode.progress"
    for _ in $(seq $((T * 2))); do
        sleep 0.5
        echo "$(echo "$(date +%s.%N) - $t0" | bc) $(grep -c '^p ' "$tmp/$mode.cpu.con") \
$(grep -c '^p ' "$tmp/$mode.io.con")" >>"$tmp/$mode.progress"
    done
    # CPU time of each VM's vCPU over the whole run, from schedstat
    for t in /proc/"$pid"/task/*; do
        [ "$(cat "$t/comm")" = vcpu0 ] || continue
        echo "$(grep -o 'kvmm-[0-9]*/[a-z]*/' "$t/cgroup" | head -1 | cut -d/ -f2) \
$(cut -d' ' -f1 "$t/schedstat")"
    done >"$tmp/$mode.cputime"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    if ! grep -q . "$tmp/$mode.progress" || [ "$(tail -1 "$tmp/$mode.progress" | cut -d' ' -f3)" = 0 ]; then
        echo "bench-sched: $mode: no progress; kvmm said: $(tail -3 "$tmp/$mode.err")" >&2
        return 1
    fi
}

# rates over the second half of a run (the controller has settled)
rates() {   # rates MODE -> "cpu_iter_per_s io_ops_per_s"
    awk -v cc=$CPU_CHUNK -v ic=$IO_CHUNK '{ t[NR]=$1; c[NR]=$2; i[NR]=$3 }
        END { h=int(NR/2); dt=t[NR]-t[h];
              printf "%.0f %.0f\n", (c[NR]-c[h])*cc/dt, (i[NR]-i[h])*ic/dt }' "$tmp/$1.progress"
}

# the io VM's vCPU's share of the CPU time both vCPUs got
share() {
    awk '{ t[$1]=$2 } END { s=t["io"]+t["cpu"]; printf "%.0f\n", s ? 100*t["io"]/s : 0 }' \
        "$tmp/$1.cputime"
}

run off false || exit 1
run on true || exit 1
read -r off_cpu off_io <<<"$(rates off)"
read -r on_cpu on_io <<<"$(rates on)"
off_share=$(share off); on_share=$(share on)
w_io=$(grep '"vm":"io","thread":"vcpu0"' "$tmp/on.trace" | tail -1 | sed 's/.*"weight":\([0-9]*\).*/\1/')
w_cpu=$(grep '"vm":"cpu","thread":"vcpu0"' "$tmp/on.trace" | tail -1 | sed 's/.*"weight":\([0-9]*\).*/\1/')
c_io=$(grep '"vm":"io","thread":"vcpu0"' "$tmp/on.trace" | tail -1 | sed 's/.*"class":"\([a-z]*\)".*/\1/')
c_cpu=$(grep '"vm":"cpu","thread":"vcpu0"' "$tmp/on.trace" | tail -1 | sed 's/.*"class":"\([a-z]*\)".*/\1/')

{
    echo "Stand-in (port I/O round trips on this host's /dev/kvm; the experiment itself is ioweights.sh):"
    echo
    echo "| adaptive | io VM port I/O ops/s | cpu VM loop iterations/s | io vCPU share of CPU 1 | final weights (io / cpu) |"
    echo "|---|---|---|---|---|"
    echo "| off | $off_io | $off_cpu | ${off_share}% | 100 / 100 |"
    echo "| on | $on_io | $on_cpu | ${on_share}% | $w_io ($c_io) / $w_cpu ($c_cpu) |"
    awk -v a="$off_io" -v b="$on_io" -v c="$off_cpu" -v d="$on_cpu" 'BEGIN {
        printf "\nio VM: x%.2f operations/s; cpu VM: x%.2f iterations/s (on / off)\n", b/a, d/c }'
} | tee "$OUT/table.md"

# series for the plot: time, io ops/s in each half-second, per mode
for m in off on; do
    awk -v ic=$IO_CHUNK 'NR>1 { printf "%.2f %.0f\n", $1, ($3-p)*ic/($1-t) } { t=$1; p=$3 }' \
        "$tmp/$m.progress" >"$OUT/series-$m.dat"
done
python3 - "$tmp/on.trace" >"$OUT/weights.dat" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t0 = rows[0]["t_ms"]
w = {}
for r in rows:
    if r["thread"] == "vcpu0":
        w[r["vm"]] = r["weight"]
        if len(w) == 2:
            print("%.2f %d %d" % ((r["t_ms"] - t0) / 1000.0, w["io"], w["cpu"]))
PY
if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal png size 800,420
set output "$OUT/io-weights-portio.png"
set title "Stand-in (port I/O, no Linux): two VMs on one host CPU, adaptive weights off vs on"
set xlabel "seconds"
set ylabel "io VM port I/O operations/s"
set y2label "cgroup weight (adaptive on)"
set y2tics
set ytics nomirror
set key bottom right
plot "$OUT/series-off.dat" using 1:2 with lines lw 2 title "ops/s, adaptive off", \
     "$OUT/series-on.dat" using 1:2 with lines lw 2 title "ops/s, adaptive on", \
     "$OUT/weights.dat" using 1:2 axes x1y2 with steps dt 2 title "io vCPU weight", \
     "$OUT/weights.dat" using 1:3 axes x1y2 with steps dt 3 title "cpu vCPU weight"
GP
    echo "plot: $OUT/io-weights-portio.png"
else
    echo "bench-sched: gnuplot not installed (scripts/setup.sh installs gnuplot-nox): no plot" >&2
fi

# The experiments with Linux guests (inside the test host VM when this
# host's KVM cannot run Linux): I/O-aware weights, co-scheduling, class
# inference.
rc=0
bash bench/sched/ioweights.sh || rc=1
bash bench/sched/cosched.sh || rc=1
bash bench/sched/infer.sh || rc=1
exit "$rc"
