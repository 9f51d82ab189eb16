#!/bin/bash
# bench/virtio.sh: virtio-blk and virtio-net throughput and interrupts per
# request, kvmm against QEMU (q35, virtio-pci, no vhost).
#
# Both VMMs boot the same guest in one environment, interleaved (kvmm,
# QEMU, kvmm, ...) for BENCH_VIRTIO_ROUNDS rounds (3); the report gives
# each measure's median over the rounds and the per-round ratios:
# build/guest/vmlinuz-cloud with build/bench/initramfs-bench.cpio (the test
# guest plus fio and iperf3, bench/virtio/mkinitrd.sh), 1024 MiB, 2 vCPUs,
# one disk (a raw image on tmpfs, page cache on: cache=writeback for both)
# and one NIC on a TAP in a bridge that holds the host's address.  The
# guest runs bench/virtio/guest.sh: fio (4k random read QD32, 1 MiB
# sequential read QD8, --direct=1) and iperf3 both ways against an
# iperf3 server on the host, BENCH_VIRTIO_SECS seconds each (10), and
# counts the device's interrupts and requests around each run.
#
# Where this host's /dev/kvm cannot boot Linux, everything runs inside one
# test host VM session (scripts/testhost.sh).  A VM that does not finish is
# retried once, and the report says so.
# Writes $BENCH_DIR/virtio/{kvmm.N.log,qemu.N.log,env.txt,section.md,goals.md}.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-$ROOT/build/bench}
OUT=$BENCH_DIR/virtio
SECS=${BENCH_VIRTIO_SECS:-10}
VM_TIMEOUT=${BENCH_VIRTIO_TIMEOUT:-420}
ROUNDS=${BENCH_VIRTIO_ROUNDS:-3}
RAM_MIB=1024
CPUS=2
IMG_MIB=512
BR=kvmmbbr0
TAP=kvmmbtap0
HOST_IP=10.79.0.1
GUEST_IP=10.79.0.2
VMMS=(kvmm qemu)

# ---------------------------------------------------------------------------
# Inside the measuring environment.
# ---------------------------------------------------------------------------
net_down() {
    ip link del "$TAP" 2>/dev/null
    ip link del "$BR" 2>/dev/null
}

