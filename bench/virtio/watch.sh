#!/bin/bash
# bench/virtio/watch.sh LOG OUT [REASONS]: while one VM runs (the only KVM
# VM on this host), append to OUT, at each "BENCH-MARK begin|end NAME"
# line the guest prints on its console (LOG), that VM's KVM exit counters
# (debugfs /sys/kernel/debug/kvm/PID-FD/, summed over its vCPUs) and its
# VMM's host CPU time outside the guest (utime + stime - guest_time of the
# whole process, in clock ticks; guest_ticks: its vCPUs' time in the
# guest) and the host's timer interrupts and
# IPIs (/proc/interrupts LOC, RES, CAL, summed over CPUs) and its idle
# time (idle plus iowait of all CPUs, clock ticks):
#   MARK begin|end NAME exits=... ... vmm_ticks=... guest_ticks=... host_loc=... host_idle=...
# With REASONS=1, also the exits by reason and the MSR accesses by MSR
# and direction, counted by tracefs histograms on kvm:kvm_exit and
# kvm:kvm_msr (which cost the host some time per exit, for either VMM):
#   REASONS begin|end NAME exit_REASON=N ... msr_rMSR=N msr_wMSR=N ...
# Runs until killed.  The guest pauses after each mark, so the snapshot
# falls between runs.
log=$1 out=$2 reasons=${3:-0}
seen=0
: >"$out"
stats="exits io_exits mmio_exits halt_exits irq_exits irq_injections"
tr=/sys/kernel/tracing/events/kvm
exit_hist='hist:keys=exit_reason:vals=hitcount:size=256'
msr_hist='hist:keys=ecx,write:vals=hitcount:size=256'
if [ "$reasons" = 1 ]; then
    mountpoint -q /sys/kernel/tracing || mount -t tracefs none /sys/kernel/tracing || reasons=0
fi
if [ "$reasons" = 1 ]; then
    # A histogram left by an earlier run is removed first: counts start at 0.
    echo "!$exit_hist" >"$tr/kvm_exit/trigger" 2>/dev/null
    echo "!$msr_hist" >"$tr/kvm_msr/trigger" 2>/dev/null
    echo "$exit_hist" >"$tr/kvm_exit/trigger" && echo "$msr_hist" >"$tr/kvm_msr/trigger" || reasons=0
fi
# One line of KEY=COUNT from a histogram: { a: 1, b: 2 } hitcount: 3
hist_line() {
    sed -n 's/^{ *\(.*\) *} *hitcount: *\([0-9]*\).*/\1 \2/p' "$1" |
        awk -v p="$2" '{ k = ""; for (i = 1; i < NF; i += 2) { v = $(i + 1); sub(/,$/, "", v); k = k (k == "" ? "" : "_") v }
                         printf " %s%s=%s", p, k, $NF }'
}
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
    ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 - $41 " " $41}')
    gticks=${ticks#* } ticks=${ticks%% *}
    # The host's own interrupts (all CPUs): local timer, rescheduling and
    # function-call IPIs; each may pull a vCPU out of the guest.
    hirq=$(awk '$1 == "LOC:" || $1 == "RES:" || $1 == "CAL:" {
                    s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
                    printf " host_%s=%d", tolower(substr($1, 1, 3)), s }' /proc/interrupts)
    hidle=$(awk '$1 == "cpu" { print $5 + $6; exit }' /proc/stat)
    why=""
    [ "$reasons" = 1 ] && why="$(hist_line "$tr/kvm_exit/hist" exit_)$(hist_line "$tr/kvm_msr/hist" msr_)"
    grep '^BENCH-MARK ' "$log" | tr -d '\r' | sed -n "$((seen + 1)),${n}p" |
        while read -r _ what name; do
            echo "MARK $what $name$snap vmm_ticks=${ticks:-0} guest_ticks=${gticks:-0}$hirq host_idle=${hidle:-0}"
            [ -z "$why" ] || echo "REASONS $what $name$why"
        done >>"$out"
    seen=$n
done
