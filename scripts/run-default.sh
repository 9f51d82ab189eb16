#!/bin/bash
# `make run`: boot configs/default.json and attach this terminal to the
# guest console.  Where this host's /dev/kvm cannot boot Linux (no VT-x or
# AMD-V, e.g. kvm_pvm) the VM runs inside the test host VM instead.
set -euo pipefail
cd "$(dirname "$0")/.."

spec=${KVMM_SPEC:-configs/default.json}
if scripts/host-kvm-ok.sh; then
    exec build/kvmm run "$spec"
fi
echo "kvmm: this host's /dev/kvm cannot boot Linux; running the VM inside the test host VM (scripts/testhost.sh)" >&2
exec scripts/testhost.sh --interactive -- build/kvmm run "$spec"
