#!/usr/bin/env python3
"""Sampler for the scheduling experiments (cosched.sh, infer.sh).

    sample.py PID CONSOLE STOP_REGEX OUT_PREFIX [--interval MS] [--timeout S]
              [--vcpus N]

Until a console line matches STOP_REGEX (or the timeout): every INTERVAL
ms (default 10) reads the schedstat (time on a CPU, time waiting for one) of kvmm
process PID's vCPU threads (waiting until N of them exist, default 1),
and stamps each new console line.  Times are
CLOCK_MONOTONIC in ms, the clock of KVMM_SCHED_TRACE's t_ms.
Writes OUT_PREFIX.stat ("t_ms run0_ms delay0_ms run1_ms delay1_ms ...")
and OUT_PREFIX.lines ("t_ms line").  Exit status 1 on timeout."""
import os
import re
import sys
import time


def vcpu_tasks(pid):
    tasks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except OSError:
            continue
        m = re.fullmatch(r"vcpu(\d+)", name)
        if m:
            tasks[int(m.group(1))] = "/proc/%d/task/%s/schedstat" % (pid, tid)
    return [tasks[i] for i in sorted(tasks)]


def main():
    args = sys.argv[1:]
    interval, timeout, nvcpus = 10.0, 600.0, 1
    if "--interval" in args:
        i = args.index("--interval")
        interval = float(args[i + 1])
        del args[i:i + 2]
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    if "--vcpus" in args:
        i = args.index("--vcpus")
        nvcpus = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 4:
        sys.exit(__doc__)
    pid, console, stop, prefix = int(args[0]), args[1], re.compile(args[2]), args[3]
    paths, end = [], time.monotonic() + timeout
    while len(paths) < nvcpus and time.monotonic() < end:
        try:
            paths = vcpu_tasks(pid)
        except OSError:
            return 1        # kvmm is gone
        time.sleep(0.05)
    con = open(console, errors="replace")
    stat_out = open(prefix + ".stat", "w")
    lines_out = open(prefix + ".lines", "w")
    partial = ""
    while time.monotonic() < end:
        t_ms = time.monotonic() * 1000.0
        row = ["%.1f" % t_ms]
        try:
            for p in paths:
                with open(p) as f:
                    run, delay = f.read().split()[:2]
                row += ["%.3f" % (int(run) / 1e6), "%.3f" % (int(delay) / 1e6)]
        except OSError:
            return 1        # kvmm is gone
        stat_out.write(" ".join(row) + "\n")
        partial += con.read()
        *done, partial = partial.split("\n")
        for line in done:
            line = line.rstrip("\r")
            lines_out.write("%.1f %s\n" % (t_ms, line))
            if stop.search(line):
                return 0
        time.sleep(interval / 1000.0)
    return 1


if __name__ == "__main__":
    sys.exit(main())
