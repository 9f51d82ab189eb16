#!/bin/bash
# Firmware payload tests: boot each payload in build/firmware on this
# host's /dev/kvm and check what a user sees: exit status, the stop reason
# kvmm prints, the console output, the dumped device tree.
#
# Prints "PASS name" or "FAIL name: reason" per test and "N passed, N failed"
# last; exits non-zero when a test failed.
# Environment: KVMM (default build/kvmm), FW_TIMEOUT seconds per run (60),
# FW_KEEP=1 keeps the logs directory and prints its path.
set -u

cd "$(dirname "$0")/../.." || exit 2
KVMM=${KVMM:-build/kvmm}
FW=build/firmware
TIMEOUT=${FW_TIMEOUT:-60}

tmp=$(mktemp -d /tmp/kvmm-fw.XXXXXX) || exit 2
if [ "${FW_KEEP:-0}" = 1 ]; then
    echo "logs in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi

passed=0
failed=0

pass() {
    echo "PASS $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

# The last lines kvmm wrote to stderr, on one line.
stderr_tail() {
    tail -n 3 "$err" | tr '\n' '|' | sed 's/|$//; s/|/ | /g'
}

# run NAME PAYLOAD MEMORY_MIB [kvmm run arguments...]
# Sets rc, err (stderr file) and con (console file).
run() {
    local name=$1 elf=$FW/$2.elf mem=$3
    shift 3
    con=$tmp/$name.console
    err=$tmp/$name.stderr
    : >"$con"
    timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$elf" --memory "$mem" \
        --console "file:$con" "$@" >"$tmp/$name.stdout" 2>"$err" </dev/null
    rc=$?
}

# not_timed_out NAME: records a failure when the run hit the timeout.
not_timed_out() {
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$1" "timed out after ${TIMEOUT}s; stderr: $(stderr_tail)"
        return 1
    fi
}

# expect_exit NAME WANT: true when rc matches, else records the failure.
expect_exit() {
    not_timed_out "$1" || return 1
    if [ "$rc" -ne "$2" ]; then
        fail "$1" "exit status $rc, expected $2; stderr: $(stderr_tail)"
        return 1
    fi
}

expect_stderr() {
    if ! grep -qi -- "$2" "$err"; then
        fail "$1" "stderr lacks '$2'; stderr: $(stderr_tail)"
        return 1
    fi
}

test_hello() {
    run hello hello 64
    expect_exit hello 0 || return
    expect_stderr hello "testdev: OK" || return
    if ! grep -q "Hello from kvmm firmware" "$con"; then
        fail hello "console lacks the hello line; console: $(head -c 200 "$con" | tr '\n' '|')"
        return
    fi
    pass hello
}

# test_fdt NAME CPUS MEMORY_MIB
test_fdt() {
    local cpus_args=()

    [ "$2" -gt 1 ] && cpus_args=(--cpus "$2")
    run "$1" fdt "$3" "${cpus_args[@]}" \
        --param "expect_mem_mib=$3" --param "expect_cpus=$2"
    expect_exit "$1" 0 || return
    expect_stderr "$1" "testdev: OK" || return
    pass "$1"
}

# A payload's FAIL(line) must come out as exit status 1 with the line.
test_fail_report() {
    run fail_report fdt 64 --param expect_mem_mib=64 --param expect_cpus=3
    expect_exit fail_report 1 || return
    expect_stderr fail_report "testdev: FAIL(" || return
    pass fail_report
}

test_pio() {
    run pio pio 64 --param iterations=1000
    expect_exit pio 0 || return
    expect_stderr pio "testdev: value 0x3e8" || return
    pass pio
}

test_mmio() {
    run mmio mmio 64
    expect_exit mmio 0 || return
    pass mmio
}

# test_triple_fault NAME METHOD
test_triple_fault() {
    run "$1" triple_fault 64 --param "method=$2"
    not_timed_out "$1" || return
    if [ "$rc" -eq 0 ]; then
        fail "$1" "exit status 0, expected non-zero; stderr: $(stderr_tail)"
        return
    fi
    expect_stderr "$1" "triple fault" || return
    pass "$1"
}

test_outside_ram() {
    run outside_ram outside_ram 64
    expect_exit outside_ram 3 || return
    expect_stderr outside_ram "outside guest RAM" || return
    pass outside_ram
}

test_dump_dtb() {
    local dtb=$tmp/dump.dtb dts

    run dump_dtb hello 64 --dump-dtb "$dtb" --param answer=42
    expect_exit dump_dtb 0 || return
    if [ ! -s "$dtb" ]; then
        fail dump_dtb "no device tree written to $dtb"
        return
    fi
    if ! dts=$(dtc -q -I dtb -O dts "$dtb" 2>&1); then
        fail dump_dtb "dtc cannot read it: $dts"
        return
    fi
    if ! grep -q 'testdev@440 {' <<<"$dts" ||
       ! grep -q 'compatible = "kvmm,testdev";' <<<"$dts" ||
       ! grep -q 'answer = "42";' <<<"$dts"; then
        fail dump_dtb "testdev node or param missing from: $(tr '\n\t' '  ' <<<"$dts" | head -c 400)"
        return
    fi
    pass dump_dtb
}

# test_virtio NAME MODE: a virtio-rng driver (firmware/virtio_loop.c) that
# also checks the PCI_CFG access window.  loop / outside: the device must
# refuse the chain with NEEDS_RESET, keep kvmm running, and serve a valid
# request after the driver resets it.
test_virtio() {
    run "$1" virtio_loop 64 --rng --param "mode=$2"
    expect_exit "$1" 0 || return
    expect_stderr "$1" "testdev: OK" || return
    if [ "$2" = valid ]; then
        if grep -qi "needs reset" "$err"; then
            fail "$1" "device failed on a valid request; stderr: $(stderr_tail)"
            return
        fi
    else
        expect_stderr "$1" "virtio-rng: malformed descriptor chain" || return
        expect_stderr "$1" "device needs reset" || return
        if ! grep -q "virtio_loop: device needs reset" "$con"; then
            fail "$1" "the payload never saw NEEDS_RESET"
            return
        fi
    fi
    pass "$1"
}

# Without the device the payload must report a failure, not hang.
test_virtio_absent() {
    run virtio_absent virtio_loop 64 --param mode=loop
    expect_exit virtio_absent 1 || return
    expect_stderr virtio_absent "testdev: FAIL(" || return
    pass virtio_absent
}

# A device counter from kvmm's info log: "vm0: virtio-blk vda.NAME VALUE".
blk_counter() {
    awk -v n="vda.$1" '$(NF-1) == n { print $NF; exit }' "$err"
}

# test_blk_batch NAME REQUESTS [sync|pio]: one notify for REQUESTS reads
# (firmware/virtio_blk_batch.c).  io_uring: all in one submit, and no more
# interrupts than completion batches; synchronous: one interrupt.  pio:
# the device also offers notify ports (KVMM_PIO_NOTIFY=1), listed first,
# so the payload's one notify is an OUT to BAR 2: the reads complete only
# if that kick arrives.
test_blk_batch() {
    local name=$1 n=$2 img=$tmp/batch.img req sub max irq reaps
    python3 -c 'import sys
with open(sys.argv[1], "wb") as f:
    for s in range(256): f.write(bytes([(s * 7 + 1) & 0xff]) * 512)' "$img"
    if [ "${3:-}" = sync ]; then
        KVMM_LOG=info KVMM_NO_IO_URING=1 run "$name" virtio_blk_batch 64 --disk "$img" \
            --param "requests=$n"
    elif [ "${3:-}" = pio ]; then
        KVMM_LOG=info KVMM_PIO_NOTIFY=1 run "$name" virtio_blk_batch 64 --disk "$img" \
            --param "requests=$n"
    else
        KVMM_LOG=info run "$name" virtio_blk_batch 64 --disk "$img" \
            --param "requests=$n"
    fi
    expect_exit "$name" 0 || return
    expect_stderr "$name" "testdev: OK" || return
    req=$(blk_counter requests) sub=$(blk_counter submits) max=$(blk_counter max_submit_batch)
    irq=$(blk_counter interrupts) reaps=$(blk_counter completion_batches)
    if [ "$req" != "$n" ]; then
        fail "$name" "vda.requests '$req', expected $n"
    elif [ "${3:-}" = sync ] || grep -q "synchronous I/O" "$err"; then
        if [ "$sub" = 0 ] && [ "$irq" = 1 ]; then
            pass "$name"
        else
            fail "$name" "synchronous: submits '$sub' (want 0), interrupts '$irq' (want 1)"
        fi
    elif [ "$sub" = 1 ] && [ "$max" = "$n" ] && [ "$irq" -ge 1 ] && [ "$irq" -le "$reaps" ]; then
        pass "$name"
    else
        fail "$name" "submits '$sub' (want 1), max_submit_batch '$max' (want $n), interrupts '$irq' for $reaps completion batches"
    fi
}

if [ ! -x "$KVMM" ]; then
    fail setup "$KVMM is missing (make $KVMM)"
elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    fail setup "/dev/kvm is not usable"
else
    missing=$(for p in hello fdt pio mmio triple_fault outside_ram virtio_loop virtio_blk_batch; do
        [ -f "$FW/$p.elf" ] || echo -n "$p "; done)
    if [ -n "$missing" ]; then
        fail setup "payloads not built: $missing(make firmware)"
    else
        test_hello
        test_fdt fdt 1 64
        test_fdt fdt_2cpus 2 64
        test_fdt fdt_256mib 1 256
        test_fail_report
        test_pio
        test_mmio
        test_triple_fault triple_fault div0
        test_triple_fault triple_fault_ud2 ud2
        test_outside_ram
        test_dump_dtb
        test_virtio virtio_valid valid
        test_virtio virtio_loop loop
        test_virtio virtio_outside outside
        test_virtio_absent
        test_blk_batch blk_batch_iodepth32 32
        test_blk_batch blk_batch_sync 80 sync
        test_blk_batch blk_batch_notify_port 32 pio
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
KVMM=$KVMM FW_TIMEOUT=$TIMEOUT bash tests/fw/introspect.sh && [ "$failed" -eq 0 ]