inner() {
    local work m vmm try rc qemu ipid cmdline round log
    work=$(mktemp -d /tmp/kvmm-vbench.XXXXXX) || return 2
    qemu=$(command -v qemu-system-x86_64) || { echo "bench: no qemu-system-x86_64" >&2; return 2; }
    cp "$OUT/kvmm" "$work/kvmm" &&
    cp -L build/guest/vmlinuz-cloud "$work/vmlinuz" &&
    cp build/bench/initramfs-bench.cpio "$work/initrd" || return 2
    # The disk: written, so tmpfs holds real pages behind every block.
    dd if=/dev/zero of="$work/disk.img" bs=1M count="$IMG_MIB" status=none || return 2
    cat "$qemu" /usr/share/qemu/* /usr/share/seabios/* >/dev/null 2>&1

    for m in tun bridge; do [ -d "/sys/module/$m" ] || modprobe "$m" || return 2; done
    net_down
    ip link add "$BR" type bridge && ip addr add "$HOST_IP/24" dev "$BR" && ip link set "$BR" up &&
    ip tuntap add dev "$TAP" mode tap vnet_hdr && ip link set "$TAP" master "$BR" up || return 2
    iperf3 -s -B "$HOST_IP" -D --pidfile "$work/iperf3.pid" || return 2
    sleep 0.5
    ipid=$(cat "$work/iperf3.pid")

    {
        echo "kernel: $(uname -r)"
        echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) × $(nproc)"
        echo "kvm: $(for m in kvm_amd kvm_intel kvm_pvm; do [ -d /sys/module/$m ] && printf '%s ' $m; done)"
        echo "qemu: $("$qemu" --version | head -n1)"
        echo "fio: $(fio --version), iperf3: $(iperf3 --version | head -n1)"
        echo "memory: $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo)"
        echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$OUT/env.txt"

    cmdline="console=ttyS0 quiet kvmm.test=script kvmm.cmd=$(printf 'virtio-bench %s %s %s\n' "$HOST_IP" "$GUEST_IP" "$SECS" | base64 -w0)"
    for round in $(seq 1 "$ROUNDS"); do
    for vmm in "${VMMS[@]}"; do
        log=$OUT/$vmm.$round.log
        case $vmm in
            kvmm) set -- env KVMM_LOG=info "$work/kvmm" run --kernel "$work/vmlinuz" --initrd "$work/initrd" \
                      --cpus "$CPUS" --memory "$RAM_MIB" --console stdio \
                      --disk "$work/disk.img,cache=writeback" --net "tap=$TAP" --cmdline "$cmdline" ;;
            qemu) set -- "$qemu" -M q35 -accel kvm -cpu host -smp "$CPUS" -m "$RAM_MIB" \
                      -display none -nodefaults -no-reboot -serial stdio -monitor none \
                      -kernel "$work/vmlinuz" -initrd "$work/initrd" -append "$cmdline" \
                      -drive "file=$work/disk.img,if=none,id=d0,format=raw,aio=io_uring,cache=writeback" \
                      -device virtio-blk-pci,drive=d0 \
                      -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
                      -device virtio-net-pci,netdev=n0 ;;
        esac
        printf '%q ' "$@" | sed "s|$work|\$WORK|g; s|kvmm.cmd=[^ ]*|kvmm.cmd=…|" >"$OUT/$vmm.argv"
        for try in 1 2; do
            echo "bench: $vmm round $round: booting (try $try)" >&2
            rc=0
            timeout -k 5 "$VM_TIMEOUT" "$@" </dev/null >"$log" 2>&1 || rc=$?
            sed -i -e 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r$//' "$log"
            echo "bench: $vmm round $round: status $rc, $(grep -c '^BENCH-RESULT' "$log") results" >&2
            [ "$(grep -c '^BENCH-RESULT' "$log")" -lt 4 ] || break
            cp "$log" "$log.try$try"
            echo "$vmm round $round: try $try ended with status $rc and $(grep -c '^BENCH-RESULT' "$log") of 4 results$([ "$try" = 1 ] && echo '; retried once')" >>"$OUT/notes.txt"
        done
    done
    done
    echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
    kill "$ipid" 2>/dev/null
    net_down
    rm -rf "$work"
    return 0
}

if [ "${1-}" = --inner ]; then
    [ $# = 5 ] || { echo "usage: $0 --inner OUTDIR SECS TIMEOUT ROUNDS" >&2; exit 2; }
    OUT=$2 SECS=$3 VM_TIMEOUT=$4 ROUNDS=$5
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
t0=$SECONDS
if scripts/host-kvm-ok.sh; then
    where="On this host's /dev/kvm"
    bash bench/virtio.sh --inner "$OUT" "$SECS" "$VM_TIMEOUT" "$ROUNDS"
else
    where="Inside one test host VM session (scripts/testhost.sh: QEMU TCG emulating an EPYC CPU with SVM and NPT, 2 vCPUs, 4 GiB; nested KVM with kvm_amd inside), since this host's /dev/kvm (kvm_pvm) cannot boot Linux"
    echo "bench: virtio: this host's /dev/kvm cannot boot Linux; running inside one test host VM session" >&2
    scripts/testhost.sh --timeout $((ROUNDS * 2 * 2 * VM_TIMEOUT + 120)) -- bash bench/virtio.sh --inner "$OUT" "$SECS" "$VM_TIMEOUT" "$ROUNDS"
fi
rc=$?
echo "bench: virtio: session status $rc after $((SECONDS - t0)) s" >&2
python3 bench/virtio/report.py "$OUT" "$where" "$SECS" || rc=1
cat "$OUT/section.md" 2>/dev/null
exit "$rc"
