#!/bin/bash
# bench/virtio/mkinitrd.sh [OUT]: the benchmark guest's initramfs.
#
# The test guest's image (build/guest/initramfs-cloud.cpio.gz, made by
# scripts/build-guest.sh) followed by a second, uncompressed newc archive
# holding this host's fio and iperf3 (and ss) with every shared library they load
# (as ldd resolves them, same paths) and bench/virtio/guest.sh as
# /bin/virtio-bench.  The kernel unpacks concatenated archives in turn.
# The extra archive is left uncompressed: about 85 MB that a nested guest
# would otherwise spend many seconds inflating.
# Default OUT: build/bench/initramfs-bench.cpio
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/bench/initramfs-bench.cpio}
base=build/guest/initramfs-cloud.cpio.gz
[ -f "$base" ] || { echo "$0: $base missing (scripts/build-guest.sh)" >&2; exit 1; }
for p in fio iperf3; do
    command -v "$p" >/dev/null || { echo "$0: $p not installed (scripts/setup.sh)" >&2; exit 1; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
for p in fio iperf3; do cp -L "$(command -v $p)" "$stage/bin/$p"; done
# ss (iproute2), when this host has it: the guest's TCP state mid-run.
extra=$(command -v ss || true)
[ -z "$extra" ] || cp -L "$extra" "$stage/bin/ss"
cp bench/virtio/guest.sh "$stage/bin/virtio-bench"
chmod 755 "$stage/bin/"*
# Every library, at the path the dynamic loader will look for it.
ldd "$(command -v fio)" "$(command -v iperf3)" $extra |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u |
    while read -r lib; do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done

mkdir -p "$(dirname "$out")"
find "$stage" -exec touch -h -d @0 {} +
{
    cat "$base"
    # The kernel finds the next archive only at a 4-byte boundary; the
    # zero bytes between the two are skipped.
    head -c $(( (4 - $(stat -c %s "$base") % 4) % 4 )) /dev/zero
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible)
} >"$out.tmp"
mv -f "$out.tmp" "$out"
echo "bench initramfs: $out ($(du -m "$out" | cut -f1) MiB)" >&2
