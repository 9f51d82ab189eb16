#!/bin/bash
# Virtio devices under Debian's kernel (virtio_pci, virtio_blk, virtio_rng
# modules): bytes the guest writes land in the image, bytes the host put
# there reach the guest, read-only disks refuse writes, synced data
# survives kill -9, the rng feeds hw_random, and the I/O path batches
# (device counters printed at exit with KVMM_LOG=info).
# Prints "PASS name" / "FAIL name: reason" per test.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/guest/lib.sh

# kill -9 needs kvmm in this shell: where this host's KVM cannot boot
# Linux, run the whole file inside the test host VM.
if ! scripts/host-kvm-ok.sh; then
    exec scripts/testhost.sh --timeout 900 -- bash tests/guest/virtio.sh
fi

KVMM=$KVMM_ROOT/build/kvmm
OUT=$(mktemp -d /tmp/kvmm-virtio.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}
KERNEL=$GUEST_DIR/vmlinuz-cloud
INITRD=$GUEST_DIR/initramfs-cloud.cpio.gz

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# boot LOG SCRIPT [kvmm args...]: run the guest script, counters on.
boot() {
    local log=$1 script=$2 rc=0; shift 2
    KVMM_LOG=info run_guest "$BOOT_TIMEOUT" "$log" -- "$KVMM" run --kernel "$KERNEL" \
        --initrd "$INITRD" --memory 512 --cpus 2 \
        --cmdline "console=ttyS0 kvmm.test=script $(guest_script_arg "$script")" "$@" || rc=$?
    return "$rc"
}

# counter LOG NAME: a device counter from the exit report ("vda.requests").
counter() {
    awk -v n="$2" '$(NF-1) == n { print $NF; exit }' "$1"
}

image_random() { dd if=/dev/urandom of="$1" bs=1M count="$2" status=none; }
image_zero() { truncate -s "${2}M" "$1"; }

# Two disks and the rng in one boot: checksum, pattern write, serial, rng.
test_basic() {
    local log=$OUT/basic.log rc=0 want got script
    image_random "$OUT/data.img" 16
    image_zero "$OUT/scratch.img" 16
    want=$(md5sum <"$OUT/data.img" | cut -d' ' -f1)
    script='ls /dev/vda /dev/vdb >/dev/null && echo TWO_DISKS=yes
echo "VDA_MD5=$(md5sum </dev/vda | cut -d" " -f1)"
echo "VDA_SERIAL=$(cat /sys/block/vda/serial)"
printf "KVMM-PATTERN-0123456789" | dd of=/dev/vdb bs=512 seek=100 conv=sync,fsync 2>/dev/null
echo "WRITE_RC=$?"
echo "RNG=$(cat /sys/devices/virtual/misc/hw_random/rng_current)"
echo "RNG_BYTES=$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)"'
    boot "$log" "$script" --disk "$OUT/data.img,serial=kvmm-data-1" --disk "$OUT/scratch.img" \
        --rng || rc=$?
    if [ "$rc" != 0 ] || ! grep -q '^KVMM-CMD-EXIT=0' "$log"; then
        fail virtio-boot "kvmm status $rc"; tail -n 30 "$log" >&2; return
    fi
    got=$(marker_value "$log" VDA_MD5)
    [ "$got" = "$want" ] && pass blk-guest-reads-host-bytes ||
        fail blk-guest-reads-host-bytes "guest md5 '$got', image md5 '$want'"
    if [ "$(marker_value "$log" WRITE_RC)" = 0 ] &&
       dd if="$OUT/scratch.img" bs=512 skip=100 count=1 status=none | grep -q 'KVMM-PATTERN-0123456789'; then
        pass blk-guest-write-lands-in-image
    else
        fail blk-guest-write-lands-in-image "pattern not at sector 100 of the image"
    fi
    [ "$(marker_value "$log" TWO_DISKS)" = yes ] && pass blk-two-disks ||
        fail blk-two-disks "/dev/vda and /dev/vdb not both present"
    got=$(marker_value "$log" VDA_SERIAL)
    [ "$got" = kvmm-data-1 ] && pass blk-serial-get-id || fail blk-serial-get-id "serial '$got'"
    got=$(marker_value "$log" RNG)
    if [[ $got == virtio_rng* ]] && [ "$(marker_value "$log" RNG_BYTES)" = 64 ]; then
        pass rng-hw-random
    else
        fail rng-hw-random "rng_current '$got', $(marker_value "$log" RNG_BYTES) bytes read"
    fi
}

