#!/bin/bash
# Introspection of a Debian cloud kernel, no agent in the guest: targeted
# mode through patched probes, with the profile scripts/build-profile.sh
# makes by booting the kernel once (symbols and BTF member offsets).
#  - The policy denies execve of /tmp/denied* and logs the rest; the guest
#    runs a denied and an allowed program; the test checks what the guest
#    saw (EPERM, the allowed one ran) and the audit log (verdicts, argv,
#    the pid and comm of the task that called execve).
#  - With an ext4 disk image as the guest's file system: a program allowed
#    by its hash runs, the same path with new content is refused and
#    logged with the new hash; a kernel module loaded from the disk is
#    logged with its path and hash; a policy replaced through the control
#    socket denies, in the same running guest, a program it allowed.
# An INFO line gives the cost of a trapped execve against a boot without
# introspection.  Prints "PASS name" / "FAIL name: reason" per test.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/guest/lib.sh

# The control socket and kvmm must be on one machine: where this host's
# KVM cannot boot Linux, run the whole file inside the test host VM.
if ! scripts/host-kvm-ok.sh; then
    exec scripts/testhost.sh --timeout 900 -- bash tests/guest/introspect.sh
fi

KVMM=$KVMM_ROOT/build/kvmm
# Consoles, audit logs and the disk image.
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
sh -c 'echo "SELF-PID=\$\$"; echo "SELF-COMM=\$(cat /proc/\$\$/comm)"; exec /tmp/allowed pidcheck'
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
    # from the kernel's BTF: where a task keeps its pid, comm and files
    if grep -q '"current_task":' "$profile" && grep -q '"task_struct.comm":' "$profile" &&
       grep -q '"dentry.d_parent":' "$profile"; then
        pass isp-profile-btf-offsets
    else
        fail isp-profile-btf-offsets "profile: $(tr -d '\n\t' <"$profile")"
    fi
    PROFILE=$profile
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
    check_task
    if grep '"path":"/tmp/denied-true"' "$OUT/audit" | grep -qv '"verdict":"deny"' ||
       grep '"path":"/tmp/allowed"' "$OUT/audit" | grep -q '"verdict":"deny"'; then
        fail isp-audit-verdicts "a record with the wrong verdict: $(grep '/tmp/' "$OUT/audit" | head -n 3 | tr '\n' '|')"
    else
        pass isp-audit-verdicts
    fi
}

