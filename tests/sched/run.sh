#!/bin/bash
# Scheduling on this host's /dev/kvm with the never-ending firmware
# workload (firmware/work.c): threads in the right cgroup v1 groups with
# the right cpu.shares, CPU affinity applied, groups removed on exit and,
# after kill -9, at the next start; adaptive classes in the trace;
# co-scheduling on without stalling the guest; clear errors.
# Needs root and a writable v1 cpu hierarchy (else every test is a FAIL
# that says so).  Prints "PASS name" / "FAIL name: reason".
set -u
cd "$(dirname "$0")/../.." || exit 2
KVMM=${KVMM:-build/kvmm}
ELF=$PWD/build/firmware/work.elf
CG=/sys/fs/cgroup
PARENT=kvmm-test-$$

tmp=$(mktemp -d /tmp/kvmm-sched.XXXXXX) || exit 2
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    sleep 0.3
    for h in cpu cpuset; do
        find "$CG/$h/$PARENT" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if [ ! -w "$CG/cpu" ] || [ ! -f "$CG/cpu/cpu.shares" ]; then
    for t in sched-cgroup-v1 sched-affinity sched-exit-cleanup sched-stale-cleanup; do
        fail "$t" "needs root and a writable cgroup v1 cpu hierarchy at $CG/cpu"
    done
    exit 0
fi
mkdir -p "$CG/cpu/$PARENT" "$CG/cpuset/$PARENT"
cat "$CG/cpuset/cpuset.cpus" >"$CG/cpuset/$PARENT/cpuset.cpus"
cat "$CG/cpuset/cpuset.mems" >"$CG/cpuset/$PARENT/cpuset.mems"

# spec NAME IO SCHED_JSON: writes $tmp/NAME.json.  Console lines are
# exits too: the computing workload prints rarely.
spec() {
    local chunk=$([ "$2" = 1 ] && echo 500 || echo 200000)
    cat >"$tmp/$1.json" <<JSON
{"name": "$1", "kernel": "$ELF", "vcpus": 2, "memory_mib": 32,
 "console": "file:$tmp/$1.con", "params": {"io": "$2", "chunk": "$chunk"},
 "sched": $3}
JSON
}

# start NAME: kvmm in the background; sets pid
start() {
    : >"$tmp/$1.con"
    KVMM_SCHED_TRACE=$tmp/$1.trace "$KVMM" run "$tmp/$1.json" 2>"$tmp/$1.err" </dev/null &
    pid=$!
    pids+=("$pid")
}

# progress NAME: waits until the guest printed a few lines
progress() {
    for _ in $(seq 100); do
        [ "$(grep -c '^p ' "$tmp/$1.con" 2>/dev/null)" -ge 2 ] && return 0
        sleep 0.1
    done
    return 1
}

tid_of() {   # tid_of PID COMM
    for t in /proc/"$1"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] && { basename "$t"; return; }
    done
}

spec a 0 '{"cgroup_parent": "'$PARENT'", "weight": 200, "vcpu_weights": [200, 50],
           "io_weight": 400, "vcpu_affinity": [[1], [0]], "io_affinity": [0]}'
start a
if ! progress a; then
    fail sched-cgroup-v1 "guest made no progress: $(tail -2 "$tmp/a.err" | tr '\n' ' ')"
else
    g=$CG/cpu/$PARENT/kvmm-$pid/a
    v0=$(tid_of "$pid" vcpu0); v1=$(tid_of "$pid" vcpu1); io=$(tid_of "$pid" io-a)
    why=""
    grep -qx "$v0" "$g/vcpu0/tasks" || why+="vcpu0 $v0 not in $g/vcpu0/tasks; "
    grep -qx "$v1" "$g/vcpu1/tasks" || why+="vcpu1 not in its group; "
    grep -qx "$io" "$g/io/tasks" || why+="I/O thread not in its group; "
    grep -qx "$v0" "$CG/cpuset/$PARENT/kvmm-$pid/a/vcpu0/tasks" || why+="vcpu0 not in cpuset; "
    # weights 200, 50, 400 -> shares 2452, 421, 5785
    [ "$(cat "$g/vcpu0/cpu.shares")" = 2452 ] || why+="vcpu0 shares $(cat "$g/vcpu0/cpu.shares"); "
    [ "$(cat "$g/vcpu1/cpu.shares")" = 421 ] || why+="vcpu1 shares $(cat "$g/vcpu1/cpu.shares"); "
    [ "$(cat "$g/io/cpu.shares")" = 5785 ] || why+="io shares $(cat "$g/io/cpu.shares"); "
    [ -z "$why" ] && pass sched-cgroup-v1 || fail sched-cgroup-v1 "$why"
    why=""
    grep -q "Cpus_allowed_list:.1$" "/proc/$pid/task/$v0/status" || why+="vcpu0 not on CPU 1; "
    grep -q "Cpus_allowed_list:.0$" "/proc/$pid/task/$io/status" || why+="I/O thread not on CPU 0; "
    [ "$(cat "$CG/cpuset/$PARENT/kvmm-$pid/a/vcpu0/cpuset.cpus")" = 1 ] || why+="cpuset.cpus; "
    [ -z "$why" ] && pass sched-affinity || fail sched-affinity "$why"
