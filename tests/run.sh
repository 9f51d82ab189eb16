#!/bin/bash
# Runs every test tier and ends with "N passed, N failed".
#   1. unit tests (cmocka), normal build and ASan+UBSan build
#   2. the launcher's help and error messages
#   3. firmware payloads on this host's /dev/kvm
#      and the control socket (tests/ctl) with them
#      and scheduling (tests/sched: cgroups, pinning; needs root)
#   4. Linux guests (Debian kernels), through the test host VM when this
#      host's KVM cannot run them
# Each tier prints "PASS name" / "FAIL name: reason" lines; this script
# counts them.  Set KVMM_TIERS="unit fw" to run a subset.
set -uo pipefail
cd "$(dirname "$0")/.."

tiers=${KVMM_TIERS:-unit cli fw ctl sched guest}
log=build/test-results.log
: >"$log"
rm -f build/test-retries.log

run_unit_binary() {
    local bin=$1 label=$2 out
    out=$("$bin" 2>&1)
    local rc=$?
    # cmocka prints "[       OK ] name" and "[  FAILED  ] name" per test
    local ok fail
    ok=$(grep -c '^\[       OK \]' <<<"$out")
    # (a failed test is named twice: when it fails and in the summary)
    fail=$(grep -E '^\[  (FAILED|ERROR)  \] [a-z_0-9]+$' <<<"$out" | sort -u | wc -l)
    grep -E '^\[       OK \]' <<<"$out" | sed -E "s|^\[       OK \] (.*)|PASS $label:\1|"
    grep -E '^\[  (FAILED|ERROR)  \] [a-z_0-9]+$' <<<"$out" | sort -u | sed -E "s|^\[  (FAILED\|ERROR)  \] (.*)|FAIL $label:\2|"
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        echo "FAIL $label: exited with status $rc"
        echo "$out" | tail -20 >&2
    elif [ "$fail" -ne 0 ]; then
        echo "$out" | grep -v '^\[' | tail -20 >&2
    fi
    [ "$ok" -gt 0 ] || [ "$rc" -ne 0 ] || echo "FAIL $label: ran no test"
}

tier_unit() {
    echo "== unit tests" >&2
    for bin in build/unit/test_*; do
        [ -x "$bin" ] && run_unit_binary "$bin" "unit/$(basename "$bin")"
    done
    echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
    for bin in build/unit-asan/test_*; do
        [ -x "$bin" ] && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
            run_unit_binary "$bin" "asan/$(basename "$bin")"
    done
}

tier_cli() {
    echo "== launcher: help, diagnostics and input errors" >&2
    bash tests/cli/run.sh
}

tier_fw() {
    echo "== firmware payloads on this host's /dev/kvm" >&2
    bash tests/fw/run.sh
}

tier_ctl() {
    echo "== control socket (QMP) with firmware payloads" >&2
    bash tests/ctl/run.sh
}

tier_sched() {
    echo "== scheduling: cgroups, pinning, adaptive weights, co-scheduling" >&2
    bash tests/sched/run.sh
}

tier_guest() {
    echo "== Linux guests" >&2
    bash tests/guest/run.sh
}

for t in $tiers; do
    "tier_$t" 2>&1 | tee -a "$log" | grep -E '^(PASS|FAIL|==|RETRY)' || true
done

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
if [ -s build/test-retries.log ]; then
    echo "retries: $(wc -l <build/test-retries.log) (see build/test-retries.log)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
