#!/bin/bash
# Introspection of a Debian cloud kernel, no agent in the guest: targeted
# mode through patched probes, with the profile scripts/build-profile.sh
# makes by booting the kernel once.  The policy denies execve of
# /tmp/denied* and logs the rest; the guest runs a denied and an allowed
# program; the test checks what the guest saw (EPERM, the allowed one ran)
# and the audit log (verdicts, argv).  An INFO line gives the cost of a
# trapped execve against a boot without introspection.
# Prints "PASS name" / "FAIL name: reason" per test.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/guest/lib.sh

KVMM=$KVMM_ROOT/build/kvmm
# In the repository, not /tmp: the audit log must outlive a test host VM.
OUT=$(mktemp -d "$KVMM_ROOT/build/isp-guest.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-180}
KERNEL=$GUEST_DIR/vmlinuz-cloud
INITRD=$GUEST_DIR/initramfs-cloud.cpio.gz
LOOPS=${KVMM_ISP_LOOPS:-200}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# Guest side: two copies of one script, one under a denied name; then
# three rounds of LOOPS runs of the allowed one, timed by the guest's clock.
read -r -d '' GUEST_SCRIPT <<EOF
printf '#!/bin/sh\necho ALLOWED-RAN "\$@"\n' >/tmp/allowed
chmod 755 /tmp/allowed
cp /tmp/allowed /tmp/denied-true
/tmp/allowed one two
out=\$(/tmp/denied-true three 2>&1)
echo "DENIED-RC=\$?"
echo "DENIED-OUT=\$out"
for r in 1 2 3; do
    read -r t0 _ </proc/uptime
    i=0
    while [ \$i -lt $LOOPS ]; do /tmp/allowed >/dev/null; i=\$((i + 1)); done
    read -r t1 _ </proc/uptime
    echo "LOOP-SECONDS=\$(echo "\$t0 \$t1" | awk '{ printf "%.3f", \$2 - \$1 }')"
done
EOF

# boot NAME [kvmm run arguments]: sets rc; the console is $OUT/NAME.log
boot() {
    local name=$1; shift
    rc=0
    run_guest "$BOOT_TIMEOUT" "$OUT/$name.log" -- "$KVMM" run --kernel "$KERNEL" \
        --initrd "$INITRD" --memory 256 \
        --cmdline "console=ttyS0 quiet kvmm.test=script $(guest_script_arg "$GUEST_SCRIPT")" \
        "$@" || rc=$?
}

# expect_audit NAME PATTERN: one audit line at least matches
expect_audit() {
    grep -q -- "$2" "$OUT/audit" 2>/dev/null && return 0
    fail "$1" "no audit line matching '$2'; log head: $(head -c 400 "$OUT/audit" 2>/dev/null | tr '\n' '|')"
    return 1
}

test_deny_execve() {
    local profile json log=$OUT/isp.log
    if ! profile=$(scripts/build-profile.sh "$KERNEL"); then
        fail isp-profile-by-boot "scripts/build-profile.sh failed"
        return 1
    fi
    if grep -q '"entry_SYSCALL_64":' "$profile" && grep -q '"__x64_sys_execve":' "$profile"; then
        pass isp-profile-by-boot
    else
        fail isp-profile-by-boot "profile lacks symbols: $(tr -d '\n\t' <"$profile")"
        return 1
    fi
    json="{\"mode\":\"targeted\",\"trap\":\"probe\",\"profile\":\"$profile\",\"audit_log\":\"$OUT/audit\",\"audit_rate\":0,\"policy\":{\"rules\":[{\"path\":\"/tmp/denied*\",\"action\":\"deny\"}],\"default\":\"log\"}}"
    boot isp --introspect "$json"
    if [ "$rc" != 0 ] || ! grep -q '^KVMM-CMD-EXIT=0' "$log"; then
        fail isp-guest-boot "kvmm status $rc; console end: $(tail -n 8 "$log" | tr '\n' '|')"
        return 1
    fi
    if grep -q '^ALLOWED-RAN one two$' "$log"; then
        pass isp-allowed-exec-runs
    else
        fail isp-allowed-exec-runs "no ALLOWED-RAN line; console end: $(tail -n 8 "$log" | tr '\n' '|')"
    fi
    if grep -q '^DENIED-OUT=.*Operation not permitted' "$log" && ! grep -q '^DENIED-RC=0' "$log" &&
       ! grep -q 'ALLOWED-RAN three' "$log"; then
        pass isp-denied-exec-eperm
    else
        fail isp-denied-exec-eperm "guest saw: $(grep '^DENIED-' "$log" | tr '\n' '|')"
    fi
    expect_audit isp-audit-log '"event":"probes_placed"' &&
        expect_audit isp-audit-log '"symbol":"__x64_sys_execve","address":"0x[0-9a-f]*","trap":"probe"' &&
        expect_audit isp-audit-log '"syscall":"execve","via":"handler","path":"/tmp/allowed","argv":\["/tmp/allowed","one","two"\],"verdict":"log"' &&
        expect_audit isp-audit-log '"syscall":"execve","via":"handler","path":"/tmp/denied-true","argv":\["/tmp/denied-true","three"\],"verdict":"deny"' &&
        expect_audit isp-audit-log '"event":"kernel_text_measured"' &&
        pass isp-audit-log
    if grep '"path":"/tmp/denied-true"' "$OUT/audit" | grep -qv '"verdict":"deny"' ||
       grep '"path":"/tmp/allowed"' "$OUT/audit" | grep -q '"verdict":"deny"'; then
        fail isp-audit-verdicts "a record with the wrong verdict: $(grep '/tmp/' "$OUT/audit" | head -n 3 | tr '\n' '|')"
    else
        pass isp-audit-verdicts
    fi
}

# The fastest of a boot's three loop rounds.
best_loop() {
    sed -n 's/^LOOP-SECONDS=//p' "$1" | sort -n | head -n1
}

# Informative: the same guest loops without introspection (the cores are
# shared and emulated: expect noise), and the exits per exec, which do not
# depend on the host.
measure_overhead() {
    local with without records
    with=$(best_loop "$OUT/isp.log")
    records=$(grep -c '"path":"/tmp/allowed","argv":\["/tmp/allowed"\],"verdict":"log"' "$OUT/audit")
    echo "INFO isp-overhead: $records records for the $((3 * LOOPS)) looped execs (one probe exit each)"
    boot plain
    without=$(best_loop "$OUT/plain.log")
    if [ -z "$with" ] || [ -z "$without" ]; then
        echo "INFO isp-overhead: not measured (loop times '$with' '$without')"
        return
    fi
    echo "INFO isp-overhead: $LOOPS script execs in the guest, best of 3 rounds: ${with}s with targeted introspection, ${without}s without; $(awk -v a="$with" -v b="$without" -v n="$LOOPS" 'BEGIN { printf "%.0f us more per exec (%.2fx)", (a - b) * 1e6 / n, (b > 0 ? a / b : 0) }')"
}

test_deny_execve && measure_overhead
