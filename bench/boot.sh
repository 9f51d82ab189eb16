#!/bin/bash
# bench/boot.sh: boot → init time and VMM memory, kvmm against QEMU.
#
# Boots the test guest (build/guest/vmlinuz-cloud + initramfs-cloud, 256 MiB,
# 2 vCPUs, "console=ttyS0 kvmm.test=info") under kvmm, QEMU q35 and QEMU
# microvm, interleaved (kvmm, q35, microvm, kvmm, ...), BENCH_BOOT_RUNS times
# each (10).  Per boot, bench/boot.py notes the wall-clock time from the
# VMM's start to the guest's KVMM-INIT-OK line on the console, the guest's
# uptime in that line, and the VMM's RSS beyond guest RAM at that moment.
#
# All boots run in one environment: here when this host's /dev/kvm can boot
# Linux (scripts/host-kvm-ok.sh), else inside one test host VM session.
#
# Writes $BENCH_DIR/boot/{results.jsonl,logs/,section.md,goals.md}
# (BENCH_DIR defaults to build/bench) and prints section.md.
# Environment: BENCH_BOOT_RUNS (10), BENCH_BOOT_TIMEOUT seconds per boot
# (150), BENCH_BOOT_STALL seconds without console output, once it has
# started, before the marker, that mark a boot as stalled (45; under the
# emulated test host a few percent of boots stall or reset).  A boot that
# does not reach the marker is retried once, and the retry is reported.
# BENCH_BOOT_BUDGET seconds for all rounds (660): no new round starts when
# the rounds so far suggest it would end past the budget; the report says
# so.  Should the test host session itself end early, a second one runs
# the remaining rounds.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-$ROOT/build/bench}
OUT=$BENCH_DIR/boot
RUNS=${BENCH_BOOT_RUNS:-10}
TIMEOUT=${BENCH_BOOT_TIMEOUT:-150}
STALL=${BENCH_BOOT_STALL:-45}
BUDGET=${BENCH_BOOT_BUDGET:-660}
RAM_MIB=256
CPUS=2
CMDLINE="console=ttyS0 kvmm.test=info"
VMMS=(kvmm qemu-q35 qemu-microvm)