# The exec record of "/tmp/allowed pidcheck", made by a shell that printed
# its own pid and comm before exec: the record names that task.
check_task() {
    local log=$OUT/isp.log pid comm rec
    pid=$(marker_value "$log" SELF-PID)
    comm=$(marker_value "$log" SELF-COMM)
    rec=$(grep '"argv":\["/tmp/allowed","pidcheck"\]' "$OUT/audit" | head -n1)
    if [ -n "$pid" ] && [ "$pid" -gt 1 ] && [ -n "$comm" ] &&
       [[ $rec == *"\"pid\":$pid,\"tid\":$pid,\"comm\":\"$comm\""* ]]; then
        pass isp-record-names-task
    else
        fail isp-record-names-task "guest pid '$pid' comm '$comm'; record: $rec"
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

# The guest's file system on a disk image: /bin/busybox (the shell scripts
# need an interpreter), /opt/app/hello, the module /mod/crc7.ko.  ext4
# without a journal: what the guest syncs is then in place for the host
# to read (a journal may hold the newest metadata for a while).
make_image() {
    local stage=$OUT/stage kver
    kver=$(basename "$(readlink -f "$KERNEL")"); kver=${kver#vmlinuz-}
    mkdir -p "$stage/bin" "$stage/opt/app" "$stage/mod"
    cp /bin/busybox "$stage/bin/busybox"
    ln -s busybox "$stage/bin/sh"
    printf '#!/bin/sh\necho HELLO-RAN "$@"\n' >"$stage/opt/app/hello"
    chmod 755 "$stage/opt/app/hello"
    MODULE=$(find "/lib/modules/$kver/kernel/lib" -name crc7.ko | head -n1)
    [ -n "$MODULE" ] || { echo "no crc7.ko for $kver" >&2; return 1; }
    cp "$MODULE" "$stage/mod/crc7.ko"
    mke2fs -q -F -t ext4 -O ^has_journal -d "$stage" "$OUT/disk.img" 16M >/dev/null
}

# Guest side of test_image_and_swap.
read -r -d '' IMAGE_SCRIPT <<'EOF'
mount -t ext4 /dev/vda /mnt || echo MOUNT-FAILED
chroot /mnt /opt/app/hello one
echo "ORIG-RC=$?"
printf '#!/bin/sh\necho TAMPERED-RAN\n' >/mnt/opt/app/hello
sync
out=$(chroot /mnt /opt/app/hello two 2>&1)
echo "TAMPERED-RC=$?"
echo "TAMPERED-OUT=$out"
insmod /mnt/mod/crc7.ko
echo "INSMOD-RC=$?"
grep -q '^crc7 ' /proc/modules && echo "MODULE-LOADED=yes"
printf '#!/bin/sh\necho SWAP-RAN\n' >/tmp/swap-me
chmod 755 /tmp/swap-me
/tmp/swap-me >/dev/null && echo "SWAP-BEFORE=ran"
echo KVMM-SWAP-READY
i=0
while [ $i -lt 600 ] && /tmp/swap-me >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
out=$(/tmp/swap-me 2>&1)
echo "SWAP-AFTER-RC=$?"
echo "SWAP-AFTER-OUT=$out"
EOF

# first_line FILE PATTERN: number of the first line of FILE matching, or 0.
first_line() {
    local n
    n=$(grep -n -- "$2" "$1" | head -n1 | cut -d: -f1)
    echo "${n:-0}"
}

# Image, module and run-time policy swap in one boot.  The guest waits
# (KVMM-SWAP-READY, then retries) until the new policy denies /tmp/swap-me.
test_image_and_swap() {
    local log=$OUT/image.log audit=$OUT/image.audit sock=/tmp/kvmm-isp.$$.sock
    local json pid hello tampered modsha i ctl_rc=none policy try
    for try in 1 2; do
    make_image || { fail isp-image "cannot make the disk image"; return; }
    hello=$(sha256sum <"$OUT/stage/opt/app/hello" | cut -d' ' -f1)
    tampered=$(printf '#!/bin/sh\necho TAMPERED-RAN\n' | sha256sum | cut -d' ' -f1)
    modsha=$(sha256sum <"$OUT/stage/mod/crc7.ko" | cut -d' ' -f1)
    policy="{\"rules\":[{\"path\":\"/opt/app/hello\",\"sha256\":\"$hello\",\"action\":\"log\"},{\"path\":\"/opt/app/*\",\"action\":\"deny\"}],\"default\":\"log\"}"
    json="{\"profile\":\"$PROFILE\",\"trap\":\"probe\",\"image\":\"$OUT/disk.img\",\"audit_log\":\"$audit\",\"audit_rate\":0,\"policy\":$policy}"
    timeout -k 5 "$BOOT_TIMEOUT" "$KVMM" run --kernel "$KERNEL" --initrd "$INITRD" --memory 256 \
        --disk "$OUT/disk.img" --control "$sock" --introspect "$json" \
        --cmdline "console=ttyS0 quiet kvmm.test=script $(guest_script_arg "$IMAGE_SCRIPT")" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    for i in $(seq 1 $((BOOT_TIMEOUT * 5))); do
        grep -q '^KVMM-SWAP-READY' "$log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if grep -q '^KVMM-SWAP-READY' "$log"; then
        ctl_rc=0
        "$KVMM" ctl "$sock" x-introspect-set-policy \
            'policy={"rules":[{"path":"/tmp/swap-me","action":"deny"}],"default":"log"}' \
            >/dev/null || ctl_rc=$?
    fi
    wait "$pid"
    sed -i 's/\r$//' "$log"
    if [ "$try" = 1 ] && ! grep -q '^KVMM-SWAP-READY' "$log" && ! grep -q '^KVMM-' "$log"; then
        note_retry "image boot: the guest stalled before its first marker"
        rm -f "$audit"
        continue
    fi
    break
    done
    if ! grep -q '^KVMM-CMD-EXIT=0' "$log"; then
        fail isp-image-boot "guest did not finish; console end: $(tail -n 8 "$log" | tr '\n' '|')"
        return
    fi
    # the original, allowed by its hash, ran; its record has that hash
    if grep -q '^HELLO-RAN one$' "$log" && grep -q '^ORIG-RC=0' "$log" &&
       grep '"path":"/opt/app/hello"' "$audit" | grep -q "\"sha256\":\"$hello\",\"verdict\":\"log\""; then
        pass isp-image-hash-allows
    else
        fail isp-image-hash-allows "guest: $(grep -E '^(HELLO|ORIG|MOUNT)' "$log" | tr '\n' '|'); records: $(grep '/opt/app/hello' "$audit" | tr '\n' '|')"
    fi
    # same path, new content: refused, and logged with the new hash
    if grep -q '^TAMPERED-OUT=.*Operation not permitted' "$log" && ! grep -q 'TAMPERED-RAN' "$log" &&
       ! grep -q '^TAMPERED-RC=0' "$log" &&
       grep '"path":"/opt/app/hello"' "$audit" | grep -q "\"sha256\":\"$tampered\",\"verdict\":\"deny\""; then
        pass isp-image-modified-denied
    else
        fail isp-image-modified-denied "guest: $(grep -E '^TAMPERED' "$log" | tr '\n' '|'); records: $(grep '/opt/app/hello' "$audit" | tr '\n' '|')"
    fi
    # the module: loaded, and audited with its path on the disk and its hash
    if grep -q '^MODULE-LOADED=yes' "$log" &&
       grep '"syscall":"finit_module"' "$audit" | grep '"path":"/mod/crc7.ko"' |
       grep -q "\"sha256\":\"$modsha\""; then
        pass isp-module-load-audited
    else
        fail isp-module-load-audited "guest: $(grep -E '^(INSMOD|MODULE)' "$log" | tr '\n' '|'); records: $(grep 'init_module"' "$audit" | tr '\n' '|')"
    fi
    # the policy swap: allowed before, denied after, in one running guest
    if [ "$ctl_rc" = 0 ] && grep -q '^SWAP-BEFORE=ran' "$log" &&
       grep -q '^SWAP-AFTER-OUT=.*Operation not permitted' "$log" &&
       [ "$(first_line "$audit" '"event":"policy_replaced"')" -gt 0 ] &&
       [ "$(first_line "$audit" '"path":"/tmp/swap-me".*"verdict":"log"')" -gt 0 ] &&
       [ "$(first_line "$audit" '"path":"/tmp/swap-me".*"verdict":"log"')" -lt \
         "$(first_line "$audit" '"event":"policy_replaced"')" ] &&
       [ "$(first_line "$audit" '"path":"/tmp/swap-me".*"verdict":"deny"')" -gt \
         "$(first_line "$audit" '"event":"policy_replaced"')" ]; then
        pass isp-policy-swap-at-run-time
    else
        fail isp-policy-swap-at-run-time "ctl status $ctl_rc; guest: $(grep -E '^SWAP' "$log" | tr '\n' '|')"
    fi
}

if test_deny_execve; then
    test_image_and_swap
    measure_overhead
fi
