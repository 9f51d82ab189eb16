#!/bin/bash
# bench/virtio.sh: virtio-blk and virtio-net throughput and interrupts per
# request, kvmm against QEMU (q35, virtio-pci, no vhost).
#
# Both VMMs boot the same guest in one environment, interleaved (kvmm,
# QEMU, kvmm, ...) for BENCH_VIRTIO_ROUNDS rounds (3); the report gives
# each measure's median over the rounds and the per-round ratios:
# build/guest/vmlinuz-cloud with build/bench/initramfs-bench.cpio (the test
# guest plus fio and iperf3, bench/virtio/mkinitrd.sh), 1024 MiB, 2 vCPUs,
# two disks: vda, a raw image on tmpfs (tmpfs has no O_DIRECT:
# cache=writeback for both VMMs), and vdb, a loop device over another
# tmpfs image, which does take O_DIRECT (cache=none, and aio=io_uring for
# QEMU); one NIC on a TAP in a bridge that holds the host's address.  The
# guest runs bench/virtio/guest.sh: fio on each disk (4k random read QD32,
# 1 MiB sequential read and write QD8, --direct=1) and iperf3 both ways
# against an iperf3 server on the host, BENCH_VIRTIO_SECS seconds each
# (10), and counts the device's interrupts and requests around each run.
# While a VM runs, the host reads its KVM exit counters (debugfs) and the
# VMM's own CPU time at each run's start and end (bench/virtio/watch.sh).
# fio on the host, on the same image and loop device, gives the ceiling.
# BENCH_VIRTIO_NET=0 leaves out the network runs and the NIC;
# BENCH_VIRTIO_NET=only leaves out the disk runs (the disks stay attached).
# BENCH_VIRTIO_REASONS=1 also counts exits by reason and MSR accesses
# (tracefs histograms: a diagnosis, which slows every exit a little).
#
# Where this host's /dev/kvm cannot boot Linux, each round runs inside its
# own test host VM session (scripts/testhost.sh); a session that dies is
# started again once for its round.  A VM that does not finish is retried
# once, and the report says so.
# Writes $BENCH_DIR/virtio/{kvmm.N.log,qemu.N.log,env.txt,section.md,goals.md}.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-$ROOT/build/bench}
OUT=$BENCH_DIR/virtio
SECS=${BENCH_VIRTIO_SECS:-10}
VM_TIMEOUT=${BENCH_VIRTIO_TIMEOUT:-420}
ROUNDS=${BENCH_VIRTIO_ROUNDS:-3}
NET=${BENCH_VIRTIO_NET:-1}
[ "$NET" = only ] && NET=2      # 0: no NIC, 1: disks and NIC, 2: the NIC's runs only
RAM_MIB=1024
CPUS=2
IMG_MIB=512
BR=kvmmbbr0
TAP=kvmmbtap0
HOST_IP=10.79.0.1
GUEST_IP=10.79.0.2
# BENCH_VIRTIO_VMMS: what runs in each round, in order: kvmm, qemu, or
# LABEL:BINARY[:DISK-OPTIONS[:VAR=VALUE]] for another kvmm build, disk
# options or environment (experiments; the report compares kvmm and qemu).
read -r -a VMMS <<<"${BENCH_VIRTIO_VMMS:-kvmm qemu}"
want() { case $NET in 0) echo 6 ;; 2) echo 2 ;; *) echo 8 ;; esac; }
WANT=$(want)     # BENCH-RESULT lines a complete run prints

# ---------------------------------------------------------------------------
# Inside the measuring environment.
# ---------------------------------------------------------------------------
net_down() {
    ip link del "$TAP" 2>/dev/null
    ip link del "$BR" 2>/dev/null
}

# host_fio NAME TARGET DIRECT ARGS...: fio on the host, the ceiling row.
host_fio() {
    local name=$1 target=$2 direct=$3 line; shift 3
    line=$(fio --name="$name" --filename="$target" --direct="$direct" --ioengine=libaio --thread \
        --time_based --runtime="$SECS" --size="${IMG_MIB}M" --minimal "$@" 2>/dev/null)
    echo "$line" | awk -F';' -v n="$name" '
        NF > 50 { printf "BENCH-RESULT name=%s iops=%s mbps=%.1f\n", n, $8 + $49, ($7 + $48) * 1024 / 1e6 }'
}

# iperf_start: a fresh iperf3 server (inner's $work and $ipid): one that
# served a guest which died mid-test stays busy until its own timeout.
iperf_start() {
    if [ -n "${ipid:-}" ]; then
        kill "$ipid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$ipid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$ipid" 2>/dev/null
    fi
    iperf3 -s -B "$HOST_IP" -D --pidfile "$work/iperf3.pid" || return 1
    sleep 0.5
    ipid=$(cat "$work/iperf3.pid")
}

