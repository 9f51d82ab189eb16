# shellcheck shell=bash disable=SC2034  # GUEST_DIR is for the tests
# Sourced by the Linux-guest test scripts.
#
#   run_guest TIMEOUT OUTFILE -- CMD...   run a VMM (kvmm, or QEMU as reference)
#   expect_marker FILE REGEX              fail unless a line of FILE matches
#   marker_value FILE KEY                 print VALUE of the first KEY=VALUE line
#   guest_script_arg SCRIPT               kvmm.cmd=<base64> for the guest's /init
#
# Guest images: $GUEST_DIR/{vmlinuz,initramfs}-{cloud,generic}*, made by
# scripts/build-guest.sh.

KVMM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUEST_DIR=$KVMM_ROOT/build/guest
RETRY_LOG=$KVMM_ROOT/build/test-retries.log

# One run, without retry.  On a host with VT-x/AMD-V the command runs here;
# otherwise inside the test host VM, where the timeout is applied inside (so
# it does not count the test host's own boot) and again, looser, outside in
# case the test host itself hangs.
_run_guest_once() {
    local secs=$1 out=$2 rc=0; shift 2
    if "$KVMM_ROOT/scripts/host-kvm-ok.sh"; then
        timeout -k 5 "$secs" "$@" </dev/null >"$out" 2>&1 || rc=$?
    else
        "$KVMM_ROOT/scripts/testhost.sh" --timeout $((secs + 60)) -- \
            timeout -k 5 "$secs" "$@" </dev/null >"$out" 2>&1 || rc=$?
    fi
    # Tests match on plain lines: drop the console's \r and the terminal
    # escapes firmware prints (SeaBIOS clears the screen without a newline).
    sed -i -e 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r$//' "$out"
    [ "$rc" != 137 ] || rc=124
    return "$rc"
}

# run_guest TIMEOUT OUTFILE -- CMD...: returns CMD's status, 124 on timeout.
# A run that timed out, or that failed before the guest's init printed its
# marker, is retried once, loudly: a few percent of nested boots stall or
# die early, but a retry needed often is a bug, and build/test-retries.log
# lets the test summary count them.  (A run meant to fail before init
# fails the same way twice.)
run_guest() {
    local secs=$1 out=$2 rc=0 why; shift 2
    [ "${1-}" != -- ] || shift
    _run_guest_once "$secs" "$out" "$@" || rc=$?
    if [ "$rc" = 124 ]; then
        why="timed out after ${secs}s"
    elif [ "$rc" != 0 ] && ! grep -q '^KVMM-INIT-OK' "$out"; then
        why="status $rc before the guest's init marker ($(grep -m1 -E 'kvmm: |Kernel panic|triple' "$out" | cut -c1-120))"
    fi
    if [ -n "${why-}" ]; then
        echo "RETRY: $(basename "$0"): $why: $*" >&2
        mkdir -p "$(dirname "$RETRY_LOG")"
        echo "$(date -u +%FT%TZ) $(basename "$0") $why $*" >>"$RETRY_LOG"
        mv -f "$out" "$out.failed-1"    # evidence for whoever hunts the stall
        rc=0
        _run_guest_once "$secs" "$out" "$@" || rc=$?
    fi
    return "$rc"
}

# note_retry WHAT: a guest that stalled before its first marker is run again
# once, loudly, like run_guest does (for tests that drive kvmm themselves).
note_retry() {
    echo "RETRY: $(basename "$0"): $1" >&2
    mkdir -p "$(dirname "$RETRY_LOG")"
    echo "$(date -u +%FT%TZ) $(basename "$0") $1" >>"$RETRY_LOG"
}

expect_marker() {
    local file=$1 re=$2
    if ! grep -Eq -- "$re" "$file"; then
        echo "FAIL: no line matching /$re/ in $file; its end:" >&2
        tail -n 20 "$file" | sed 's/^/  | /' >&2
        return 1
    fi
}

marker_value() {
    sed -n "/^$2=/{s///p;q;}" "$1"
}

# The guest's /init runs this script when booted with kvmm.test=script.
guest_script_arg() {
    printf 'kvmm.cmd=%s' "$(printf '%s\n' "$1" | base64 -w0)"
}
