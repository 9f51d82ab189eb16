#!/usr/bin/env python3
"""query-status round-trip latency over QMP: kvmm against QEMU, side by
side on this host.  kvmm runs an idle firmware payload (spin.elf); QEMU
runs `-M none` (no guest), so both measure the control path only.

  python3 bench/qmp.py [--calls N] [--kvmm build/kvmm]

Prints a table of median, p99 and mean latency in microseconds and the
kvmm/QEMU ratio.  Exits 1 if a side cannot be measured."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def connect(path, proc, timeout=20):
    deadline = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("no QMP server at %s" % path)
            time.sleep(0.05)


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")
        json.loads(self.f.readline())       # greeting
        self.call(b'{"execute": "qmp_capabilities"}\n')

    def call(self, line):
        self.sock.sendall(line)
        while True:
            msg = json.loads(self.f.readline())
            if "event" not in msg:
                return msg


def measure(client, calls):
    line = b'{"execute": "query-status"}\n'
    for _ in range(min(200, calls)):        # warm up
        client.call(line)
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        r = client.call(line)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
        if "return" not in r:
            raise RuntimeError("query-status failed: %r" % r)
    lat.sort()
    return {"median": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1],
            "mean": statistics.fmean(lat)}


def run_side(cmd, path, calls):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        c = Client(connect(path, proc))
        res = measure(c, calls)
        try:
            c.call(b'{"execute": "quit"}\n')
        except (OSError, ValueError):
            pass
        proc.wait(10)
        return res
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--kvmm", default="build/kvmm")
    ap.add_argument("--payload", default="build/firmware/spin.elf")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kvmm-bench-qmp.", dir="/tmp")
    rows, failed = [], False
    sides = [("kvmm", [a.kvmm, "run", "--kernel", a.payload, "--memory", "32", "--console",
                       "none", "--control", os.path.join(tmp, "kvmm.sock")],
              os.path.join(tmp, "kvmm.sock"))]
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        qs = os.path.join(tmp, "qemu.sock")
        sides.append(("qemu -M none", [qemu, "-M", "none", "-nodefaults", "-display", "none",
                                       "-qmp", "unix:%s,server=on,wait=off" % qs], qs))
    else:
        print("qemu-system-x86_64 not found: kvmm only", file=sys.stderr)
        failed = True
    for name, cmd, path in sides:
        try:
            rows.append((name, run_side(cmd, path, a.calls)))
        except Exception as e:     # report the side and go on
            print("%s: %s" % (name, e), file=sys.stderr)
            failed = True
    shutil.rmtree(tmp, ignore_errors=True)
    print("query-status round trip over QMP, %d calls (microseconds)" % a.calls)
    print("%-14s %10s %10s %10s" % ("", "median", "p99", "mean"))
    for name, r in rows:
        print("%-14s %10.1f %10.1f %10.1f" % (name, r["median"], r["p99"], r["mean"]))
    if len(rows) == 2:
        k, q = rows[0][1], rows[1][1]
        print("%-14s %10.2f %10.2f %10.2f" % ("kvmm/qemu", k["median"] / q["median"],
                                              k["p99"] / q["p99"], k["mean"] / q["mean"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
