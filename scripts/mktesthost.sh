#!/bin/bash
# mktesthost.sh OUT.cpio.gz [KVER]
# Build the initramfs of the test host VM (see scripts/testhost.sh): busybox,
# the 9p and KVM modules of the generic kernel KVER (default: newest), and an
# /init that mounts the host's root and the repository over 9p, chroots into
# them and runs the command that testhost.sh left in its run folder.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT.cpio.gz [KVER]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=initramfs-lib.sh
. "$here/initramfs-lib.sh"
out=$1 kver=${2:-$(newest_kernel generic)}

# Only the generic kernel builds 9p; the cloud kernel cannot be a test host.
if ! grep -q '/9pnet_virtio\.ko' "/lib/modules/$kver/modules.dep" 2>/dev/null; then
    echo "$0: kernel '$kver' has no 9p modules (need linux-image-amd64)" >&2
    exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

stage_busybox "$stage"
stage_modules "$kver" "$stage" virtio_pci 9pnet_virtio 9p kvm_amd
echo "$kver" >"$stage/etc/kvmm-testhost"

cat >"$stage/init" <<'EOF'
#!/bin/sh
# Test host init.  Everything it says before the start marker is dropped by
# testhost.sh, except a KVMM-TESTHOST-FAIL line, which becomes its error.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

halt_now() { sync; poweroff -f; while :; do sleep 3600; done; }
fail() { echo "KVMM-TESTHOST-FAIL $*"; halt_now; }

while read -r m; do insmod "$m" 2>/dev/null; done </lib/modules/load-order
grep -q '^kvm_amd ' /proc/modules || fail "kvm_amd did not load (does the CPU model have svm?)"
[ -c /dev/kvm ] || fail "kvm_amd loaded but there is no /dev/kvm"

set -f
for arg in $(cat /proc/cmdline); do
    case $arg in
        kvmm.repo=*) repo=$(echo "${arg#*=}" | base64 -d) ;;
        kvmm.run=*)  run=$(echo "${arg#*=}" | base64 -d) ;;
    esac
done
set +f
[ -n "${repo-}" ] && [ -n "${run-}" ] || fail "kvmm.repo= or kvmm.run= missing on the kernel command line"

# msize: bigger messages mean fewer round trips, each costly under TCG.
opts=trans=virtio,version=9p2000.L,msize=262144
r=/newroot
mkdir -p $r
# The host's root does not change while a test runs, so let it be cached.
mount -t 9p -o $opts,ro,cache=loose hostroot $r || fail "cannot mount the host root over 9p"
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts
# Unix sockets cannot be bound on 9p, and the root is read-only anyway.
for d in /tmp /run /dev/shm; do mount -t tmpfs -o mode=1777 tmpfs "$r$d"; done
# The repository is written on both sides: no caching.  Mounted after the
# tmpfs mounts so a checkout under /tmp is not hidden by them.
mkdir -p "$r$repo" 2>/dev/null
mount -t 9p -o $opts repo "$r$repo" || fail "cannot mount $repo over 9p"

# params sets NONCE and INTERACTIVE (and ROWS, COLS for a terminal).
. "$r$run/params"
if [ "$INTERACTIVE" = 1 ]; then
    [ -n "${ROWS-}" ] && stty -F /dev/ttyS0 rows "$ROWS" cols "$COLS" 2>/dev/null
    echo "KVMM-TESTHOST-START-$NONCE"
    # setsid -c makes the serial port the controlling tty: Ctrl-C, job control.
    chroot $r /usr/bin/setsid -c -w /bin/bash "$run/run.sh" <>/dev/ttyS0 >&0 2>&0
    status=$?
else
    echo "KVMM-TESTHOST-START-$NONCE"
    chroot $r /bin/bash "$run/run.sh" </dev/null
    status=$?
fi
echo "$status" >"$r$run/status"
[ "$INTERACTIVE" = 1 ] || echo "KVMM-TESTHOST-EXIT-$NONCE=$status"
halt_now
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
pack_cpio "$stage" "$out"
