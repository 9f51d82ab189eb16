#!/bin/bash
# build-guest.sh: make the test guest images under build/guest/:
#   vmlinuz-cloud, vmlinuz-generic              links to the newest /boot kernels
#   initramfs-cloud.cpio.gz, initramfs-generic.cpio.gz
#   barrier                                     tests/guest/barrier.c, static
# An image is rebuilt only when its kernel, busybox, the guest programs or
# the build scripts are newer than it, so calling this on every `make`
# costs nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=initramfs-lib.sh
. "$here/initramfs-lib.sh"
out=$here/../build/guest
mkdir -p "$out"

# Guest programs: static, so they need nothing from the initramfs.
src=$here/../tests/guest/barrier.c
if [ ! -x "$out/barrier" ] || [ "$src" -nt "$out/barrier" ]; then
    echo "build-guest: barrier"
    gcc -static -O2 -pthread -Wall -Wextra -Werror -o "$out/barrier.tmp" "$src"
    mv -f "$out/barrier.tmp" "$out/barrier"
fi

for flavour in cloud generic; do
    kver=$(newest_kernel "$flavour")
    if [ -z "$kver" ]; then
        echo "build-guest: no $flavour kernel in /boot (install linux-image-${flavour/generic/}amd64)" >&2
        exit 1
    fi
    ln -sfn "/boot/vmlinuz-$kver" "$out/vmlinuz-$flavour"

    img=$out/initramfs-$flavour.cpio.gz
    stamp=$out/.initramfs-$flavour.kver
    # A different kernel version means a rebuild even if its files are older.
    if [ -f "$img" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$kver" ] &&
       [ -z "$(find "/lib/modules/$kver/modules.dep" /bin/busybox \
                    "$here/mkinitramfs.sh" "$here/initramfs-lib.sh" "$out/barrier" -newer "$img")" ]; then
        continue
    fi
    echo "build-guest: initramfs-$flavour.cpio.gz for $kver"
    bash "$here/mkinitramfs.sh" "$kver" "$img"
    echo "$kver" >"$stamp"
done
