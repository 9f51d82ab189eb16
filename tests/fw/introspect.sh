#!/bin/bash
# Introspection payload tests on this host's /dev/kvm: the system call
# entry trapped by a hardware breakpoint (full mode), deny at the entry,
# patched probes and breakpoints on a handler with deny by -EPERM
# (targeted mode), and tampering with LSTAR and the text.  Each asserts the
# payload's own verdict (exit status) and the audit log kvmm wrote.
#
# Prints "PASS name" / "FAIL name: reason", an "INFO" line with the trap
# cost per system call, and "N passed, N failed" last.
# Environment: KVMM (default build/kvmm), FW_TIMEOUT seconds per run (60).
set -u

cd "$(dirname "$0")/../.." || exit 2
KVMM=${KVMM:-build/kvmm}
FW=${FW_DIR:-build/firmware}
TIMEOUT=${FW_TIMEOUT:-60}

tmp=$(mktemp -d /tmp/kvmm-isp.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# run NAME PAYLOAD INTROSPECT-JSON [kvmm run arguments...]: sets rc, err, log
run() {
    local name=$1 payload=$2 json=$3
    shift 3
    err=$tmp/$name.stderr
    log=$tmp/$name.audit
    json=${json//@LOG@/$log}
    json=${json//@PROFILE@/$tmp/$payload.profile}
    timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$FW/$payload.elf" --memory 64 --console none \
        --introspect "$json" "$@" >/dev/null 2>"$err" </dev/null
    rc=$?
}

ok_run() {
    if [ "$rc" -ne 0 ]; then
        fail "$1" "exit status $rc; stderr: $(tail -n 3 "$err" | tr '\n' '|')"
        return 1
    fi
}

# expect_log NAME COUNT PATTERN: the audit log has COUNT lines matching
expect_log() {
    local n

    n=$(grep -c -- "$3" "$log" 2>/dev/null)
    if [ "${n:-0}" -ne "$2" ]; then
        fail "$1" "audit log has ${n:-0} lines with '$3', expected $2: $(head -c 300 "$log" 2>/dev/null)"
        return 1
    fi
}

profile() {
    "$KVMM" profile --kernel "$FW/$1.elf" -o "$tmp/$1.profile" 2>"$tmp/$1.profile.err" ||
        fail "profile_$1" "$(cat "$tmp/$1.profile.err")"
}

test_full_mode() {
    run full_mode isp_syscall \
        '{"mode":"full","profile":"@PROFILE@","audit_log":"@LOG@","policy":{"audit":"all"}}' \
        --param count=10
    ok_run full_mode || return
    expect_log full_mode 10 '"syscall":"getpid","via":"entry"' || return
    expect_log full_mode 1 '"path":"/bin/denied","argv":\["/bin/denied","--now"\],"verdict":"log"' || return
    expect_log full_mode 1 '"event":"kernel_text_measured"' || return
    pass full_mode
}

test_full_mode_deny() {
    run full_mode_deny isp_syscall \
        '{"mode":"full","profile":"@PROFILE@","audit_log":"@LOG@","policy":{"rules":[{"path":"/bin/denied*","action":"deny"}]}}' \
        --param count=3 --param expect_deny=1
    ok_run full_mode_deny || return
    expect_log full_mode_deny 0 '"getpid"' || return
    expect_log full_mode_deny 1 '"syscall":"execve".*"verdict":"deny"' || return
    pass full_mode_deny
}

# test_handler NAME TRAP PATCHED
test_handler() {
    run "$1" isp_probe \
        "{\"trap\":\"$2\",\"profile\":\"@PROFILE@\",\"audit_log\":\"@LOG@\",\"policy\":{\"rules\":[{\"path\":\"/bin/denied*\",\"action\":\"deny\"}]}}" \
        --param count=4 --param "expect_patched=$3"
    ok_run "$1" || return
    expect_log "$1" 1 "\"symbol\":\"__x64_sys_execve\",\"address\":\"0x[0-9a-f]*\",\"trap\":\"$2\"" || return
    expect_log "$1" 4 '"via":"handler","path":"/bin/ok","argv":\["/bin/ok","-v"\],"verdict":"log"' || return
    expect_log "$1" 1 '"via":"handler","path":"/bin/denied","argv":\["/bin/denied"\],"verdict":"deny"' || return
    pass "$1"
}

# test_tamper NAME ACTION BLOCKED
test_tamper() {
    run "$1" isp_tamper \
        "{\"mode\":\"full\",\"on_tamper\":\"$2\",\"profile\":\"@PROFILE@\",\"audit_log\":\"@LOG@\",\"policy\":{\"audit\":[]}}" \
        --param "blocked=$3"
    ok_run "$1" || return
    expect_log "$1" 1 "\"msr\":\"LSTAR\",\"old\":\"0x[0-9a-f]*\",\"value\":\"0x[0-9a-f]*\",\"action\":\"$2\",\"event\":\"msr_tamper\"" || return
    expect_log "$1" 1 '"event":"kernel_text_changed"' || return
    pass "$1"
}

# Executables hashed host-side from an ext4 image against an allowlist
# made by `kvmm allowlist`: /bin/ok is listed, /bin/denied (not executable
# when the list was made) is not, so it is denied.
test_allowlist() {
    local root=$tmp/root img=$tmp/root.img list=$tmp/allow.json

    mkdir -p "$root/bin" && printf 'ok\n' >"$root/bin/ok" && printf 'no\n' >"$root/bin/denied" &&
        chmod 755 "$root/bin/ok" && chmod 644 "$root/bin/denied"
    if ! mkfs.ext4 -q -F -d "$root" "$img" 4M >"$tmp/mkfs.log" 2>&1; then
        fail allowlist "mkfs.ext4 -d failed: $(head -c 200 "$tmp/mkfs.log")"
        return
    fi
    if ! "$KVMM" allowlist "$img" -o "$list" 2>"$tmp/allow.err"; then
        fail allowlist "kvmm allowlist: $(cat "$tmp/allow.err")"
        return
    fi
    if ! grep -q "\"sha256\":.*\"$(sha256sum <"$root/bin/ok" | cut -d' ' -f1)\"" "$list" ||
       grep -q '/bin/denied' "$list"; then
        fail allowlist "allowlist lacks /bin/ok's hash or lists /bin/denied: $(tr -d '\n\t' <"$list")"
        return
    fi
    run allowlist isp_probe \
        "{\"image\":\"$img\",\"profile\":\"@PROFILE@\",\"audit_log\":\"@LOG@\",\"policy\":{\"allowlist\":\"$list\",\"unlisted\":\"deny\"}}" \
        --param count=2
    ok_run allowlist || return
    expect_log allowlist 2 '"path":"/bin/ok",.*"sha256":"[0-9a-f]\{64\}","verdict":"log"' || return
    expect_log allowlist 1 '"path":"/bin/denied",.*"verdict":"deny"' || return
    pass allowlist
}

# Action pause: the VM stops at the call until `cont` on the control
# socket; the call then runs.
test_pause() {
    local sock=$tmp/ctl.sock st="" i

    log=$tmp/pause.audit
    err=$tmp/pause.stderr
    timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$FW/isp_probe.elf" --memory 64 --console none \
        --control "$sock" --param count=1 --param runs_denied=1 \
        --introspect "{\"profile\":\"$tmp/isp_probe.profile\",\"audit_log\":\"$log\",\"policy\":{\"rules\":[{\"path\":\"/bin/denied\",\"action\":\"pause\"}]}}" \
        >/dev/null 2>"$err" </dev/null &
    local pid=$!
    for i in $(seq 1 100); do
        st=$("$KVMM" ctl "$sock" query-status 2>/dev/null | grep '^status:')
        [ "$st" = "status: paused" ] && break
        sleep 0.1
    done
    if [ "$st" != "status: paused" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid"
        fail pause "the VM did not pause (last status '$st'); stderr: $(tail -n 3 "$err" | tr '\n' '|')"
        return
    fi
    "$KVMM" ctl "$sock" cont >/dev/null 2>&1
    wait "$pid"
    rc=$?
    ok_run pause || return
    expect_log pause 1 '"path":"/bin/denied",.*"verdict":"pause"' || return
    pass pause
}

# Wall time of a run with N system calls, in microseconds; CFG "" runs
# without introspection.
time_run() {
    local t0 t1 args=()

    [ -n "$3" ] && args=(--introspect "${3//@PROFILE@/$tmp/isp_syscall.profile}")
    t0=$(date +%s%N)
    timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$FW/isp_syscall.elf" --memory 64 \
        --console none --param "count=$2" "${args[@]}" >/dev/null 2>&1 </dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

# Cost of one trapped call: the extra time N calls take with full-mode
# introspection (no records: only execve audited) over the same calls
# without it, per call; each of the four timings is the best of three.
# Informative: the host's cores are shared.
measure_overhead() {
    local cfg='{"mode":"full","profile":"@PROFILE@","policy":{"audit":["execve"]}}'
    local n=10000 p0=0 p1=0 t0=0 t1=0 i d

    min() { if [ "$1" -eq 0 ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
    for i in 1 2 3; do
        p0=$(min "$p0" "$(time_run "$i" 0 "")")
        p1=$(min "$p1" "$(time_run "$i" "$n" "")")
        t0=$(min "$t0" "$(time_run "$i" 0 "$cfg")")
        t1=$(min "$t1" "$(time_run "$i" "$n" "$cfg")")
    done
    d=$((((t1 - t0) - (p1 - p0)) * 1000 / n))
    [ "$d" -lt 0 ] && d=0
    echo "INFO introspect: full-mode trap costs $((d / 1000)).$(printf %03d $((d % 1000))) us per system call ($n calls: $((t1 - t0)) us trapped, $((p1 - p0)) us plain)"
}

# The task that made a call and the file behind a descriptor, read through
# the member offsets a profile holds (a real one has them from the
# kernel's BTF; these match the layout isp_task builds).
test_task() {
    local p=$tmp/isp_task.profile
    python3 - "$p" <<'PY' || { fail task "cannot add offsets to the profile"; return; }
import json, sys
p = json.load(open(sys.argv[1]))
p["offsets"] = {"task_struct.pid": 16, "task_struct.tgid": 20, "task_struct.comm": 32,
                "task_struct.files": 64, "files_struct.fdt": 8, "fdtable.max_fds": 0,
                "fdtable.fd": 8, "file.f_path": 16, "path.dentry": 8,
                "dentry.d_parent": 24, "dentry.d_name": 32, "qstr.name": 8}
json.dump(p, open(sys.argv[1], "w"))
PY
    run task isp_task '{"profile":"@PROFILE@","audit_log":"@LOG@"}'
    ok_run task || return
    expect_log task 1 '"fd":3,"path":"/mod/crc7.ko","verdict":"log","pid":76,"tid":77,"comm":"isp_task"' || return
    expect_log task 1 '"fd":9,"path_error":"Bad file descriptor","verdict":"log","pid":76' || return
    expect_log task 1 '"fd":2,"path_error":"Too many levels of symbolic links","verdict":"log"' || return
    pass task
}

if [ ! -x "$KVMM" ]; then
    fail introspect_setup "$KVMM is missing"
elif [ ! -f "$FW/isp_syscall.elf" ] || [ ! -f "$FW/isp_probe.elf" ] || [ ! -f "$FW/isp_tamper.elf" ] ||
     [ ! -f "$FW/isp_task.elf" ]; then
    fail introspect_setup "payloads not built (make firmware)"
else
    profile isp_syscall
    profile isp_probe
    profile isp_tamper
    profile isp_task
    test_full_mode
    test_full_mode_deny
    test_handler handler_probe probe 1
    test_handler handler_breakpoint breakpoint 0
    test_tamper tamper_log log 0
    test_tamper tamper_block block 1
    test_allowlist
    test_pause
    test_task
    measure_overhead
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
