#!/bin/bash
# Control socket tests (QMP conversation, malformed input, pause/resume,
# several VMs, kvmm ctl, Firecracker configs) against firmware payloads on
# this host's /dev/kvm.  Prints "PASS name" / "FAIL name: reason" lines.
# Environment: KVMM (default build/kvmm).
set -u
cd "$(dirname "$0")/../.." || exit 2
export KVMM=${KVMM:-build/kvmm} FW=${FW:-build/firmware}
missing=$(for p in counter spin panic hello triple_fault work; do
    [ -f "$FW/$p.elf" ] || echo -n "$p "; done)
if [ ! -x "$KVMM" ]; then
    echo "FAIL ctl/setup: $KVMM is missing (make $KVMM)"
    exit 1
elif [ -n "$missing" ]; then
    echo "FAIL ctl/setup: payloads not built: $missing(make firmware)"
    exit 1
fi
timeout -k 10 900 python3 tests/ctl/qmp_test.py "$@"
rc=$?
[ "$rc" -eq 124 ] && echo "FAIL ctl/timeout: the control tests took over 900 s"
exit "$rc"
