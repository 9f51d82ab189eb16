#!/bin/sh
# virtio-bench HOST_IP GUEST_IP SECS: runs inside the benchmark guest
# (installed as /bin/virtio-bench by bench/virtio/mkinitrd.sh).
# fio on /dev/vda (4k random read QD32, 1 MiB sequential read QD8, direct
# I/O, libaio), then iperf3 to HOST_IP (guest->host, then host->guest with
# -R).  Around each run it takes the device's interrupt count (the
# /proc/interrupts lines of its virtioN device, all CPUs) and its request
# count (block: reads completed from /sys/block/vda/stat; net: packets
# sent plus received on eth0), and prints one line per run:
#   BENCH-RESULT name=... value=... unit=... irqs=... reqs=...
host=$1 me=$2 secs=$3

# virtio_index DEVICE-SYSFS-DIR: N of its virtioN parent.
virtio_index() { basename "$(readlink -f "$1/device")" | sed 's/^virtio//'; }

# irqs N: interrupts of device virtioN so far, summed over CPUs.
irqs() {
    awk -v n="virtio$1" '
        NR == 1 { ncpu = NF; next }
        { hit = 0; for (i = 2; i <= NF; i++) if ($i == n || index($i, n "-") == 1) hit = 1
          if (hit) for (i = 2; i <= ncpu + 1; i++) s += $i }
        END { print s + 0 }' /proc/interrupts
}
blk_reqs() { awk '{print $1}' /sys/block/vda/stat; }
net_reqs() { echo $(( $(cat /sys/class/net/eth0/statistics/rx_packets) + $(cat /sys/class/net/eth0/statistics/tx_packets) )); }

vblk=$(virtio_index /sys/block/vda)
vnet=$(virtio_index /sys/class/net/eth0)
echo "BENCH-DEVICES vda=virtio$vblk eth0=virtio$vnet"
grep virtio /proc/interrupts

# fio's terse output: field 7 is the read bandwidth in KiB/s, field 8 the read IOPS.
fio_run() {
    name=$1; shift
    i0=$(irqs "$vblk") r0=$(blk_reqs)
    line=$(fio --name="$name" --filename=/dev/vda --direct=1 --ioengine=libaio --thread \
        --time_based --runtime="$secs" --minimal "$@" 2>/tmp/fio.err)
    i1=$(irqs "$vblk") r1=$(blk_reqs)
    echo "$line" | awk -F';' -v n="$name" -v i=$((i1 - i0)) -v r=$((r1 - r0)) '
        NF > 8 { printf "BENCH-RESULT name=%s iops=%s mbps=%.1f irqs=%d reqs=%d\n", n, $8, $7 * 1024 / 1e6, i, r }'
    [ -n "$line" ] || { echo "BENCH-ERROR $name"; cat /tmp/fio.err; }
}
fio_run randread --rw=randread --bs=4k --iodepth=32
fio_run seqread --rw=read --bs=1M --iodepth=8

ip link set lo up
ip link set eth0 up && ip addr add "$me/24" dev eth0
ping -c 2 -W 5 "$host" >/dev/null 2>&1 || sleep 2

# iperf3's summary: the "receiver" line's rate, in Mbit/s.
iperf_run() {
    name=$1; shift
    i0=$(irqs "$vnet") r0=$(net_reqs)
    iperf3 -c "$host" -t "$secs" -f m "$@" >/tmp/iperf.out 2>&1
    i1=$(irqs "$vnet") r1=$(net_reqs)
    awk -v n="$name" -v i=$((i1 - i0)) -v r=$((r1 - r0)) '
        / receiver$/ { for (k = 1; k <= NF; k++) if ($k == "Mbits/sec") v = $(k - 1) }
        END { if (v != "") printf "BENCH-RESULT name=%s mbitps=%s irqs=%d reqs=%d\n", n, v, i, r
              else print "BENCH-ERROR " n }' /tmp/iperf.out
    grep -q ' receiver$' /tmp/iperf.out || cat /tmp/iperf.out
}
iperf_run guest-to-host
iperf_run host-to-guest -R
grep virtio /proc/interrupts