fi
kill -TERM "$pid"; wait "$pid" 2>/dev/null
if [ -e "$CG/cpu/$PARENT/kvmm-$pid" ] || [ -e "$CG/cpuset/$PARENT/kvmm-$pid" ]; then
    fail sched-exit-cleanup "kvmm-$pid left behind after exit"
else
    pass sched-exit-cleanup
fi

# kill -9 leaves the groups; the next start removes them
start a
progress a
old=$pid
kill -9 "$old"; wait "$old" 2>/dev/null
if [ ! -d "$CG/cpu/$PARENT/kvmm-$old" ]; then
    fail sched-stale-cleanup "no group left after kill -9 (nothing to test)"
else
    start a
    progress a
    if [ -e "$CG/cpu/$PARENT/kvmm-$old" ] || [ -e "$CG/cpuset/$PARENT/kvmm-$old" ]; then
        fail sched-stale-cleanup "kvmm-$old still there after the next start"
    else
        pass sched-stale-cleanup
    fi
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
fi

# adaptive: an exit-heavy vCPU is classified io and gains weight; a
# computing one is cpu and loses weight
for mode in io cpu; do
    spec "ad$mode" "$([ $mode = io ] && echo 1 || echo 0)" \
        '{"cgroup_parent": "'$PARENT'", "adaptive": {"enabled": true, "period_ms": 50}}'
    start "ad$mode"
    progress "ad$mode"
    sleep 1.5
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    last=$(grep '"thread":"vcpu0"' "$tmp/ad$mode.trace" | tail -1)
    want=$([ $mode = io ] && echo 400 || echo 50)
    if grep -q "\"class\":\"$mode\",\"weight\":$want," <<<"$last"; then
        pass "sched-adaptive-$mode"
    else
        fail "sched-adaptive-$mode" "last sample: $last"
    fi
done

# co-scheduling on: the guest keeps running and the skew is sampled; the
# boosts put its threads in groups
spec co 1 '{"coschedule": {"enabled": true, "max_skew_ms": 5}}'
start co
if progress co; then
    n1=$(grep -c '^p ' "$tmp/co.con"); sleep 1; n2=$(grep -c '^p ' "$tmp/co.con")
    grp=$(grep -o 'kvmm-[0-9]*/co/vcpu0' /proc/"$pid"/task/"$(tid_of "$pid" vcpu0)"/cgroup | head -1)
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    if [ "$n2" -le "$n1" ]; then
        fail sched-coschedule-runs "stalled at $n1"
    elif [ -z "$grp" ]; then
        fail sched-coschedule-runs "vcpu0 not in kvmm-<pid>/co/vcpu0 (for boosts)"
    else
        pass sched-coschedule-runs
    fi
else
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    fail sched-coschedule-runs "no progress"
fi

# co-scheduling for a user who cannot write the cgroups: one warning, the
# guest runs (holds only)
kvm_gid=$(stat -c %g /dev/kvm)
mkdir -p "$tmp/user" && chmod 755 "$tmp" && chmod 777 "$tmp/user"
cat >"$tmp/user/co.json" <<JSON
{"name": "co", "kernel": "$ELF", "vcpus": 2, "memory_mib": 32,
 "console": "file:$tmp/user/co.con", "params": {"io": "1", "chunk": "500"},
 "sched": {"coschedule": {"enabled": true}}}
JSON
timeout 2 setpriv --reuid=65534 --regid=65534 --groups="$kvm_gid" \
    "$KVMM" run "$tmp/user/co.json" 2>"$tmp/user/co.err" </dev/null
rc=$?
if [ $rc = 124 ] && [ "$(grep -c '^p ' "$tmp/user/co.con" 2>/dev/null)" -ge 2 ] &&
   grep -q "co-scheduling without catch-up boosts (holds only): cannot create cgroup" "$tmp/user/co.err"; then
    pass sched-coschedule-no-cgroups
else
    fail sched-coschedule-no-cgroups "rc=$rc: $(head -c 300 "$tmp/user/co.err" | tr '\n' ' ')"
fi

# errors: a parent that does not exist, a v2 tree without cpu
spec e1 0 '{"cgroup_parent": "no-such-parent-'$$'", "weight": 100}'
"$KVMM" run "$tmp/e1.json" >/dev/null 2>"$tmp/e1.err" </dev/null
rc=$?
if [ $rc = 1 ] && grep -q "cgroup parent .*no-such-parent-$$ does not exist" "$tmp/e1.err"; then
    pass sched-error-parent
else
    fail sched-error-parent "rc=$rc: $(tr '\n' ' ' <"$tmp/e1.err")"
fi
mkdir -p "$tmp/fake2" && echo "memory pids" >"$tmp/fake2/cgroup.controllers"
spec e2 0 '{"cgroup_root": "'$tmp/fake2'", "weight": 100}'
"$KVMM" run "$tmp/e2.json" >/dev/null 2>"$tmp/e2.err" </dev/null
rc=$?
if [ $rc = 1 ] && grep -q "has no cpu controller" "$tmp/e2.err"; then
    pass sched-error-no-cpu-controller
else
    fail sched-error-no-cpu-controller "rc=$rc: $(tr '\n' ' ' <"$tmp/e2.err")"
fi
