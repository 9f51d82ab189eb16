#!/bin/bash
# Linux-guest tier.  On a host whose KVM can boot Linux the suite runs here;
# otherwise the whole suite runs inside one test host VM (scripts/testhost.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."

if scripts/host-kvm-ok.sh; then
    exec bash tests/guest/suite.sh
fi
echo "guest tests: this host's /dev/kvm cannot boot Linux; running them inside the test host VM" >&2
rc=0
scripts/testhost.sh --timeout 1500 -- bash tests/guest/suite.sh || rc=$?
if [ "$rc" -ge 124 ]; then
    echo "FAIL guest-tier: the test host VM failed or timed out (status $rc)"
fi
exit "$rc"
