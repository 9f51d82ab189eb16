#!/bin/bash
# bench/sched/ioweights.sh: the I/O-aware weights experiment with Linux
# guests (docs/scheduling.md; part of make bench-sched).
#
# One kvmm process runs two 1-vCPU Linux guests whose vCPU threads are
# both pinned to host CPU 1 (their I/O threads to CPU 0), each VM at
# weight 100 in its own cgroup:
#   a: a CPU-bound loop (busybox awk) printing "p UPTIME ITERATIONS" every
#      LOOP_CHUNK iterations;
#   b: fio, 4 KiB random reads of its virtio-blk disk (O_DIRECT, libaio,
#      FIO_IODEPTH), for FIO_SECONDS; a side loop prints the disk's
#      completed reads every half second.  The disk is a 256 MiB image on
#      tmpfs, or with IOW_DISK_US=N a null_blk device that completes each
#      read N µs after it arrives (a timer, no CPU time): storage that
#      makes the guest wait rather than compute.
# Two runs: the adaptive controller off (static equal weights) and on.
# b's IOPS and p99 completion latency come from fio's own (terse) output,
# a's loop rate from its lines inside b's fio window.  The vCPU and I/O
# threads' schedstat (time on a CPU, time waiting for one, timeslices) is
# taken when fio starts and ends.
#
# Linux guests need KVM with hardware virtualisation: here that is the
# test host VM, where the script mounts cgroup v2 (threaded cpu.weight).
# Writes build/bench/sched/iow-*, prints a table (also iow.md) and draws
# docs/img/sched-io-weights.png.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
KVMM=$ROOT/build/kvmm
GUEST=$ROOT/build/guest
OUT=${BENCH_DIR:-$ROOT/build/bench}/sched
SECS=${FIO_SECONDS:-20}
QD=${FIO_IODEPTH:-1}
CHUNK=${LOOP_CHUNK:-100000}
MODES=${IOW_MODES:-off on}
DISK_US=${IOW_DISK_US:-}
[ -z "$DISK_US" ] || [[ $DISK_US =~ ^[1-9][0-9]{0,6}$ ]] || {
    echo "IOW_DISK_US: expected a latency in µs from 1 to 9999999, got '$DISK_US'" >&2; exit 2; }
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-240}
mkdir -p "$OUT"

# ---- inside the test host -------------------------------------------------

