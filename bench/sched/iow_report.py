#!/usr/bin/env python3
"""Report of bench/sched/ioweights.sh: iow_report.py OUT ENV_LINE MODE...

Reads OUT/iow-MODE.{lines,sched,trace} for each mode (off, on), prints
the table (markdown) and writes the plot series OUT/iow-MODE.iops
("seconds_since_fio_start reads_per_s") and OUT/iow-on.weights
("seconds b_vcpu_weight a_vcpu_weight")."""
import json
import os
import sys


def fio_terse(line):
    """IOPS, mean and p99 completion latency (us) of the read side."""
    f = line.split(";")
    iops = float(f[7])
    clat_mean = float(f[15])
    p99 = next(float(x.split("=")[1]) for x in f[17:37] if x.startswith("99.000000%="))
    return iops, clat_mean, p99


def load(out, mode):
    lines = []
    for l in open(os.path.join(out, "iow-%s.lines" % mode)):
        t, vm, text = (l.rstrip("\n").split(" ", 2) + [""])[:3]
        lines.append((float(t), vm, text))
    start = next(t for t, vm, x in lines if vm == "b" and x.startswith("FIO-START"))
    end = next(t for t, vm, x in lines if vm == "b" and x.startswith("FIO-END"))
    terse = next(x for t, vm, x in lines if vm == "b" and x.startswith("FIO-TERSE "))
    r = {"start": start, "end": end}
    r["iops"], r["clat_mean"], r["p99"] = fio_terse(terse[len("FIO-TERSE "):])
    # a's loop: iterations over guest time, for lines inside fio's window
    ps = [(t, float(x.split()[1]), int(x.split()[2])) for t, vm, x in lines
          if vm == "a" and x.startswith("p ") and start <= t <= end]
    r["loop"] = (ps[-1][2] - ps[0][2]) / (ps[-1][1] - ps[0][1]) if len(ps) > 1 else 0.0
    # b's reads per half second, from its side loop
    ss = [(t, float(x.split()[1]), int(x.split()[2])) for t, vm, x in lines
          if vm == "b" and x.startswith("s ") and len(x.split()) == 3]
    with open(os.path.join(out, "iow-%s.iops" % mode), "w") as f:
        for a, b in zip(ss, ss[1:]):
            if b[1] > a[1] and start - 500 <= b[0] <= end + 500:
                f.write("%.2f %.0f\n" % ((b[0] - start) / 1000.0, (b[2] - a[2]) / (b[1] - a[1])))
    # threads' schedstat over the window: run, delay (ns), timeslices
    snap = {}
    for l in open(os.path.join(out, "iow-%s.sched" % mode)):
        tag, t, vm, comm, run, delay, slices = l.split()
        snap[(tag, vm, comm)] = (float(t), int(run), int(delay), int(slices))
    r["threads"] = {}
    for (tag, vm, comm), (t1, run1, d1, n1) in snap.items():
        if tag != "end" or ("start", vm, comm) not in snap:
            continue
        t0, run0, d0, n0 = snap[("start", vm, comm)]
        wall = (t1 - t0) * 1e6
        n = max(1, n1 - n0)
        r["threads"][(vm, comm)] = {"cpu": (run1 - run0) / wall, "wait": (d1 - d0) / wall,
                                    "wait_per_slice_us": (d1 - d0) / n / 1e3,
                                    "slices_per_s": (n1 - n0) / (wall / 1e9)}
    # the controller's trace (adaptive on only)
    r["trace"] = []
    tp = os.path.join(out, "iow-%s.trace" % mode)
    if os.path.exists(tp):
        r["trace"] = [json.loads(l) for l in open(tp)]
    return r


def pct(x):
    return "%.0f%%" % (100 * x)


def main():
    out, env, modes = sys.argv[1], sys.argv[2], sys.argv[3:]
    res = {m: load(out, m) for m in modes}
    print("Environment: " + env.replace("IOW-ENV ", ""))
    print()
    print("| adaptive | b: fio IOPS | b: mean / p99 completion latency (ms) | a: loop iterations/s "
          "| b vCPU: CPU / waiting for CPU (% of wall) | b vCPU wait per timeslice (ms) "
          "| a vCPU: CPU | b I/O thread: CPU | weights at the end (b / a) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in modes:
        r = res[m]
        th = r["threads"]
        bv, av, bi = th.get(("b", "vcpu0"), {}), th.get(("a", "vcpu0"), {}), th.get(("b", "io-b"), {})
        w = "100 / 100"
        if r["trace"]:
            wb = [x for x in r["trace"] if x["vm"] == "b" and x["thread"] == "vcpu0" and x["t_ms"] <= r["end"]]
            wa = [x for x in r["trace"] if x["vm"] == "a" and x["thread"] == "vcpu0" and x["t_ms"] <= r["end"]]
            if wb and wa:
                w = "%d (%s) / %d (%s)" % (wb[-1]["weight"], wb[-1]["class"], wa[-1]["weight"], wa[-1]["class"])
        print("| %s | %.0f | %.2f / %.2f | %.0f | %s / %s | %.2f | %s | %s | %s |" % (
            m, r["iops"], r["clat_mean"] / 1000, r["p99"] / 1000, r["loop"],
            pct(bv.get("cpu", 0)), pct(bv.get("wait", 0)), bv.get("wait_per_slice_us", 0) / 1000,
            pct(av.get("cpu", 0)), pct(bi.get("cpu", 0)), w))
    print()
    for m in modes:
        if m == "off" or "off" not in res:
            continue
        off, on = res["off"], res[m]
        print("%s / off: b IOPS x%.2f (goal >= 1.50), b p99 latency x%.2f, "
              "a loop rate x%.2f (goal >= 0.85)" % (
                  m, on["iops"] / off["iops"], on["p99"] / off["p99"], on["loop"] / off["loop"]))
    for m in modes:
        r = res[m]
        rows = [x for x in r["trace"] if r["start"] <= x["t_ms"] <= r["end"]]
        for vm in "ab":
            vr = [x for x in rows if x["vm"] == vm and x["thread"] == "vcpu0"]
            if not vr:
                continue
            lab = {c: sum(x["class"] == c for x in vr) for c in ("cpu", "io", "idle")}
            raw = {c: sum(x["raw"] == c for x in vr) for c in ("cpu", "io", "idle")}
            first_io = next(((x["t_ms"] - r["start"]) / 1000.0 for x in vr if x["class"] == "io"), None)
            print("%s: %s vCPU during fio: %d periods, label cpu/io/idle %d/%d/%d, raw %d/%d/%d, "
                  "label io after %s s" % (m, vm, len(vr), lab["cpu"], lab["io"], lab["idle"],
                                          raw["cpu"], raw["io"], raw["idle"], first_io))
    if "on" in res and res["on"]["trace"]:
        r = res["on"]
        with open(os.path.join(out, "iow-on.weights"), "w") as f:
            w = {}
            for x in r["trace"]:
                if x["thread"] == "vcpu0":
                    w[x["vm"]] = x["weight"]
                    if len(w) == 2 and x["t_ms"] >= r["start"] - 2000:
                        f.write("%.2f %d %d\n" % ((x["t_ms"] - r["start"]) / 1000.0, w["b"], w["a"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
