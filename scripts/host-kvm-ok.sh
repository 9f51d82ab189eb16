#!/bin/bash
# host-kvm-ok.sh: exit 0 when this machine's /dev/kvm can boot a stock Linux
# kernel, 1 when Linux guests must go through the test host VM instead.
# That needs hardware virtualization (vmx/svm) driven by kvm_intel or kvm_amd;
# kvm_pvm, for one, offers /dev/kvm without it.
# KVMM_FORCE_TESTHOST=1 answers 1 anyway, to exercise the test host path.
set -euo pipefail

[ "${KVMM_FORCE_TESTHOST:-0}" != 1 ] || exit 1
[ -c /dev/kvm ] || exit 1
[ ! -d /sys/module/kvm_pvm ] || exit 1
grep -qwE 'vmx|svm' /proc/cpuinfo || exit 1
[ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ] || exit 1
exit 0
