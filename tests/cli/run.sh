#!/bin/bash
# The launcher as a user meets it: help, version, and the one-line errors
# for bad flags, bad spec files, bad kernels and impossible requests.
# Runs on this host without booting Linux.
set -uo pipefail
cd "$(dirname "$0")/../.."

KVMM=build/kvmm
T=$(mktemp -d /tmp/kvmm-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
FW=build/firmware/hello.elf

pass() { echo "PASS cli:$1"; }
fail() { echo "FAIL cli:$1: $2"; }

# expect NAME STATUS REGEX -- ARGS...: run kvmm, check status and stderr
expect() {
    local name=$1 want=$2 re=$3 rc=0; shift 4
    "$KVMM" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name" "status $rc, expected $want; stderr: $(head -c 300 "$T/err")"
    elif ! grep -Eq -- "$re" "$T/err" "$T/out"; then
        fail "$name" "output does not match /$re/: $(head -c 300 "$T/err")"
    elif [ "$want" != 0 ] && [ "$(wc -l <"$T/err")" -gt 3 ]; then
        fail "$name" "error is not short: $(wc -l <"$T/err") lines"
    else
        pass "$name"
    fi
}

expect help 0 'Usage: kvmm' -- --help
expect version 0 '^kvmm [0-9]+\.[0-9]+' -- --version
expect run-help 0 '--kernel' -- run --help
expect unknown-command 2 "unknown command" -- frobnicate
expect unknown-flag 2 'unknown option --bogus' -- run --kernel "$FW" --bogus
expect bad-cpus 2 '--cpus: expected an integer 1\.\.255, got "two"' -- run --kernel "$FW" --cpus two
expect missing-kernel-file 2 'kernel.*(not found|No such file)' -- run --kernel "$T/nope"

echo '{"vcpus": "two", "kernel": "'"$PWD/$FW"'"}' >"$T/bad.json"
expect spec-wrong-type 2 'vcpus: expected an integer 1\.\.255, got "two"' -- run "$T/bad.json"
echo '{"kernel": "'"$PWD/$FW"'", "colour": "red"}' >"$T/unknown.json"
expect spec-unknown-key 2 'colour: unknown key' -- run "$T/unknown.json"
printf '{"kernel": \n' >"$T/broken.json"
expect spec-invalid-json 2 'invalid JSON at line' -- run "$T/broken.json"
expect memory-beyond-host 2 'exceeds host memory' -- run --kernel "$FW" --memory 100000000

# A VM name and a cgroup parent are directories: none may leave kvmm's group.
echo '{"name": "..", "kernel": "'"$PWD/$FW"'", "memory_mib": 32, "console": "none", "sched": {"weight": 100}}' >"$T/dotdot.json"
expect name-dotdot 2 '^kvmm: name: expected a name other than "\." and "\.\.", got "\.\."$' -- run "$T/dotdot.json"
expect name-dot-flag 2 '^kvmm: --name: expected a name other than "\." and "\.\.", got "\."$' -- \
    run --kernel "$FW" --memory 32 --name .
echo '{"kernel": "'"$PWD/$FW"'", "memory_mib": 32, "sched": {"cgroup_parent": "../../.."}}' >"$T/parent.json"
expect cgroup-parent-escape 2 '^kvmm: sched.cgroup_parent: expected a group path below the hierarchy.s top .*got "\.\./\.\./\.\."$' -- \
    run "$T/parent.json"

# U+0000 would cut a string short: it is refused, naming the key.
echo '{"name": "ab\u0000/../x", "kernel": "'"$PWD/$FW"'", "memory_mib": 32, "console": "none"}' >"$T/nul.json"
expect name-nul 2 '^kvmm: name: expected text without NUL \(\\u0000\) characters$' -- run "$T/nul.json"

# A Firecracker config gets a spec file's types, strictness and key names.
echo '{"boot-source": {"kernel_image_path": 5, "boot_args": 7}, "machine-config": {"vcpu_count": "2", "mem_size_mib": "32"}}' >"$T/fc-types.json"
expect fc-kernel-number 2 '^kvmm: boot-source.kernel_image_path: expected a non-empty path, got 5$' -- \
    run --config-file "$T/fc-types.json"
echo '{"boot-source": {"kernel_image_path": "'"$PWD/$FW"'"}, "drives": [{"drive_id": "r", "path_on_host": "'"$T"'/nope.img", "is_root_device": true}]}' >"$T/fc-drive.json"
expect fc-drive-missing 2 '^kvmm: drives\[0\]\.path_on_host: .*/nope\.img: No such file or directory$' -- \
    run --config-file "$T/fc-drive.json" --console none

# The command line and the params must fit the device tree: refused before
# the VM is built, naming the limit.
expect cmdline-too-long 2 '^kvmm: --cmdline: expected at most 16384 bytes, got 70000$' -- \
    run --kernel "$FW" --memory 32 --cmdline "$(head -c 70000 /dev/zero | tr '\0' a)"
{
    printf '{"kernel": "%s", "memory_mib": 32, "params": {"k0": 0' "$PWD/$FW"
    for i in $(seq 1 4999); do printf ', "k%d": %d' "$i" "$i"; done
    printf '}}\n'
} >"$T/params.json"
expect params-too-many 2 '^kvmm: params: expected at most 256 entries, got 5000$' -- run "$T/params.json"

# Where kvmm would write or listen is checked before anything starts,
# under the key or flag that named it.
echo '{"kernel": "'"$PWD/$FW"'", "memory_mib": 32, "console": "none", "dump_dtb": "/nonexistent/x.dtb"}' >"$T/dtb.json"
expect dump-dtb-spec 2 '^kvmm: dump_dtb: cannot write /nonexistent/x\.dtb: No such file or directory$' -- run "$T/dtb.json"
expect control-empty 2 '^kvmm: --control: expected a socket path, got ""$' -- \
    run --kernel "$FW" --memory 32 --control ""
expect console-file-nodir 2 '^kvmm: --console: cannot write /nonexistent/c\.log: No such file or directory$' -- \
    run --kernel "$FW" --memory 32 --console file:/nonexistent/c.log
mkfifo "$T/console.fifo"
expect console-file-fifo 2 '^kvmm: --console: .*/console\.fifo: not a regular file or character device$' -- \
    run --kernel "$FW" --memory 32 --console "file:$T/console.fifo"
expect control-too-long 2 '^kvmm: --control: expected a socket path of at most 107 bytes, got 125$' -- \
    run --kernel "$FW" --memory 32 --control "/tmp/$(head -c 120 /dev/zero | tr '\0' a)"

# An option repeated within one --disk is refused, as within one --net.
expect disk-serial-twice 2 '^kvmm: --disk: serial= given twice$' -- \
    run --kernel "$FW" --memory 32 --disk "$PWD/$FW,ro,serial=a,serial=b"

expect disk-empty-option 2 '^kvmm: --disk: empty option in ".*,,ro" \(expected PATH' -- \
    run --kernel "$FW" --memory 32 --disk "$PWD/$FW,,ro"

# A bad TX polling setting is refused before the VM runs, naming the
# variable, and the TAP kvmm would have created is not left behind.
KVMM_NET_TX_POLL_US=abc expect bad-net-tx-poll 1 "KVMM_NET_TX_POLL_US: expected microseconds from 0 to 10000, got 'abc'" -- \
    run --kernel "$FW" --memory 64 --net tap=kvmmclipoll0
if ip link show kvmmclipoll0 >/dev/null 2>&1; then
    fail bad-net-tx-poll-no-tap "TAP kvmmclipoll0 left behind"
    ip link del kvmmclipoll0 2>/dev/null
else
    pass bad-net-tx-poll-no-tap
fi

head -c 4096 /dev/urandom >"$T/junk.bin"
expect not-a-kernel 1 'neither a bzImage nor an ELF' -- run --kernel "$T/junk.bin" --memory 64

# A stock kernel on a host whose KVM cannot run one: a clear diagnosis.
if ! scripts/host-kvm-ok.sh && [ -e build/guest/vmlinuz-cloud ]; then
    expect no-hw-virt-diagnosis 1 'cannot run a stock Linux kernel.*test host VM' -- \
        run --kernel build/guest/vmlinuz-cloud --memory 256
    # Debian's System.map is a placeholder: the profile needs a boot, which
    # this host cannot do; kvmm says both.
    expect profile-boot-needs-linux-host 1 'profile boots the kernel once, and this host.*cannot run a stock Linux kernel' -- \
        profile --kernel build/guest/vmlinuz-cloud -o "$T/profile.json"
fi

# /dev/kvm permission problems are named as such (run as an unprivileged user).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    rc=0
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$KVMM" run --kernel "$PWD/$FW" --memory 64 \
        >"$T/out" 2>"$T/err" </dev/null || rc=$?
    if [ "$rc" = 1 ] && grep -q 'permission to open /dev/kvm' "$T/err"; then
        pass kvm-permission
    else
        fail kvm-permission "status $rc: $(head -c 300 "$T/err")"
    fi
fi