# spec MODE ADAPTIVE: the two-VM spec
spec() {
    local mode=$1 adaptive=$2 sa sb disk='"path": "/tmp/iow-disk.img", "read_only": true, "cache": "writeback"'
    [ -z "$DISK_US" ] || disk='"path": "/dev/nullb0", "read_only": true, "cache": "none"'
    sa="echo LOOP-START
awk -v n=$CHUNK 'BEGIN { for (;;) { for (k = 0; k < n; k++) x += k; i += n
    getline u < \"/proc/uptime\"; close(\"/proc/uptime\"); split(u, f, \" \")
    print \"p\", f[1], i; fflush() } }'"
    sb="sleep 2
( while :; do read up _ </proc/uptime; read r _ </sys/block/vda/stat; echo \"s \$up \$r\"; sleep 0.5; done ) &
sp=\$!
echo FIO-START
fio --name=b --filename=/dev/vda --direct=1 --ioengine=libaio --thread --rw=randread --bs=4k \
 --iodepth=$QD --time_based --runtime=$SECS --minimal >/tmp/fio.out 2>/tmp/fio.err
echo FIO-END
kill \$sp
echo \"FIO-TERSE \$(cat /tmp/fio.out)\"
cat /tmp/fio.err"
    cat <<JSON
{"vms": [
 {"name": "a", "kernel": "$GUEST/vmlinuz-cloud", "initrd": "$GUEST/initramfs-cloud.cpio.gz",
  "cmdline": "console=ttyS0 quiet kvmm.test=script kvmm.cmd=$(printf '%s\n' "$sa" | base64 -w0)",
  "vcpus": 1, "memory_mib": 256, "console": "file:/tmp/iow-$mode.a.con",
  "sched": {"weight": 100, "vcpu_affinity": [[1]], "io_affinity": [0],
            "adaptive": {"enabled": $adaptive}}},
 {"name": "b", "kernel": "$GUEST/vmlinuz-cloud", "initrd": "/tmp/iow-initrd",
  "cmdline": "console=ttyS0 quiet kvmm.test=script kvmm.cmd=$(printf '%s\n' "$sb" | base64 -w0)",
  "vcpus": 1, "memory_mib": 512, "console": "file:/tmp/iow-$mode.b.con",
  "disks": [{$disk}],
  "sched": {"weight": 100, "vcpu_affinity": [[1]], "io_affinity": [0],
            "adaptive": {"enabled": $adaptive}}}]}
JSON
}

# run MODE ADAPTIVE: one kvmm process with both guests; 0 when fio reported
run() {
    local mode=$1 adaptive=$2 pid rc=0 bin=$KVMM
    # IOW_MODES may name other modes (on-X: adaptive on) run with build/kvmm-X
    [ -x "$ROOT/build/kvmm-${mode#on-}" ] && [ "$mode" != on ] && bin=$ROOT/build/kvmm-${mode#on-}
    # a mode ending in -np runs with KVM's halt polling off (module parameter)
    local hp=/sys/module/kvm/parameters/halt_poll_ns hp_was=
    case $mode in *-np) hp_was=$(cat $hp); echo 0 >$hp ;; esac
    spec "$mode" "$adaptive" >/tmp/iow-$mode.json
    : >/tmp/iow-$mode.a.con; : >/tmp/iow-$mode.b.con
    rm -f "$OUT/iow-$mode.trace"
    KVMM_SCHED_TRACE=$OUT/iow-$mode.trace "$bin" run /tmp/iow-$mode.json </dev/null \
        >"$OUT/iow-$mode.kvmm" 2>&1 &
    pid=$!
    taskset -c 0 /usr/bin/python3 - "$pid" "$OUT/iow-$mode" $((BOOT_TIMEOUT + SECS + 60)) <<'PY' || rc=1
# Stamps both consoles' lines (CLOCK_MONOTONIC ms, the trace's clock) and
# snapshots the kvmm threads' schedstat at b's FIO-START and FIO-END.
import os, sys, time
pid, prefix, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
mode = os.path.basename(prefix)[4:]
cons = {vm: open("/tmp/iow-%s.%s.con" % (mode, vm), errors="replace") for vm in "ab"}
part = {vm: "" for vm in "ab"}
lines = open(prefix + ".lines", "w")
snaps = open(prefix + ".sched", "w")

def snapshot(tag, t_ms):
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            comm = open(base + "comm").read().strip()
            cg = open(base + "cgroup").read()
            st = open(base + "schedstat").read().split()
        except OSError:
            continue
        vm = "-"
        for l in cg.splitlines():
            p = l.split(":", 2)[2].split("/")
            for i, c in enumerate(p):
                if c.startswith("kvmm-") and i + 1 < len(p):
                    vm = p[i + 1]
        snaps.write("%s %.1f %s %s %s %s %s\n" % (tag, t_ms, vm, comm, st[0], st[1], st[2]))
    snaps.flush()

end = time.monotonic() + timeout
while time.monotonic() < end:
    t_ms = time.monotonic() * 1000.0
    for vm in "ab":
        part[vm] += cons[vm].read()
        *done, part[vm] = part[vm].split("\n")
        for l in done:
            l = l.rstrip("\r")
            lines.write("%.1f %s %s\n" % (t_ms, vm, l))
            if vm == "b" and l.startswith("FIO-START"):
                snapshot("start", t_ms)
            if vm == "b" and l.startswith("FIO-END"):
                snapshot("end", t_ms)
            if vm == "b" and l.startswith("KVMM-CMD-EXIT"):
                lines.flush()
                sys.exit(0)
            if "Kernel panic" in l:
                lines.flush()
                sys.exit(1)
    lines.flush()
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    time.sleep(0.02)
sys.exit(1)
PY
    grep -q '^FIO-TERSE 3;' /tmp/iow-$mode.b.con || {
        echo "IOW: $mode: no fio result"; tail -15 /tmp/iow-$mode.b.con; tail -5 "$OUT/iow-$mode.kvmm"; rc=1; }
    kill "$pid" 2>/dev/null
    wait "$pid"
    cp /tmp/iow-$mode.a.con /tmp/iow-$mode.b.con "$OUT/" 2>/dev/null
    [ -z "$hp_was" ] || echo "$hp_was" >$hp
    return $rc
}

if [ "${1-}" = --inner ]; then
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/cpu ]; then
        mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
    fi
    layout=none
    [ -e /sys/fs/cgroup/cgroup.controllers ] && layout=v2
    [ -d /sys/fs/cgroup/cpu ] && layout=v1
    # The disk: written, so tmpfs holds a page behind every block.
    dd if=/dev/zero of=/tmp/iow-disk.img bs=1M count=256 status=none || exit 1
    disk=tmpfs
    if [ -n "$DISK_US" ]; then
        # Timer completions (irqmode=2) after DISK_US; multi-queue.
        modprobe null_blk nr_devices=1 gb=1 queue_mode=2 irqmode=2 \
            completion_nsec=$((DISK_US * 1000)) || exit 1
        [ -b /dev/nullb0 ] || { echo "IOW: no /dev/nullb0"; exit 1; }
        disk="null_blk,${DISK_US}us"
    fi
    cp "$ROOT/build/bench/initramfs-bench.cpio" /tmp/iow-initrd || exit 1
    cat "$KVMM" "$GUEST"/vmlinuz-cloud "$GUEST"/initramfs-cloud.cpio.gz >/dev/null
    echo "IOW-ENV kernel=$(uname -r) cpus=$(nproc) cgroups=$layout fio_qd=$QD fio_secs=$SECS disk=$disk"
    for m in $MODES; do
        a=false; [ "${m%%-*}" = on ] && a=true
        # A guest that fails (a few percent of boots in the emulated test
        # host stall or crash) is run again once, and the report says so.
        if ! run "$m" "$a"; then
            echo "IOW-RETRY $m: $(grep -m1 -h 'Kernel panic\|double fault' /tmp/iow-$m.?.con || echo 'no fio result')"
            run "$m" "$a" || { echo "IOW-INNER-RC=1"; exit 0; }
        fi
    done
    echo "IOW-INNER-RC=0"
    exit 0