# ---------------------------------------------------------------------------
# Inside the measuring environment.
# ---------------------------------------------------------------------------
inner() {
    OUT=$1
    local work
    work=$(mktemp -d /tmp/kvmm-bench.XXXXXX) || return 2

    # Kernel, initrd and kvmm are read from tmpfs, so that no boot pays for
    # a network file system (the test host mounts the repository uncached).
    cp "$OUT/kvmm" "$work/kvmm" &&
    cp -L build/guest/vmlinuz-cloud "$work/vmlinuz" &&
    cp build/guest/initramfs-cloud.cpio.gz "$work/initrd" || return 2
    # Warm the page cache with QEMU's binary, libraries and firmware blobs,
    # as a first boot would for the next ones.
    local qemu
    qemu=$(command -v qemu-system-x86_64) || { echo "boot bench: no qemu-system-x86_64" >&2; return 2; }
    cat "$qemu" $(ldd "$qemu" | awk '$3 ~ /^\// {print $3}') /usr/share/qemu/* \
        /usr/share/seabios/* >/dev/null 2>&1
    cat "$work/kvmm" "$work/vmlinuz" "$work/initrd" >/dev/null

    [ -s "$OUT/env.txt" ] || {
        echo "kernel: $(uname -r)"
        echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) × $(nproc)"
        echo "kvm: $(for m in kvm_amd kvm_intel kvm_pvm; do [ -d /sys/module/$m ] && printf '%s ' $m; done)"
        echo "qemu: $("$qemu" --version | head -n1)"
        echo "memory: $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo)"
        echo "transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
        echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$OUT/env.txt"

    # The command line that boots the guest under each VMM, NUL-separated.
    local vmm argv specs=()
    for vmm in "${VMMS[@]}"; do
        case $vmm in
            kvmm) argv=("$work/kvmm" run --kernel "$work/vmlinuz" --initrd "$work/initrd"
                        --cpus "$CPUS" --memory "$RAM_MIB" --console stdio --cmdline "$CMDLINE") ;;
            qemu-*)
                argv=("$qemu")
                if [ "$vmm" = qemu-q35 ]; then argv+=(-M q35)
                else argv+=(-M microvm,x-option-roms=off,isa-serial=on,rtc=on); fi
                argv+=(-accel kvm -cpu host -smp "$CPUS" -m "$RAM_MIB"
                       -kernel "$work/vmlinuz" -initrd "$work/initrd" -append "$CMDLINE"
                       -nographic -nodefaults -serial stdio -no-reboot) ;;
        esac
        printf '%s\0' "${argv[@]}" >"$work/argv.$vmm"
        specs+=("$vmm=$work/argv.$vmm")
    done

    # One Python process runs all the rounds: starting an interpreter per
    # boot costs seconds under emulation.
    python3 bench/boot.py series --out "$OUT" --first "$FIRST" --runs "$RUNS" \
        --timeout "$TIMEOUT" --stall "$STALL" --budget "$BUDGET" --ram-mib "$RAM_MIB" \
        -- "${specs[@]}" >>"$OUT/env.txt" || return $?
    echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
    rm -rf "$work"
    return 0
}

# The test host passes on only KVMM_* variables: the settings are arguments.
if [ "${1-}" = --inner ]; then
    [ $# = 7 ] || { echo "usage: $0 --inner OUTDIR FIRST RUNS TIMEOUT STALL BUDGET" >&2; exit 2; }
    FIRST=$3 RUNS=$4 TIMEOUT=$5 STALL=$6 BUDGET=$7
    inner "$2"
    exit $?
fi

# ---------------------------------------------------------------------------
# Outside: pick the environment, run, report.
# ---------------------------------------------------------------------------
[ -x build/kvmm ] || { echo "boot bench: build/kvmm missing (make all)" >&2; exit 2; }
for f in build/guest/vmlinuz-cloud build/guest/initramfs-cloud.cpio.gz; do
    [ -e "$f" ] || { echo "boot bench: $f missing (scripts/build-guest.sh)" >&2; exit 2; }
done
rm -rf "$OUT"
mkdir -p "$OUT/logs"
# Every session boots this copy, whatever happens to build/kvmm meanwhile.
cp build/kvmm "$OUT/kvmm" || exit 2
: >"$OUT/results.jsonl"
: >"$OUT/notes.txt"
host_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if scripts/host-kvm-ok.sh; then
    where="On this host's /dev/kvm"
    echo "boot bench: booting on this host's /dev/kvm" >&2
    run_session() { bash bench/boot.sh --inner "$@"; }
else
    where="Inside one test host VM session (scripts/testhost.sh: QEMU TCG emulating an EPYC CPU with SVM and NPT, 2 vCPUs, 4 GiB; nested KVM with kvm_amd inside), since this host's /dev/kvm (kvm_pvm) cannot boot Linux"
    echo "boot bench: this host's /dev/kvm cannot boot Linux; all boots run inside one test host VM session" >&2
    # The session's time limit: its budget, plus time for the test host to
    # boot and for the last round to finish.
    run_session() { scripts/testhost.sh --timeout $(($6 + 150)) -- bash bench/boot.sh --inner "$@"; }
fi
# Should the session end early (the test host VM itself can fail), one more
# session runs the remaining rounds; the report says so.
rc=0 t0=$SECONDS
for session in 1 2; do
    done_rounds=$(cat "$OUT/rounds_done" 2>/dev/null || echo 0)
    left=$((BUDGET - (SECONDS - t0)))
    [ "$done_rounds" -lt "$RUNS" ] && [ "$left" -gt 90 ] || break
    if [ "$session" = 2 ]; then
        echo "a second session runs the remaining rounds" >>"$OUT/notes.txt"
        [ "$where" = "On this host's /dev/kvm" ] || where=${where/one test host VM session/two test host VM sessions}
    fi
    rc=0
    run_session "$OUT" $((done_rounds + 1)) "$RUNS" "$TIMEOUT" "$STALL" "$left" || rc=$?
    [ "$rc" != 0 ] || break
    msg="the measuring session ended early (status $rc) after round $(cat "$OUT/rounds_done" 2>/dev/null || echo 0); an unfinished round's boots are not counted"
    echo "boot bench: $msg" >&2
    echo "$msg" >>"$OUT/notes.txt"
done
# Complete rounds are a result even when a session failed (the notes say so).
[ -s "$OUT/results.jsonl" ] && rc=0 || { echo "boot bench: no boot was measured" >&2; rc=1; }
host_load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 bench/boot.py report "$OUT/results.jsonl" "$OUT/table.md" "$OUT/goals.md" || rc=1

microvm_ok=$(grep -c '"label": "qemu-microvm", "wall_ms": [0-9]' "$OUT/results.jsonl" 2>/dev/null)
{
    cat <<EOF
## Boot to init: kvmm, QEMU q35, QEMU microvm

**Method.** \`bench/boot.sh\` boots the same guest under each VMM: the
Debian cloud kernel \`$(basename "$(readlink -f build/guest/vmlinuz-cloud)")\` (bzImage) with
\`build/guest/initramfs-cloud.cpio.gz\`, $RAM_MIB MiB, $CPUS vCPUs, command line
\`$CMDLINE\` for all three. The runs are interleaved (kvmm, q35, microvm,
kvmm, …) so that drift in the host's load touches every VMM alike.
Kernel, initrd and the kvmm binary are copied to tmpfs first and QEMU's
files are read once beforehand, so no boot waits on a cold cache.

- kvmm: \`kvmm run --kernel K --initrd I --cpus $CPUS --memory $RAM_MIB --console stdio --cmdline "…"\`
- QEMU q35: \`qemu-system-x86_64 -M q35 -accel kvm -cpu host -smp $CPUS -m $RAM_MIB -kernel K -initrd I -append "…" -nographic -nodefaults -serial stdio -no-reboot\`
- QEMU microvm: the same with \`-M microvm,x-option-roms=off,isa-serial=on,rtc=on\`
  (ISA serial for the ttyS0 console; firmware: QEMU's qboot)

Per boot, \`bench/boot.py\` reads the VMM's console as it streams from a pipe:

- **boot → init**: wall-clock ms from just before the VMM is spawned to the
  arrival of the guest's \`KVMM-INIT-OK\` line (printed by the initramfs
  /init after loading its modules). It covers VMM set-up, firmware (SeaBIOS
  for q35, qboot for microvm, none for kvmm), kernel decompression and the
  kernel's own boot.
- **first console output**: wall-clock ms to the first byte on the console.
- **guest uptime**: the \`uptime=\` the guest prints in that line (its own
  clock, from kernel start).
- **memory**: when the line arrives, \`/proc/PID/status\` (VmRSS) and
  \`/proc/PID/smaps\` are read. Guest RAM is the largest anonymous mapping
  of at least $RAM_MIB MiB; *VMM RSS beyond guest RAM* is the Rss of every
  other mapping (binary, libraries, heap, stacks, and for QEMU its ROM, BIOS
  and other RAM blocks), split into anonymous and file-backed pages.
- The VMM is killed right after that sample: the rest of the guest's run
  and the VMM's shutdown are not measured (under emulation every further
  guest process costs seconds). *Guest CPUs up* is from the kernel's
  \`smp: Brought up N nodes, M CPUs\` line. Console logs are checked for
  \`WARNING\` and \`Call Trace\`.
- A boot that does not reach the marker (silent for ${STALL} s once its
  console has started: stalled; over ${TIMEOUT} s: timed out; or the VMM
  exits first) is retried once; both attempts are in the table's counts
  and listed under the notes.

**Where.** $where. Absolute times there are bound by the emulation
(under nested SVM in a TCG-emulated CPU every guest instruction is
emulated) and by the machine's other load; compare the ratios, which come
from runs side by side in one session.

$(sed 's/^/    /' "$OUT/env.txt" 2>/dev/null)
    host loadavg (outside) before/after: $host_load_before / $host_load_after

**Results** ($(date -u +%Y-%m-%d)):

$(cat "$OUT/table.md")
EOF
    if [ "${microvm_ok:-0}" = 0 ]; then
        echo
        echo "QEMU microvm did not reach init: $(grep -m1 '^qemu-microvm round' "$OUT/notes.txt" || echo 'see build/bench/boot/logs')"
    fi
    if [ -s "$OUT/notes.txt" ]; then
        echo
        echo "Notes from the run:"
        echo
        sed 's/^/- /' "$OUT/notes.txt"
    fi
} >"$OUT/section.md"
cat "$OUT/section.md"
exit "$rc"