test_read_only() {
    local log=$OUT/ro.log rc=0 before after script
    image_random "$OUT/ro.img" 4
    before=$(md5sum <"$OUT/ro.img")
    script='dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct 2>/dev/null; echo "RO_WRITE_RC=$?"
echo "RO_FLAG=$(cat /sys/block/vda/ro)"'
    boot "$log" "$script" --disk "$OUT/ro.img,ro" || rc=$?
    after=$(md5sum <"$OUT/ro.img")
    if [ "$rc" = 0 ] && [ "$(marker_value "$log" RO_WRITE_RC)" != 0 ] &&
       [ -n "$(marker_value "$log" RO_WRITE_RC)" ] && [ "$before" = "$after" ] &&
       [ "$(marker_value "$log" RO_FLAG)" = 1 ]; then
        pass blk-read-only-refuses-writes
    else
        fail blk-read-only-refuses-writes "status $rc, dd status '$(marker_value "$log" RO_WRITE_RC)', ro '$(marker_value "$log" RO_FLAG)', image changed: $([ "$before" = "$after" ] && echo no || echo yes)"
    fi
}

# Data the guest synced survives kill -9 of kvmm right after the marker.
test_kill_after_sync() {
    local log=$OUT/kill.log img=$OUT/kill.img pid i script try
    for try in 1 2; do
    image_zero "$img" 8
    script='printf "KVMM-DURABLE-DATA" | dd of=/dev/vda bs=512 seek=64 conv=sync 2>/dev/null
sync
echo KVMM-SYNCED
sleep 600'
    KVMM_LOG=info timeout -k 5 "$BOOT_TIMEOUT" "$KVMM" run --kernel "$KERNEL" --initrd "$INITRD" \
        --memory 512 --cpus 2 --disk "$img" \
        --cmdline "console=ttyS0 kvmm.test=script $(guest_script_arg "$script")" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    for i in $(seq 1 $((BOOT_TIMEOUT * 5))); do
        grep -q KVMM-SYNCED "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$try" = 1 ] && ! grep -q KVMM-SYNCED "$log" && ! grep -q 'virtio_blk.*vda' "$log"; then
        note_retry "kill-after-sync: the guest stalled before its disk appeared"
        continue
    fi
    break
    done
    if ! grep -q KVMM-SYNCED "$log"; then
        fail blk-sync-survives-kill "the guest never reached the sync marker"; tail -n 20 "$log" >&2
    elif dd if="$img" bs=512 skip=64 count=1 status=none | grep -q KVMM-DURABLE-DATA; then
        pass blk-sync-survives-kill
    else
        fail blk-sync-survives-kill "synced data not in the image after kill -9"
    fi
}

# Parallel large direct reads: the block layer queues several requests per
# kick and completions arrive together, so batches must show.
test_batching() {
    local log=$OUT/batch.log rc=0 req sub irq script
    image_random "$OUT/batch.img" 64
    script='for i in 0 1 2 3; do dd if=/dev/vda of=/dev/null bs=4M count=4 skip=$((i * 4)) iflag=direct 2>/dev/null & done
wait
echo BATCH_DONE=1'
    boot "$log" "$script" --disk "$OUT/batch.img" || rc=$?
    req=$(counter "$log" vda.requests)
    sub=$(counter "$log" vda.submits)
    irq=$(counter "$log" vda.interrupts)
    echo "virtio batching: requests=$req submits=$sub interrupts=$irq" \
         "completions=$(counter "$log" vda.completions) max_submit_batch=$(counter "$log" vda.max_submit_batch)" \
         "held_publishes=$(counter "$log" vda.held_publishes)" >&2
    if [ "$rc" = 0 ] && [ -n "$req" ] && [ -n "$sub" ] && [ -n "$irq" ] &&
       [ "$req" -gt "$sub" ] && [ "$irq" -lt "$req" ]; then
        pass blk-batches-requests-and-interrupts
    else
        fail blk-batches-requests-and-interrupts "status $rc, requests '$req', submits '$sub', interrupts '$irq'"
    fi
}

