#!/bin/bash
# mkinitramfs.sh KVER OUT.cpio.gz
# Build the test guest's initramfs: busybox-static, the virtio modules of
# kernel KVER, the static test programs of build/guest (made by
# build-guest.sh: /bin/barrier), and an /init that prints markers a test
# can wait for.
# What /init does is chosen on the kernel command line:
#   (nothing)             interactive shell on the console, power off on exit
#   kvmm.test=info        print NPROC=, DATE=, KVMM-TEST-DONE, power off
#   kvmm.test=reboot      print KVMM-REBOOTING, reboot
#   kvmm.test=script kvmm.cmd=<base64 shell script>
#                         run the script, print KVMM-CMD-EXIT=<status>, power off
# In every mode the ACPI power button powers the guest off.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 KVER OUT.cpio.gz" >&2
    exit 2
fi
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=initramfs-lib.sh
. "$here/initramfs-lib.sh"

if [ ! -f "/lib/modules/$kver/modules.dep" ]; then
    echo "$0: no modules for kernel $kver in /lib/modules" >&2
    exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

stage_busybox "$stage"
# Whichever of these the kernel builds as modules; built-in ones need nothing.
stage_modules "$kver" "$stage" virtio virtio_ring virtio_pci virtio_pci_modern_dev \
    virtio_pci_legacy_dev virtio_blk virtio_net net_failover failover \
    virtio_balloon virtio_console virtio_rng button evdev
echo "$kver" >"$stage/etc/kvmm-guest"
for prog in barrier; do
    if [ -x "$here/../build/guest/$prog" ]; then
        cp "$here/../build/guest/$prog" "$stage/bin/$prog"
    else
        echo "$0: build/guest/$prog missing (scripts/build-guest.sh builds it): not in the image" >&2
    fi
done

cat >"$stage/init" <<'EOF'
#!/bin/sh
# Test guest init.  The wall clock is left alone on purpose: the kernel
# reads it from the CMOS RTC, and DATE= checks that the VMM provides one.
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

while read -r m; do insmod "$m" 2>/dev/null; done </lib/modules/load-order

read -r up _ </proc/uptime
echo "KVMM-INIT-OK uptime=$up"

# The guest's answer to the ACPI power button (what acpid or logind do on a
# distribution): one event from the "Power Button" input device powers off.
for ev in /sys/class/input/event*; do
    if [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ]; then
        ( dd if="/dev/input/${ev##*/}" bs=24 count=1 >/dev/null 2>&1
          echo "KVMM-POWER-BUTTON"; sync; poweroff -f ) &
        break
    fi
done

# Dotted parameters are not passed to init, so read them from /proc/cmdline.
set -f
for arg in $(cat /proc/cmdline); do
    case $arg in
        kvmm.test=*) test=${arg#kvmm.test=} ;;
        kvmm.cmd=*)  cmd=${arg#kvmm.cmd=} ;;
    esac
done
set +f

if [ -z "${test+set}" ]; then
    export PS1='kvmm-guest# '
    # cttyhack finds the real console tty so the shell gets job control.
    setsid cttyhack sh
else
    case $test in
        info)
            echo "NPROC=$(nproc)"
            echo "DATE=$(date -u +%Y-%m-%d)"
            echo "KVMM-TEST-DONE" ;;
        reboot)
            echo "KVMM-REBOOTING"
            reboot -f ;;
        script)
            if echo "${cmd-}" | base64 -d >/tmp/kvmm-cmd.sh 2>/dev/null && [ -n "${cmd-}" ]; then
                sh /tmp/kvmm-cmd.sh
                echo "KVMM-CMD-EXIT=$?"
            else
                echo "kvmm.cmd missing or not base64"
                echo "KVMM-CMD-EXIT=2"
            fi ;;
        *)
            echo "KVMM-UNKNOWN-TEST" ;;
    esac
fi
sync
poweroff -f
# Only reached if the machine cannot power off; init must not exit.
while :; do sleep 3600; done
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
pack_cpio "$stage" "$out"
