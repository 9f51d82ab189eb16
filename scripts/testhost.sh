#!/bin/bash
# shellcheck disable=SC2054  # the commas in QEMU options are meant
# testhost.sh [--timeout SECS] [--interactive] -- COMMAND [ARGS...]
#
# Run COMMAND inside the test host VM: QEMU (TCG, emulated AMD CPU with SVM)
# booting the generic Debian kernel with kvm_amd, so /dev/kvm inside is real
# nested KVM even where the host's own /dev/kvm cannot boot Linux (kvm_pvm).
# Inside, the host's / is mounted read-only, the repository read-write (same
# paths), /tmp, /run and /dev/shm are tmpfs; COMMAND runs as root in the
# caller's working directory.  Exits with COMMAND's status, 124 on timeout,
# 125 when the test host itself fails.
#
# COMMAND's stdout and stderr both arrive on our stdout (one serial console).
# KVMM_TESTHOST_LOGLEVEL (default 0) sets the test host kernel's console
# log level, to see its own messages while diagnosing it.
# --timeout SECS   kill the VM after SECS (default 600; 0 = none, the default
#                  with --interactive)
# --interactive    connect this terminal to COMMAND (Ctrl-] x kills the VM)
set -euo pipefail

usage() { echo "usage: $0 [--timeout SECS] [--interactive] -- COMMAND [ARGS...]" >&2; exit 2; }
secs='' interactive=0
while [ $# -gt 0 ]; do
    case $1 in
        --timeout) [ $# -ge 2 ] || usage; secs=$2; shift 2 ;;
        --timeout=*) secs=${1#*=}; shift ;;
        --interactive) interactive=1; shift ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[ $# -ge 1 ] || usage
[ -n "$secs" ] || { [ $interactive = 1 ] && secs=0 || secs=600; }
[[ $secs =~ ^[0-9]+$ ]] || usage

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=initramfs-lib.sh
. "$here/initramfs-lib.sh"

kver=$(newest_kernel generic)
if [ -z "$kver" ]; then
    echo "testhost: no generic kernel in /boot (install linux-image-amd64)" >&2
    exit 125
fi

# The image is cached per kernel version and rebuilt when its inputs change;
# the lock keeps parallel runs from building it twice at once.
cache=$repo/build/testhost
mkdir -p "$cache"
img=$cache/initramfs-$kver.cpio.gz
(
    flock 9
    if [ ! -f "$img" ] || [ -n "$(find "$here/mktesthost.sh" "$here/initramfs-lib.sh" \
            /bin/busybox "/lib/modules/$kver/modules.dep" -newer "$img")" ]; then
        rm -f "$cache"/initramfs-*.cpio.gz "$cache"/vmlinux-*
        bash "$here/mktesthost.sh" "$img" "$kver" >&2
        extract_vmlinux "/boot/vmlinuz-$kver" "$cache/vmlinux-$kver" || true
    fi
) 9>"$cache/.lock"
# The bare ELF kernel boots faster (PVH entry, no decompression); the bzImage
# is the fallback when it could not be extracted.
kernel=$cache/vmlinux-$kver
[ -f "$kernel" ] || kernel=/boot/vmlinuz-$kver

# The run folder is in the repository, which the test host mounts: it carries
# the command in and the exit status (interactive mode) out.
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
# A random nonce keeps command output that happens to contain a marker from
# being taken for one.
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
{
    echo "NONCE=$nonce"
    echo "INTERACTIVE=$interactive"
    if [ $interactive = 1 ] && size=$(stty size 2>/dev/null); then
        echo "ROWS=${size% *}"
        echo "COLS=${size#* }"
    fi
} >"$run/params"
{
    printf 'cd -- %q || exit 125\n' "$PWD"
    for v in PATH TERM LANG LC_ALL $(compgen -A variable KVMM_ || true); do
        [ -z "${!v+set}" ] || printf 'export %s=%q\n' "$v" "${!v}"
    done
    echo 'export HOME=/tmp  # the real home is on the read-only root'
    echo 'export KVMM_IN_TESTHOST=1'
    printf 'exec'; printf ' %q' "$@"; echo
} >"$run/run.sh"

b64() { printf %s "$1" | base64 -w0; }
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu EPYC,+svm,+npt -smp 2 -m 4G
      -M q35 -nic none -no-reboot -display none -vga none
      -kernel "$kernel" -initrd "$img"
      -append "console=ttyS0 quiet loglevel=${KVMM_TESTHOST_LOGLEVEL:-0} panic=-1 kvmm.repo=$(b64 "$repo") kvmm.run=$(b64 "$run")"
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
      -virtfs "local,path=${repo//,/,,},mount_tag=repo,security_model=none,multidevs=remap")
