#!/bin/bash
# build-profile.sh KERNEL: make sure build/profiles/<kernel version>.json,
# the introspection profile of the bzImage KERNEL, exists and is newer than
# KERNEL; print its path.  `kvmm profile` boots the kernel once to read
# /proc/kallsyms (Debian's System.map is a placeholder) and member offsets
# from /sys/kernel/btf/vmlinux; where this host's
# /dev/kvm cannot boot Linux, that runs inside the test host VM.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 KERNEL" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
kernel=$(readlink -f "$1")
kvmm=$repo/build/kvmm

# The version string of a bzImage: setup header field kernel_version
# (offset 0x20e) points at it, relative to 0x200.
kver_of() {
    local off
    off=$(od -An -tu2 -j $((0x20e)) -N2 "$1" | tr -d ' ')
    [ -n "$off" ] && dd if="$1" bs=1 skip=$((off + 0x200)) count=128 status=none |
        tr '\0' '\n' | head -n1 | cut -d' ' -f1
}
kver=$(kver_of "$kernel")
if [ -z "$kver" ]; then
    echo "$0: $kernel: no version string (not a bzImage?)" >&2
    exit 1
fi
out=$repo/build/profiles/$kver.json
mkdir -p "$(dirname "$out")"
(
    flock 9
    # A profile from before member offsets were recorded is made again.
    if [ -s "$out" ] && [ "$out" -nt "$kernel" ] && grep -q '"offsets"' "$out"; then
        exit 0
    fi
    echo "build-profile: $kver (boots the kernel once)" >&2
    tmp=$out.tmp.$$
    cmd=("$kvmm" profile --boot --kernel "$kernel" -o "$tmp")
    rc=0
    if "$here/host-kvm-ok.sh"; then
        "${cmd[@]}" >&2 || rc=$?
    else
        "$here/testhost.sh" --timeout 400 -- "${cmd[@]}" >&2 || rc=$?
    fi
    if [ "$rc" != 0 ] || [ ! -s "$tmp" ]; then
        rm -f "$tmp"
        echo "$0: kvmm profile failed for $kernel (status $rc)" >&2
        exit 1
    fi
    mv -f "$tmp" "$out"
) 9>"$out.lock"
echo "$out"
