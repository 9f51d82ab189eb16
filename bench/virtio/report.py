#!/usr/bin/env python3
"""bench/virtio/report.py OUT WHERE SECS: section.md and goals.md of bench/virtio.sh.

Reads OUT/{kvmm,qemu}.N.log, one per round (the guest's BENCH-RESULT
lines, and kvmm's device counters printed at exit), OUT/env.txt,
OUT/notes.txt, OUT/*.argv.  Each measure is the median over the rounds.
"""
import glob
import os
import re
import statistics
import sys

out, where, secs = sys.argv[1], sys.argv[2], sys.argv[3]
VMMS = ("kvmm", "qemu")


def read(name):
    try:
        with open(os.path.join(out, name), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def results(log):
    res = {}
    for line in log.splitlines():
        if line.startswith("BENCH-RESULT "):
            kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            name = kv.pop("name", "?")
            res[name] = {k: float(v) for k, v in kv.items()}
    return res


def round_of(path):
    return int(path.rsplit(".", 2)[-2])


rounds_run = sorted({round_of(p) for p in glob.glob(os.path.join(out, "*.[0-9]*.log"))})
# Rounds that produced results; a round that stalled before any is listed
# under missing results only.
rounds = [r for r in rounds_run
          if any(results(read("%s.%d.log" % (v, r))) for v in VMMS)]
logs_by_round = {v: {r: read("%s.%d.log" % (v, r)) for r in rounds} for v in VMMS}
res_by_round = {v: {r: results(logs_by_round[v][r]) for r in rounds} for v in VMMS}
last = rounds[-1] if rounds else 0
logs = {v: logs_by_round[v].get(last, "") for v in VMMS}
res = {v: res_by_round[v].get(last, {}) for v in VMMS}


def get1(res1, test, key):
    return res1.get(test, {}).get(key)


def per_req1(res1, test):
    r = res1.get(test)
    if not r or not r.get("reqs"):
        return None
    return r["irqs"] / r["reqs"]


def per_round(vmm, fn, *a):
    return {r: fn(res_by_round[vmm][r], *a) for r in rounds}


def median(d):
    xs = [x for x in d.values() if x is not None]
    return statistics.median(xs) if xs else None


def get(vmm, test, key):
    return per_round(vmm, get1, test, key)


def per_req(vmm, test):
    return per_round(vmm, per_req1, test)


def marks(path):
    """MARK lines of watch.sh: {name: {"begin": {...}, "end": {...}}}."""
    m = {}
    for line in read(path).splitlines():
        p = line.split()
        if len(p) < 3 or p[0] != "MARK":
            continue
        m.setdefault(p[2], {})[p[1]] = {k: float(v) for k, v in (x.split("=", 1) for x in p[3:] if "=" in x)}
    return m


marks_by_round = {v: {r: marks("%s.%d.exits" % (v, r)) for r in rounds} for v in VMMS}


def delta(vmm, r, test, key):
    m = marks_by_round[vmm][r].get(test, {})
    b, e = m.get("begin", {}).get(key), m.get("end", {}).get(key)
    return e - b if b is not None and e is not None else None


def per_req_of(vmm, test, key, scale=1.0):
    out = {}
    for r in rounds:
        d, res1 = delta(vmm, r, test, key), res_by_round[vmm][r].get(test)
        out[r] = d * scale / res1["reqs"] if d is not None and res1 and res1.get("reqs") else None
    return out


TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def idle_pct(vmm, test):
    """The guest's idle time over the run (guest_idle, clock ticks of 10 ms
    summed over its CPUs), as a percentage of one CPU."""
    return {r: (res1[test]["guest_idle"] * 1.0 / float(secs)) if "guest_idle" in res1.get(test, {}) else None
            for r, res1 in res_by_round[vmm].items()}


def mark_pct(vmm, test, key):
    """A clock-tick counter's growth between the run's marks, as a
    percentage of one CPU over the run."""
    return {r: (lambda d: d * TICK_US / 1e4 / float(secs) if d is not None else None)(delta(vmm, r, test, key))
            for r in rounds}


def host_idle_pct(vmm, test):
    """The environment's idle time between the run's marks, as a percentage
    of one CPU (the marks frame the run and its pauses)."""
    return {r: (lambda d: d * TICK_US / 1e4 / float(secs) if d is not None else None)(delta(vmm, r, test, "host_idle"))
            for r in rounds}
DISKS = [("", "vda: image file on tmpfs, cache=writeback"),
         ("-vdb", "vdb: loop device, cache=none (QEMU aio=io_uring)")]
# (label, getter, higher is better, goal factor or None, goal text)
ROWS = []
for sfx, what in DISKS:
    short = "vdb, cache=none" if sfx else "vda, writeback"
    ROWS += [
        ("**%s**" % what, None, True, None, None),
        ("4k random read QD32, IOPS", lambda v, s=sfx: get(v, "randread" + s, "iops"), True, 1.3,
         "4k QD32 IOPS ≥ 1.3× QEMU (%s)" % short),
        ("1 MiB sequential read QD8, MB/s", lambda v, s=sfx: get(v, "seqread" + s, "mbps"), True, 1.0,
         "sequential read ≥ 1.0× QEMU (%s)" % short),
        ("1 MiB sequential write QD8, MB/s", lambda v, s=sfx: get(v, "seqwrite" + s, "mbps"), True, 1.0,
         "sequential write ≥ 1.0× QEMU (%s)" % short),
        ("interrupts per request, 4k random", lambda v, s=sfx: per_req(v, "randread" + s), False, 0.5,
         "blk interrupts/request (4k random, %s) ≤ 0.5× QEMU" % short),
        ("interrupts per request, 1 MiB read", lambda v, s=sfx: per_req(v, "seqread" + s), False, 0.5,
         "blk interrupts/request (1 MiB read, %s) ≤ 0.5× QEMU" % short),
        ("interrupts per request, 1 MiB write", lambda v, s=sfx: per_req(v, "seqwrite" + s), False, None, None),
        ("KVM exits per request, 4k random", lambda v, s=sfx: per_req_of(v, "randread" + s, "exits"), False, None, None),
        ("KVM exits per request, 1 MiB read", lambda v, s=sfx: per_req_of(v, "seqread" + s, "exits"), False, None, None),
        ("KVM exits per request, 1 MiB write", lambda v, s=sfx: per_req_of(v, "seqwrite" + s, "exits"), False, None, None),
        ("VMM CPU µs per request (host, outside the guest), 4k random",
         lambda v, s=sfx: per_req_of(v, "randread" + s, "vmm_ticks", TICK_US), False, None, None),
    ]
ROWS += [
    ("**network**", None, True, None, None),
    ("iperf3 guest→host, Mbit/s", lambda v: get(v, "guest-to-host", "mbitps"), True, 1.3,
     "iperf3 guest→host ≥ 1.3× QEMU"),
    ("iperf3 host→guest, Mbit/s", lambda v: get(v, "host-to-guest", "mbitps"), True, 1.3,
     "iperf3 host→guest ≥ 1.3× QEMU"),
    ("net interrupts per packet, guest→host", lambda v: per_req(v, "guest-to-host"), False, 0.5,
     "net interrupts/packet (guest→host) ≤ 0.5× QEMU"),
    ("net interrupts per packet, host→guest", lambda v: per_req(v, "host-to-guest"), False, 0.5,
     "net interrupts/packet (host→guest) ≤ 0.5× QEMU"),
    ("KVM exits per packet, guest→host", lambda v: per_req_of(v, "guest-to-host", "exits"), False, None, None),
    ("KVM exits per packet, host→guest", lambda v: per_req_of(v, "host-to-guest", "exits"), False, None, None),
    ("VMM CPU µs per packet (host, outside the guest), guest→host",
     lambda v: per_req_of(v, "guest-to-host", "vmm_ticks", TICK_US), False, None, None),
    ("guest CPUs idle, % of one CPU, guest→host", lambda v: idle_pct(v, "guest-to-host"), None, None, None),
    ("VMM process in the guest, % of one CPU, guest→host",
     lambda v: mark_pct(v, "guest-to-host", "guest_ticks"), None, None, None),
    ("VMM process outside the guest, % of one CPU, guest→host",
     lambda v: mark_pct(v, "guest-to-host", "vmm_ticks"), None, None, None),
    ("host CPUs idle, % of one CPU, guest→host", lambda v: host_idle_pct(v, "guest-to-host"), None, None, None),
]


def fmt(x):
    if x is None:
        return "—"
    if x >= 100:
        return "%.0f" % x
    if x >= 1:
        return "%.2f" % x
    return "%.3f" % x


table = ["| measure (median, rounds: %d) | kvmm | QEMU | kvmm / QEMU | per-round kvmm / QEMU |" % len(rounds),
         "|---|---:|---:|---:|---|"]
goals = []
header = None
for label, getter, higher, target, goal in ROWS:
    if getter is None:
        header = "| %s | | | | |" % label
        continue
    kr, qr = getter("kvmm"), getter("qemu")
    if median(kr) is None and median(qr) is None:
        continue
    if header:
        table.append(header)
        header = None
    k, q = median(kr), median(qr)
    ratio = k / q if k is not None and q else None
    rr = ", ".join("%.2f" % (kr[r] / qr[r]) if kr[r] is not None and qr[r] else "—" for r in rounds)
    table.append("| %s | %s | %s | %s | %s |" % (label, fmt(k), fmt(q),
                                                "—" if ratio is None else "%.2f×" % ratio, rr))
    if target is None:
        continue
    if ratio is None:
        verdict = "not measured"
    elif higher:
        short = (1 - ratio / target) * 100
        verdict = ("**met**" if ratio >= target else
                   "**missed** by %.*f%% (needs %.*f× more)" % (
                       1 if short < 1 else 0, short, 3 if short < 1 else 2, target / ratio))
    else:
        verdict = ("**met**" if ratio <= target else
                   "**missed**: %.2f× the allowed count" % (ratio / target))
    sign = "≥" if higher else "≤"
    goals.append("| %s | %s %.1f× | %s | %s |" % (goal, sign, target,
                                                 "—" if ratio is None else "%.2f×" % ratio, verdict))

# kvmm's own counters (whole run: boot, fio and iperf3).
counters = {}
for m in re.finditer(r"^kvmm: \S+: virtio-(?:blk|net) ((?:vda|vdb|net0)\.\w+) (\d+)$", logs["kvmm"], re.M):
    counters[m.group(1)] = int(m.group(2))
blk_keys = ["requests", "inline_requests", "submits", "max_submit_batch", "completions", "completion_batches",
            "held_publishes", "kicks", "interrupts"]
net_keys = ["rx_packets", "tx_packets", "rx_batches", "rx_max_batch", "tx_batches", "tx_max_batch",
            "kicks", "rx_interrupts", "tx_interrupts", "interrupts", "rx_no_buffers", "rx_drops", "tx_drops"]


def counter_line(dev, keys):
    return ", ".join("%s %s" % (k, counters["%s.%s" % (dev, k)]) for k in keys if "%s.%s" % (dev, k) in counters)


def ratio_of(dev, a, b):
    x, y = counters.get("%s.%s" % (dev, a)), counters.get("%s.%s" % (dev, b))
    return "%.3f" % (x / y) if x is not None and y else "—"


def irq_lines(log):
    lines = [l.rstrip() for l in log.splitlines() if re.search(r"\bvirtio\d+", l) and re.match(r"^\s*\d+:", l)]
    # The guest prints them twice, before and after; keep the final set.
    half = len(lines) // 2
    return lines[half:] if half and len(lines) % 2 == 0 else lines


def devices(log):
    m = re.search(r"^BENCH-DEVICES (.*)$", log, re.M)
    return m.group(1) if m else "?"


env = read("env.txt").strip()
notes = [l for l in read("notes.txt").splitlines() if l.strip()]
argv = {v: read(v + ".argv").strip() for v in VMMS}
want = 8 if any("guest-to-host" in res_by_round[v][r] for v in VMMS for r in rounds) else 6
missing = ["%s round %d" % (v, r) for v in VMMS for r in rounds_run
           if len(results(read("%s.%d.log" % (v, r)))) < want]
if not rounds:
    missing = ["every run"]

sec = []
sec.append("## virtio\n")
sec.append("""**Method.** `bench/virtio.sh` boots one guest under kvmm and under QEMU
(q35, virtio-pci, no vhost), interleaved (kvmm, QEMU, kvmm, …) for %d
round(s) with results (each round's VMs in one session of the environment
below; see the notes for rounds that stalled); each measure is the median over the rounds,
and the ratio of the medians is what the goals compare. The Debian cloud
kernel `%s` with `build/bench/initramfs-bench.cpio` (the test guest's
initramfs plus fio and iperf3 and their shared libraries from this host,
made by `bench/virtio/mkinitrd.sh`), 1024 MiB, 2 vCPUs. Two disks, each
backed by a 512 MiB file written with zeros on the host's tmpfs `/tmp`:

- `vda`: the image file itself. tmpfs refuses O_DIRECT, so both VMMs use the
  host page cache (`cache=writeback`): this measures the virtio and VMM path,
  not a storage device.
- `vdb`: a loop device (`losetup`) over the other file, which takes O_DIRECT:
  both VMMs open it with `cache=none`, QEMU with `aio=io_uring` (the
  configuration QEMU is usually compared in).

Both VMMs with their defaults otherwise: QEMU's virtio-blk-pci has one
request queue per vCPU (`num-queues`), so has kvmm now (`queues`);
kvmm's interrupt coalescing (`coalesce_us`) at its default, 4000 µs. One NIC:
a TAP (`vnet_hdr`) in a bridge that carries the host's address 10.79.0.1,
where `iperf3 -s` listens. In the guest, `bench/virtio/guest.sh` runs, %s s
each:

- fio on `/dev/vda`, then `/dev/vdb`, `--direct=1 --ioengine=libaio
  --thread`: 4k random read at iodepth 32, 1 MiB sequential read at iodepth
  8, 1 MiB sequential write at iodepth 8;
- iperf3 (one TCP stream) guest→host, then host→guest (`-R`); the rate is
  iperf3's receiver figure;
- around each run, the device's interrupts (the sum over CPUs of its
  `virtioN-*` lines in `/proc/interrupts`: MSI-X vectors under both VMMs) and
  its requests (block: reads plus writes completed in `/sys/block/vdX/stat`;
  net: packets received plus sent on eth0, as the guest counts them, so a
  TSO segment is one packet). Interrupts per request is their quotient.
- the guest prints a mark before and after each run and pauses; at each
  mark the host reads the VM's KVM exit counters (debugfs
  `/sys/kernel/debug/kvm/PID-FD/exits`, all exits including those KVM
  handles itself, such as ioeventfd notifications and EOIs) and the VMM
  process's CPU time outside the guest (utime + stime − guest time of all
  its threads, io_uring workers included) (`bench/virtio/watch.sh`).
  Exits and VMM CPU per request divide their growth by the requests.
- fio on the host, on the same image file (buffered: tmpfs) and on the
  loop device (`--direct=1`), same jobs: the ceiling.

Command lines (`$WORK` is a tmpfs directory, `kvmm.cmd=…` the guest script):

- kvmm: `%s`
- QEMU: `%s`
""" % (len(rounds), os.path.basename(os.path.realpath("build/guest/vmlinuz-cloud")), secs,
       argv["kvmm"] or "?", argv["qemu"] or "?"))
sec.append("""**Where.** %s. Absolute rates there are bound by the emulation and by
the machine's other load (other test host sessions may share its 2 cores);
compare the ratios. Runs of the two VMMs alternate rather than overlap,
so a change in load between them moves a round's ratio: the per-round
ratios show how far.

%s
""" % (where, "\n".join("    " + l for l in env.splitlines())))
sec.append("**Results** (%s):\n" % __import__("datetime").date.today().isoformat())
sec.append("\n".join(table) + "\n")
host = results(read("host.log"))
if host:
    sec.append("""Ceiling: fio on the host (inside the same test host), same jobs, %s s each:

| fio on the host | 4k random read QD32, IOPS | 1 MiB read QD8, MB/s | 1 MiB write QD8, MB/s |
|---|---:|---:|---:|
| image file (tmpfs, buffered) | %s | %s | %s |
| loop device, `--direct=1` | %s | %s | %s |
""" % (secs, fmt(get1(host, "randread", "iops")), fmt(get1(host, "seqread", "mbps")),
       fmt(get1(host, "seqwrite", "mbps")), fmt(get1(host, "randread-vdb", "iops")),
       fmt(get1(host, "seqread-vdb", "mbps")), fmt(get1(host, "seqwrite-vdb", "mbps"))))
if missing:
    sec.append("Missing results for: %s (see `build/bench/virtio/*.log`).\n" % ", ".join(missing))
sec.append("""Goals (kvmm / QEMU):

| goal | target | measured | verdict |
|---|---|---|---|
%s
""" % "\n".join(goals))
sec.append("""kvmm's own device counters (`KVMM_LOG=info`, last round, whole run including boot):

- vda: %s; interrupts per request %s, requests per submit %s
- vdb: %s; interrupts per request %s
%s
Guest devices: kvmm %s; QEMU %s. Their interrupt lines at the end of the last round:

```
kvmm:
%s
QEMU:
%s
```
""" % (counter_line("vda", blk_keys) or "—", ratio_of("vda", "interrupts", "requests"),
       ratio_of("vda", "requests", "submits"),
       counter_line("vdb", blk_keys) or "—", ratio_of("vdb", "interrupts", "requests"),
       "- net0: %s; interrupts per packet %.3f\n" % (
           counter_line("net0", net_keys),
           counters["net0.interrupts"] / (counters["net0.rx_packets"] + counters["net0.tx_packets"]))
       if counters.get("net0.rx_packets", 0) + counters.get("net0.tx_packets", 0) and "net0.interrupts" in counters else "",
       devices(logs["kvmm"]), devices(logs["qemu"]),
       "\n".join(irq_lines(logs["kvmm"])) or "(none)", "\n".join(irq_lines(logs["qemu"])) or "(none)"))
if notes:
    sec.append("Notes from the run:\n\n" + "\n".join("- " + n for n in notes) + "\n")

with open(os.path.join(out, "section.md"), "w") as f:
    f.write("\n".join(sec).rstrip() + "\n")
with open(os.path.join(out, "goals.md"), "w") as f:
    f.write("\n".join(goals) + "\n")
sys.exit(1 if missing else 0)