tmo=()
if [ $interactive = 1 ]; then
    # signal=off sends Ctrl-C to the guest; the outer escape is moved off
    # Ctrl-A so that an inner QEMU's Ctrl-A still works.
    qemu+=(-chardev stdio,id=con,mux=on,signal=off -serial chardev:con -mon chardev=con -echr 0x1d)
    # --foreground: QEMU must stay in the terminal's process group to set raw mode.
    [ "$secs" = 0 ] || tmo=(timeout --foreground -k 5 "$secs")
else
    qemu+=(-chardev stdio,id=con -serial chardev:con -monitor none)
    [ "$secs" = 0 ] || tmo=(timeout -k 5 "$secs")
fi

# console_filter: read the test host's console on stdin.  Boot noise before
# the start marker only goes to the log.  After it, interactive mode passes
# bytes straight through (a prompt has no newline); otherwise lines are
# forwarded until the exit marker, whose status is kept in $run/status.
# Plain bash, not awk: mawk waits to fill its input buffer before acting.
console_filter() {
    local line rest marker="KVMM-TESTHOST-EXIT-$nonce="
    exec 3>>"$run/console"
    while IFS= read -r line; do
        line=${line//$'\r'/}
        echo "$line" >&3
        case $line in
            *"KVMM-TESTHOST-START-$nonce"*) break ;;
            *"KVMM-TESTHOST-FAIL "*) echo "${line#*KVMM-TESTHOST-FAIL }" >"$run/fail" ;;
        esac
    done
    [ $interactive = 0 ] || exec cat
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line//$'\r'/}
        case $line in
            *"$marker"*)
                # The marker may follow output that did not end in a newline.
                rest=${line%%"$marker"*}
                [ -z "$rest" ] || printf '%s\n' "$rest"
                rest=${line#*"$marker"}
                echo "${rest%%[!0-9]*}" >"$run/status"
                # Keep draining so the VM powers off without write errors.
                cat >/dev/null
                return ;;
        esac
        printf '%s\n' "$line"
    done
}

# QEMU runs in the background so that Ctrl-C or a kill of this script,
# which bash only acts on between commands, can stop it at once.
mkfifo "$run/console.fifo"
console_filter <"$run/console.fifo" &
fpid=$!
saved=
if [ $interactive = 1 ]; then
    saved=$(stty -g 2>/dev/null) || true
    "${tmo[@]}" "${qemu[@]}" <&0 >"$run/console.fifo" 2>"$run/qemu.err" &
else
    "${tmo[@]}" "${qemu[@]}" </dev/null >"$run/console.fifo" 2>"$run/qemu.err" &
fi
qpid=$! stopped=0
trap 'stopped=1; kill -TERM $qpid 2>/dev/null' INT TERM
while :; do
    rc=0
    wait $qpid || rc=$?
    kill -0 $qpid 2>/dev/null || break   # else wait was cut short by a signal
done
wait $fpid || true
[ -z "$saved" ] || stty "$saved"
[ $stopped = 0 ] || exit 130

if [ -s "$run/status" ]; then
    exit "$(cat "$run/status")"
elif [ -s "$run/fail" ]; then
    echo "testhost: $(cat "$run/fail")" >&2
    exit 125
elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "testhost: timed out after ${secs}s" >&2
    exit 124
fi
echo "testhost: the test host stopped without an exit status (qemu status $rc); last output:" >&2
tail -n 15 "$run/console" "$run/qemu.err" >&2 2>/dev/null
exit 125