# One request queue per vCPU by default, each with its own interrupt; the
# queues option sets the count.  Reads pinned to each CPU go through that
# CPU's queue and return the image's bytes.
test_multiqueue() {
    local log=$OUT/mq.log rc=0 want0 want1 script q0 q1
    image_random "$OUT/mq.img" 8
    image_zero "$OUT/mq1.img" 1
    want0=$(head -c 4M "$OUT/mq.img" | md5sum | cut -d' ' -f1)
    want1=$(tail -c 4M "$OUT/mq.img" | md5sum | cut -d' ' -f1)
    script='echo "MQ_VDA=$(ls /sys/block/vda/mq | wc -l)"
echo "MQ_VDB=$(ls /sys/block/vdb/mq | wc -l)"
v=$(basename "$(readlink -f /sys/block/vda/device)")
for c in 0 1; do
    taskset -c $c dd if=/dev/vda bs=64k count=64 skip=$((c * 64)) iflag=direct 2>/dev/null | md5sum >/tmp/md5.$c &
done
wait
echo "MQ_MD5_0=$(cut -d" " -f1 /tmp/md5.0)"
echo "MQ_MD5_1=$(cut -d" " -f1 /tmp/md5.1)"
echo "MQ_IRQ_0=$(awk -v q="$v-req.0" "\$NF == q {print \$2 + \$3}" /proc/interrupts)"
echo "MQ_IRQ_1=$(awk -v q="$v-req.1" "\$NF == q {print \$2 + \$3}" /proc/interrupts)"'
    boot "$log" "$script" --disk "$OUT/mq.img" --disk "$OUT/mq1.img,queues=1" || rc=$?
    q0=$(marker_value "$log" MQ_IRQ_0) q1=$(marker_value "$log" MQ_IRQ_1)
    if [ "$rc" = 0 ] && [ "$(marker_value "$log" MQ_VDA)" = 2 ] && [ "$(marker_value "$log" MQ_VDB)" = 1 ]; then
        pass blk-one-queue-per-vcpu
    else
        fail blk-one-queue-per-vcpu "status $rc, vda queues '$(marker_value "$log" MQ_VDA)' (want 2), vdb '$(marker_value "$log" MQ_VDB)' (want 1)"
    fi
    if [ "$(marker_value "$log" MQ_MD5_0)" = "$want0" ] && [ "$(marker_value "$log" MQ_MD5_1)" = "$want1" ] &&
       [ "${q0:-0}" -gt 0 ] && [ "${q1:-0}" -gt 0 ]; then
        pass blk-io-on-every-queue
    else
        fail blk-io-on-every-queue "md5 '$(marker_value "$log" MQ_MD5_0)' '$(marker_value "$log" MQ_MD5_1)' want '$want0' '$want1', interrupts req.0 '$q0' req.1 '$q1'"
    fi
}

# Without io_uring the same bytes move synchronously, and kvmm says so.
test_sync_fallback() {
    local log=$OUT/sync.log rc=0 want script
    image_random "$OUT/sync.img" 8
    want=$(md5sum <"$OUT/sync.img" | cut -d' ' -f1)
    script='echo "SYNC_MD5=$(md5sum </dev/vda | cut -d" " -f1)"
printf "KVMM-SYNC-PATTERN" | dd of=/dev/vda bs=512 seek=8 conv=sync,fsync 2>/dev/null
blkdiscard -o 1048576 -l 1048576 /dev/vda; echo "DISCARD_RC=$?"'
    KVMM_NO_IO_URING=1 boot "$log" "$script" --disk "$OUT/sync.img" || rc=$?
    if [ "$rc" = 0 ] && [ "$(marker_value "$log" SYNC_MD5)" = "$want" ] &&
       grep -q 'synchronous I/O' "$log" &&
       dd if="$OUT/sync.img" bs=512 skip=8 count=1 status=none | grep -q KVMM-SYNC-PATTERN; then
        pass blk-synchronous-fallback
    else
        fail blk-synchronous-fallback "status $rc, md5 '$(marker_value "$log" SYNC_MD5)' want '$want'"
    fi
    if [ "$(marker_value "$log" DISCARD_RC)" = 0 ] &&
       [ "$(dd if="$OUT/sync.img" bs=1M skip=1 count=1 status=none | tr -d '\0' | wc -c)" = 0 ]; then
        pass blk-discard-punches-hole
    else
        fail blk-discard-punches-hole "blkdiscard status '$(marker_value "$log" DISCARD_RC)' or range not zero"
    fi
}

for t in ${KVMM_VIRTIO_TESTS:-basic read_only kill_after_sync batching multiqueue sync_fallback}; do
    "test_$t"
done
