#!/bin/bash
# Control socket with a Linux guest: system_powerdown presses the ACPI
# power button and the guest shuts down cleanly (kvmm exits 0 with
# "guest powered off").  The test guest's init powers off on an event from
# its "Power Button" input device, as acpid would.  Called from tests/guest/suite.sh; prints
# "PASS name" / "FAIL name: reason".  Runs inside the test host VM when
# this host's KVM cannot run Linux.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/guest/lib.sh
KVMM=$KVMM_ROOT/build/kvmm
TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}

# --inner: the part that needs a KVM able to run Linux.
if [ "${1-}" = --inner ]; then
    sock=/tmp/kvmm-powerdown.$$.sock log=/tmp/kvmm-powerdown.$$.log
    script='echo KVMM-WAITING-FOR-BUTTON
sleep 600'
    KVMM_LOG=info "$KVMM" run --kernel "$GUEST_DIR/vmlinuz-cloud" \
        --initrd "$GUEST_DIR/initramfs-cloud.cpio.gz" --memory 256 --control "$sock" \
        --cmdline "console=ttyS0 quiet kvmm.test=script $(guest_script_arg "$script")" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 $((TIMEOUT * 5))); do
        grep -q KVMM-WAITING-FOR-BUTTON "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    "$KVMM" ctl "$sock" query-status
    "$KVMM" ctl "$sock" system_powerdown
    echo "CTL-RC=$?"
    # Bounded here, so the guest's log is printed even when it hangs.
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && { echo "KVMM-STILL-RUNNING"; kill "$pid"; }
    wait "$pid"
    echo "KVMM-RC=$?"
    cat "$log"
    exit 0
fi

out=$(mktemp /tmp/kvmm-ctl-guest.XXXXXX)
trap 'rm -f "$out"' EXIT
run_guest $((TIMEOUT + 30)) "$out" -- bash "$KVMM_ROOT/tests/ctl/guest.sh" --inner
if grep -q '^CTL-RC=0' "$out" && grep -q '^KVMM-RC=0' "$out" &&
   grep -q '^KVMM-POWER-BUTTON' "$out" && grep -q 'guest powered off' "$out"; then
    echo "PASS ctl-system-powerdown-linux"
else
    echo "FAIL ctl-system-powerdown-linux: $(grep -E '^(CTL-RC|KVMM-RC)=' "$out" | tr '\n' ' ')"
    tail -n 25 "$out" >&2
fi
