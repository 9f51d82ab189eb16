#!/bin/bash
# bench/virtio/watch.sh LOG OUT: while one VM runs (the only KVM VM on
# this host), append to OUT, at each "BENCH-MARK begin|end NAME" line the
# guest prints on its console (LOG), that VM's KVM exit counters (debugfs
# /sys/kernel/debug/kvm/PID-FD/, summed over its vCPUs) and its VMM's
# host CPU time outside the guest (utime + stime - guest_time of the
# whole process, in clock ticks):
#   MARK begin|end NAME exits=... io_exits=... ... vmm_ticks=...
# Runs until killed.  The guest pauses after each mark, so the snapshot
# falls between runs.
log=$1 out=$2
seen=0
: >"$out"
stats="exits io_exits mmio_exits halt_exits irq_exits irq_injections"
while sleep 0.2; do
    n=$(grep -c '^BENCH-MARK ' "$log" 2>/dev/null)
    [ "${n:-0}" -gt "$seen" ] || continue
    d=$(ls -d /sys/kernel/debug/kvm/[0-9]*-[0-9]* 2>/dev/null | tail -n1)
    [ -n "$d" ] || continue
    pid=${d##*/} pid=${pid%%-*}
    snap=""
    for s in $stats; do
        [ -r "$d/$s" ] && snap="$snap $s=$(cat "$d/$s")"
    done
    # Fields after the command name (which may hold spaces): utime is
    # field 14, stime 15, guest_time 43.
    ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 - $41}')
    grep '^BENCH-MARK ' "$log" | tr -d '\r' | sed -n "$((seen + 1)),${n}p" |
        while read -r _ what name; do
            echo "MARK $what $name$snap vmm_ticks=${ticks:-0}"
        done >>"$out"
    seen=$n
done
