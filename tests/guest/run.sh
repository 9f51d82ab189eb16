#!/bin/bash
# Linux-guest tier.  On a host whose KVM can boot Linux the suite runs here;
# otherwise the whole suite runs inside one test host VM (scripts/testhost.sh).
#
# The emulated test host can freeze as a whole (its nested guests and its
# own clock stop; seen under QEMU as the nested VMM too).  A frozen test
# host prints nothing, so a suite silent for KVMM_GUEST_STALL seconds (540)
# is stopped and run again once in a fresh test host, loudly (a RETRY line,
# counted in the summary); only the last attempt's results count.
set -uo pipefail
cd "$(dirname "$0")/../.."

if scripts/host-kvm-ok.sh; then
    exec bash tests/guest/suite.sh
fi
echo "guest tests: this host's /dev/kvm cannot boot Linux; running them inside the test host VM" >&2

stall=${KVMM_GUEST_STALL:-540}
out=$(mktemp /tmp/kvmm-guest-tier.XXXXXX)
trap 'rm -f "$out"' EXIT

# attempt: run the suite in a test host with its output in $out; 124 when
# it timed out or went silent.
attempt() {
    local pid size last=-1 quiet=0 rc=0
    : >"$out"
    scripts/testhost.sh --timeout 1500 -- bash tests/guest/suite.sh >"$out" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        size=$(stat -c %s "$out")
        if [ "$size" != "$last" ]; then
            last=$size quiet=0
        else
            quiet=$((quiet + 5))
        fi
        if [ "$quiet" -ge "$stall" ]; then
            echo "guest tests: the test host printed nothing for ${stall}s; stopping it" >&2
            kill -TERM "$pid" 2>/dev/null
            wait "$pid"
            return 124
        fi
    done
    wait "$pid" || rc=$?
    return "$rc"
}

rc=0
attempt || rc=$?
if [ "$rc" -ge 124 ]; then
    echo "RETRY: guest tier: the test host VM failed, froze or timed out (status $rc) after: $(grep -E '^(PASS|FAIL) ' "$out" | tail -n 1)" >&2
    mkdir -p build
    echo "$(date -u +%FT%TZ) guest tier: test host status $rc; suite rerun" >>build/test-retries.log
    sed 's/^/  | /' "$out" | tail -n 20 >&2
    rc=0
    attempt || rc=$?
fi
cat "$out"
if [ "$rc" -ge 124 ]; then
    echo "FAIL guest-tier: the test host VM failed or timed out (status $rc)"
fi
exit "$rc"
