#!/bin/bash
# Linux-guest tier.  On a host whose KVM can boot Linux the suite runs here;
# otherwise it runs inside the test host VM (scripts/testhost.sh), one
# session per part of the suite (boot, virtio, net, ctl, introspect).
#
# The emulated test host can reset or freeze as a whole (its nested guests
# and its own clock stop; seen under QEMU as the nested VMM too).  A part
# whose test host resets, times out, or prints nothing for KVMM_GUEST_STALL
# seconds (540) is run again in a fresh test host, up to three times, loudly (a
# RETRY line, counted in the summary); only its last attempt's results
# count, and no part starts a retry after KVMM_GUEST_BUDGET seconds (2400).
set -uo pipefail
cd "$(dirname "$0")/../.."

if scripts/host-kvm-ok.sh; then
    exec bash tests/guest/suite.sh
fi
echo "guest tests: this host's /dev/kvm cannot boot Linux; running them inside the test host VM" >&2

stall=${KVMM_GUEST_STALL:-540}
budget=${KVMM_GUEST_BUDGET:-2400}
t0=$SECONDS
out=$(mktemp /tmp/kvmm-guest-tier.XXXXXX)
all=$(mktemp /tmp/kvmm-guest-all.XXXXXX)
trap 'rm -f "$out" "$all"' EXIT

# attempt PART: run that part of the suite in a test host with its output
# in $out; 124 when it timed out or went silent, 125 when the test host failed.
attempt() {
    local pid size last=-1 quiet=0 rc=0
    : >"$out"
    scripts/testhost.sh --timeout 1200 -- bash tests/guest/suite.sh "$1" >"$out" 2>&1 &
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

status=0
for part in boot virtio net ctl introspect; do
    for try in 1 2 3 4; do
        rc=0
        attempt "$part" || rc=$?
        [ "$rc" -ge 124 ] || break
        [ "$try" -lt 4 ] && [ $((SECONDS - t0)) -lt "$budget" ] || break
        echo "RETRY: guest tier, $part: the test host VM failed, froze or timed out (status $rc) after: $(grep -E '^(PASS|FAIL) ' "$out" | tail -n 1)" >&2
        mkdir -p build
        echo "$(date -u +%FT%TZ) guest tier, $part: test host status $rc; part rerun" >>build/test-retries.log
        sed 's/^/  | /' "$out" | tail -n 20 >&2
    done
    cat "$out" >>"$all"
    if [ "$rc" -ge 124 ]; then
        echo "FAIL guest-tier-$part: the test host VM failed or timed out (status $rc)" >>"$all"
        status=$rc
    elif [ "$rc" != 0 ]; then
        status=$rc
    fi
done
cat "$all"
exit "$status"