inner() {
    local work m vmm try rc qemu ipid cmdline round log loopdev wpid bin opts var
    work=$(mktemp -d /tmp/kvmm-vbench.XXXXXX) || return 2
    qemu=$(command -v qemu-system-x86_64) || { echo "bench: no qemu-system-x86_64" >&2; return 2; }
    cp "$OUT/kvmm" "$work/kvmm" &&
    cp -L build/guest/vmlinuz-cloud "$work/vmlinuz" &&
    cp build/bench/initramfs-bench.cpio "$work/initrd" || return 2
    # The disk: written, so tmpfs holds real pages behind every block.
    dd if=/dev/zero of="$work/disk.img" bs=1M count="$IMG_MIB" status=none || return 2
    dd if=/dev/zero of="$work/disk2.img" bs=1M count="$IMG_MIB" status=none || return 2
    [ -d /sys/module/loop ] || modprobe loop || return 2
    loopdev=$(losetup --find --show "$work/disk2.img") || return 2
    mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug ||
        echo "debugfs not mounted: no exit counts" >>"$OUT/notes.txt"
    cat "$qemu" /usr/share/qemu/* /usr/share/seabios/* >/dev/null 2>&1

    for m in tun bridge; do [ -d "/sys/module/$m" ] || modprobe "$m" || return 2; done
    net_down
    ip link add "$BR" type bridge && ip addr add "$HOST_IP/24" dev "$BR" && ip link set "$BR" up &&
    ip tuntap add dev "$TAP" mode tap vnet_hdr && ip link set "$TAP" master "$BR" up || return 2
    iperf_start || return 2

    [ -s "$OUT/env.txt" ] || {
        echo "kernel: $(uname -r)"
        echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) × $(nproc)"
        echo "kvm: $(for m in kvm_amd kvm_intel kvm_pvm; do [ -d /sys/module/$m ] && printf '%s ' $m; done)"
        echo "qemu: $("$qemu" --version | head -n1)"
        echo "fio: $(fio --version), iperf3: $(iperf3 --version | head -n1)"
        echo "memory: $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo)"
        echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$OUT/env.txt"

    [ -s "$OUT/host.log" ] || {
        host_fio randread "$work/disk.img" 0 --rw=randread --bs=4k --iodepth=32
        host_fio seqread "$work/disk.img" 0 --rw=read --bs=1M --iodepth=8
        host_fio seqwrite "$work/disk.img" 0 --rw=write --bs=1M --iodepth=8
        host_fio randread-vdb "$loopdev" 1 --rw=randread --bs=4k --iodepth=32
        host_fio seqread-vdb "$loopdev" 1 --rw=read --bs=1M --iodepth=8
        host_fio seqwrite-vdb "$loopdev" 1 --rw=write --bs=1M --iodepth=8
    } >"$OUT/host.log"

    # BENCH_VIRTIO_NET=0: no NIC at all, for either VMM.
    local nic_k=() nic_q=()
    [ "$NET" = 0 ] || nic_k=(--net "tap=$TAP") nic_q=(-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" -device virtio-net-pci,netdev=n0)
    cmdline="console=ttyS0 quiet kvmm.test=script kvmm.cmd=$(printf 'virtio-bench %s %s %s %s\n' "$HOST_IP" "$GUEST_IP" "$SECS" "$NET" | base64 -w0)"
    for round in ${ROUNDS//,/ }; do
    for vmm in "${VMMS[@]}"; do
        bin=$work/kvmm opts= var=
        case $vmm in
            *:*) IFS=: read -r vmm bin opts var <<<"$vmm"
                 cp "$bin" "$work/$vmm.bin" && bin=$work/$vmm.bin || return 2 ;;
        esac
        log=$OUT/$vmm.$round.log
        # A round run again after its test host session died: keep what finished.
        [ -s "$log" ] && [ "$(grep -c '^BENCH-RESULT' "$log")" -ge "$WANT" ] && continue
        case $vmm in
            qemu) ;;
            *) set -- env KVMM_LOG=info ${var:+"$var"} "$bin" run --kernel "$work/vmlinuz" --initrd "$work/initrd" \
                      --cpus "$CPUS" --memory "$RAM_MIB" --console stdio \
                      --disk "$work/disk.img,cache=writeback$opts" --disk "$loopdev,cache=none$opts" \
                      "${nic_k[@]}" --cmdline "$cmdline" ;;
        esac
        case $vmm in
            qemu) set -- "$qemu" -M q35 -accel kvm -cpu host -smp "$CPUS" -m "$RAM_MIB" \
                      -display none -nodefaults -no-reboot -serial stdio -monitor none \
                      -kernel "$work/vmlinuz" -initrd "$work/initrd" -append "$cmdline" \
                      -drive "file=$work/disk.img,if=none,id=d0,format=raw,aio=io_uring,cache=writeback" \
                      -device virtio-blk-pci,drive=d0 \
                      -drive "file=$loopdev,if=none,id=d1,format=raw,aio=io_uring,cache=none" \
                      -device virtio-blk-pci,drive=d1 "${nic_q[@]}" ;;
        esac
        [ "$vmm" = qemu ] || [ "$vmm" = kvmm ] || [ -z "$opts" ] || echo "$vmm: disk options $opts ${var:+, $var}" >>"$OUT/notes.txt"
        printf '%q ' "$@" | sed "s|$work|\$WORK|g; s|$loopdev|/dev/loopN|g; s|kvmm.cmd=[^ ]*|kvmm.cmd=…|" >"$OUT/$vmm.argv"
        for try in 1 2; do
            echo "bench: $vmm round $round: booting (try $try)" >&2
            [ "$NET" = 0 ] || iperf_start || return 2
            rc=0
            : >"$log"
            bash bench/virtio/watch.sh "$log" "$OUT/$vmm.$round.exits" "$([ -e "$OUT/reasons" ] && echo 1)" &
            wpid=$!
            timeout -k 5 "$VM_TIMEOUT" "$@" </dev/null >"$log" 2>&1 || rc=$?
            kill "$wpid" 2>/dev/null
            wait "$wpid" 2>/dev/null
            sed -i -e 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r$//' "$log"
            echo "bench: $vmm round $round: status $rc, $(grep -c '^BENCH-RESULT' "$log") results" >&2
            [ "$(grep -c '^BENCH-RESULT' "$log")" -lt "$WANT" ] || break
            cp "$log" "$log.try$try"
            echo "$vmm round $round: try $try ended with status $rc and $(grep -c '^BENCH-RESULT' "$log") of $WANT results$([ "$try" = 1 ] && echo '; retried once')" >>"$OUT/notes.txt"
        done
    done
    done
    echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
    kill "$ipid" 2>/dev/null
    net_down
    losetup -d "$loopdev"
    rm -rf "$work"
    return 0
}

if [ "${1-}" = --inner ]; then
    [ $# = 7 ] || { echo "usage: $0 --inner OUTDIR SECS TIMEOUT ROUND[,ROUND...] NET VMMS" >&2; exit 2; }
    OUT=$2 SECS=$3 VM_TIMEOUT=$4 ROUNDS=$5 NET=$6
    read -r -a VMMS <<<"$7"
    WANT=$(want)
    inner
    exit $?
fi

# ---------------------------------------------------------------------------
# Outside: build the image, pick the environment, run, report.
# ---------------------------------------------------------------------------
[ -x build/kvmm ] || { echo "bench: build/kvmm missing (make all)" >&2; exit 2; }
bash bench/virtio/mkinitrd.sh || exit 2
rm -rf "$OUT"
mkdir -p "$OUT"
cp build/kvmm "$OUT/kvmm" || exit 2
: >"$OUT/notes.txt"
[ "${BENCH_VIRTIO_REASONS:-0}" = 1 ] && touch "$OUT/reasons"
t0=$SECONDS
if scripts/host-kvm-ok.sh; then
    where="On this host's /dev/kvm"
    bash bench/virtio.sh --inner "$OUT" "$SECS" "$VM_TIMEOUT" "$(seq -s, 1 "$ROUNDS")" "$NET" "${VMMS[*]}"
else
    where="Inside the test host VM, one session per round (scripts/testhost.sh: QEMU TCG emulating an EPYC CPU with SVM and NPT, 2 vCPUs, 4 GiB; nested KVM with kvm_amd inside), since this host's /dev/kvm (kvm_pvm) cannot boot Linux"
    echo "bench: virtio: this host's /dev/kvm cannot boot Linux; running inside the test host VM, one session per round" >&2
    # One test host session per round, so a test host that dies (the
    # emulated one sometimes resets or freezes under nested load) costs
    # one round, which then runs again once in a fresh session (keeping
    # the VMs that finished).  Each session has a budget for its runs plus
    # two retries: a test host that hangs must not hold the machine for hours.
    rc=0
    for round in $(seq 1 "$ROUNDS"); do
        for try in 1 2; do
            src=0
            scripts/testhost.sh --timeout $((${#VMMS[@]} * (8 * SECS + 120) + 2 * VM_TIMEOUT + 300)) -- \
                bash bench/virtio.sh --inner "$OUT" "$SECS" "$VM_TIMEOUT" "$round" "$NET" "${VMMS[*]}" || src=$?
            [ "$src" = 124 ] || [ "$src" = 125 ] || break
            echo "round $round: the test host session ended with status $src (try $try)$([ "$try" = 1 ] && echo '; the round ran again in a new session')" >>"$OUT/notes.txt"
        done
        [ "$src" = 0 ] || rc=$src
    done
    (exit "$rc")
fi
rc=$?
echo "bench: virtio: session status $rc after $((SECONDS - t0)) s" >&2
python3 bench/virtio/report.py "$OUT" "$where" "$SECS" || rc=1
cat "$OUT/section.md" 2>/dev/null
exit "$rc"