fi

# ---- outside ---------------------------------------------------------------
# --report: the table and the plot again from the last run's files
log=$OUT/iow.log
if [ "${1-}" = --report ]; then
    :
elif ! bash scripts/build-guest.sh >/dev/null || ! bash bench/virtio/mkinitrd.sh 2>/dev/null; then
    exit 1
elif scripts/host-kvm-ok.sh; then
    bash "$0" --inner >"$log" 2>&1
else
    scripts/testhost.sh --timeout $((3 * (BOOT_TIMEOUT + SECS + 90))) -- \
        env BENCH_DIR="${OUT%/sched}" FIO_SECONDS="$SECS" FIO_IODEPTH="$QD" LOOP_CHUNK="$CHUNK" IOW_MODES="$MODES" \
            IOW_DISK_US="$DISK_US" \
        bash "$ROOT/bench/sched/ioweights.sh" --inner >"$log" 2>&1
fi
if ! grep -q '^IOW-INNER-RC=0' "$log"; then
    echo "bench-sched: I/O weights experiment failed; its log ($log) ends:" >&2
    tail -25 "$log" >&2
    exit 1
fi
env_line=$(grep '^IOW-ENV' "$log" | tr -d '\r')
{
    python3 bench/sched/iow_report.py "$OUT" "$env_line" $MODES || exit 1
    grep '^IOW-RETRY' "$log" | tr -d '\r' | sed 's/^IOW-RETRY /Retried once: /'
    true
} | tee "$OUT/iow.md"
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
png=docs/img/sched-io-weights.png
[ -z "$DISK_US" ] || png=docs/img/sched-io-weights-nullblk.png
if command -v gnuplot >/dev/null; then
    mkdir -p docs/img
    extra=
    for m in $MODES; do
        case $m in off|on) ;; *) extra+=", \"$OUT/iow-$m.iops\" using 1:2 with lines lw 1 dt 4 title \"b reads/s, $m\"" ;; esac
    done
    gnuplot <<GP
set terminal png size 860,480
set output "$png"
set title "Two Linux VMs on one host CPU: fio 4k randread (b) next to a CPU loop (a)"
set xlabel "seconds since fio started"
set ylabel "b: reads/s (each 0.5 s)"
set y2label "b vCPU weight (adaptive on)"
set ytics nomirror
set y2tics
set y2range [0:450]
set yrange [0:*]
set key outside below horizontal
plot "$OUT/iow-off.iops" using 1:2 with lines lw 2 lc rgb "red" title "b reads/s, static weights", \
     "$OUT/iow-on.iops" using 1:2 with lines lw 2 lc rgb "blue" title "b reads/s, adaptive", \
     "$OUT/iow-on.weights" using 1:2 axes x1y2 with steps dt 2 lc rgb "blue" title "b vCPU weight", \
     "$OUT/iow-on.weights" using 1:3 axes x1y2 with steps dt 3 lc rgb "dark-green" title "a vCPU weight"$extra
GP
    echo "plot: $png"
else
    echo "bench-sched: gnuplot not installed: no plot" >&2
fi
