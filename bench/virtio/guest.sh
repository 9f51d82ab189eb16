#!/bin/sh
# virtio-bench HOST_IP GUEST_IP SECS [NET]: runs inside the benchmark guest
# (installed as /bin/virtio-bench by bench/virtio/mkinitrd.sh).
# fio on each disk present (/dev/vda, then /dev/vdb if there is one): 4k
# random read QD32, 1 MiB sequential read QD8, 1 MiB sequential write QD8,
# direct I/O, libaio (not when NET is 2); then, unless NET is 0, iperf3 to HOST_IP
# (guest->host, then host->guest with -R).  Around each run it takes the
# device's interrupt count (the /proc/interrupts lines of its virtioN
# device, all CPUs) and its request count (block: reads plus writes
# completed from /sys/block/vdX/stat; net: packets sent plus received on
# eth0), and prints one line per run:
#   BENCH-RESULT name=... value=... unit=... irqs=... reqs=...
# (net runs add the guest's idle time over all its CPUs, guest_idle=, in
# clock ticks: where it is near 0 the guest's CPUs were the limit).
# Each run is framed by "BENCH-MARK begin|end NAME" lines, with a pause
# after each, so the host can read the VMM's KVM exit counters and CPU
# time at both ends.
host=$1 me=$2 secs=$3 net=${4:-1}

# virtio_index DEVICE-SYSFS-DIR: N of its virtioN parent.
virtio_index() { basename "$(readlink -f "$1/device")" | sed 's/^virtio//'; }

# irqs N [KIND]: interrupts of device virtioN so far, summed over CPUs;
# with KIND (input, output) only those of its vectors named virtioN-KIND.
irqs() {
    awk -v n="virtio$1" -v k="${2:-}" '
        NR == 1 { ncpu = NF; next }
        { hit = 0; for (i = 2; i <= NF; i++) if ($i == n || index($i, n "-" k) == 1) hit = 1
          if (hit) for (i = 2; i <= ncpu + 1; i++) s += $i }
        END { print s + 0 }' /proc/interrupts
}
blk_reqs() { awk '{print $1 + $5}' "/sys/block/$1/stat"; }
# idle: idle plus iowait time of all CPUs so far, in clock ticks (USER_HZ).
idle() { awk '$1 == "cpu" { print $5 + $6; exit }' /proc/stat; }
net_reqs() { echo $(( $(cat /sys/class/net/eth0/statistics/rx_packets) + $(cat /sys/class/net/eth0/statistics/tx_packets) )); }
pause() { sleep 0.5 2>/dev/null || sleep 1; }
mark() { echo "BENCH-MARK $1 $2"; pause; }

devs=""
for d in vda vdb; do
    [ -e "/sys/block/$d" ] && devs="$devs $d=virtio$(virtio_index /sys/block/$d)"
done
[ "$net" = 0 ] || vnet=$(virtio_index /sys/class/net/eth0)
echo "BENCH-DEVICES$devs${vnet:+ eth0=virtio$vnet}"
for d in vda vdb; do
    [ -d "/sys/block/$d/mq" ] && echo "BENCH-QUEUES $d=$(ls "/sys/block/$d/mq" | wc -l)"
done
grep virtio /proc/interrupts

# fio's terse output (v3): fields 7/8 are the read bandwidth (KiB/s) and
# IOPS, 48/49 the write ones, 88/89 the job's user and system CPU (% of
# one CPU).
fio_run() {
    dev=$1 name=$2; shift 2
    v=$(virtio_index "/sys/block/$dev")
    mark begin "$name"
    i0=$(irqs "$v") r0=$(blk_reqs "$dev")
    line=$(fio --name="$name" --filename="/dev/$dev" --direct=1 --ioengine=libaio --thread \
        --time_based --runtime="$secs" --minimal "$@" 2>/tmp/fio.err)
    i1=$(irqs "$v") r1=$(blk_reqs "$dev")
    mark end "$name"
    echo "$line" | awk -F';' -v n="$name" -v i=$((i1 - i0)) -v r=$((r1 - r0)) '
        NF > 50 { bw = $7 + $48; iops = $8 + $49; cpu = $88 + $89
                  printf "BENCH-RESULT name=%s iops=%s mbps=%.1f irqs=%d reqs=%d cpu=%.1f\n", n, iops, bw * 1024 / 1e6, i, r, cpu }'
    [ -n "$line" ] || { echo "BENCH-ERROR $name"; cat /tmp/fio.err; }
}
for d in vda vdb; do
    [ -e "/sys/block/$d" ] && [ "$net" != 2 ] || continue
    sfx=; [ "$d" = vda ] || sfx=-$d
    fio_run "$d" "randread$sfx" --rw=randread --bs=4k --iodepth=32
    fio_run "$d" "seqread$sfx" --rw=read --bs=1M --iodepth=8
    fio_run "$d" "seqwrite$sfx" --rw=write --bs=1M --iodepth=8
done
[ "$net" = 0 ] && { grep virtio /proc/interrupts; exit 0; }

ip link set lo up
ip link set eth0 up && ip addr add "$me/24" dev eth0
ping -c 2 -W 5 "$host" >/dev/null 2>&1 || sleep 2

# iperf3's summary: the "receiver" line's rate, in Mbit/s.
iperf_run() {
    name=$1; shift
    mark begin "$name"
    i0=$(irqs "$vnet") r0=$(net_reqs) x0=$(irqs "$vnet" input) t0=$(irqs "$vnet" output) g0=$(idle)
    # Halfway through, the guest's TCP sockets where ss is at hand: queued
    # bytes and congestion window (RTT and pacing rate too when the guest
    # kernel has its socket diagnostics loaded).
    if command -v ss >/dev/null; then
        (sleep $((secs / 2)); ss -tin dst "$host" 2>/dev/null | tr -s ' \t' ' ' |
            grep -v '^State' | sed "s/^/BENCH-TCP $name /") &
    fi
    iperf3 -c "$host" -t "$secs" -f m "$@" >/tmp/iperf.out 2>&1
    wait
    i1=$(irqs "$vnet") r1=$(net_reqs) x1=$(irqs "$vnet" input) t1=$(irqs "$vnet" output) g1=$(idle)
    mark end "$name"
    awk -v n="$name" -v i=$((i1 - i0)) -v r=$((r1 - r0)) -v x=$((x1 - x0)) -v t=$((t1 - t0)) -v g=$((g1 - g0)) '
        / receiver$/ { for (k = 1; k <= NF; k++) if ($k == "Mbits/sec") v = $(k - 1) }
        END { if (v != "") printf "BENCH-RESULT name=%s mbitps=%s irqs=%d reqs=%d rx_irqs=%d tx_irqs=%d guest_idle=%d\n", n, v, i, r, x, t, g
              else print "BENCH-ERROR " n }' /tmp/iperf.out
    grep -q ' receiver$' /tmp/iperf.out || cat /tmp/iperf.out
}
iperf_run guest-to-host
iperf_run host-to-guest -R
grep virtio /proc/interrupts
