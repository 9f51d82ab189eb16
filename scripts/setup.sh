#!/bin/bash
# Installs the Debian packages kvmm needs (only those missing) and builds
# the default guest image.  Called by `make run` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    gcc make pkg-config libc6-dev
    liburing-dev libfdt-dev libcjson-dev libcmocka-dev nettle-dev libext2fs-dev
    linux-image-cloud-amd64 linux-image-amd64 busybox-static kmod cpio gzip xz-utils zstd lz4
    qemu-system-x86 device-tree-compiler python3
    gnuplot-nox fio iperf3 iproute2 e2fsprogs util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages: ${missing[*]} (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/build-guest.sh
