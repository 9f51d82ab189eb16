/* Adaptive weights, the pure part: classify one sampling period of a
 * vCPU from counter deltas, with hysteresis, and move a weight toward the
 * target of its class.  No I/O, no clock: unit-tested on synthetic
 * traces (tests/unit/test_sched.c). */
#ifndef KVMM_SCHED_ADAPTIVE_H
#define KVMM_SCHED_ADAPTIVE_H

#include <stdbool.h>
#include <stdint.h>

enum sched_class { SCHED_CLASS_IDLE, SCHED_CLASS_CPU, SCHED_CLASS_IO };

/* Counter deltas over one period.  exits, halt_exits and halt_wait_ns
 * come from KVM's binary stats, io_exits and mmio_exits from kvmm's own
 * exit counts, run_ns (on a CPU) and delay_ns (runnable, waiting for a
 * CPU) from the thread's schedstat.  dev_requests (requests the VM's
 * devices handled: the `requests` counters of device.h) and io_run_ns
 * (the VM's I/O thread's time on a CPU) are per VM, the same for each of
 * its vCPUs: virtio notifications go through ioeventfd, so a vCPU doing
 * device I/O shows no port or MMIO exits of its own. */
struct sched_sample {
    uint64_t exits, halt_exits, io_exits, mmio_exits;
    uint64_t halt_wait_ns, run_ns, delay_ns;
    uint64_t dev_requests, io_run_ns;
};

/* Thresholds (per second of wall time, fractions of the period). */
#define SCHED_IO_EXIT_RATE   2000u  /* port + MMIO exits/s: I/O-bound */
#define SCHED_DEV_REQ_RATE     50u  /* device requests/s: the VM does I/O */
#define SCHED_HALT_RATE        50u  /* halts/s of a vCPU waiting on completions */
#define SCHED_HALT_WAIT_PCT    10u  /* ... waiting this share of the period */
#define SCHED_HALT_RATE_FAST  500u  /* ... or halting this often, however briefly */
#define SCHED_CPU_UTIL_PCT     50u  /* runnable this share of the period */
#define SCHED_IO_THREAD_PCT    20u  /* an I/O thread this busy is saturated */
#define SCHED_CONFIRM           2u  /* periods a new class must persist ... */
#define SCHED_CPU_DECISIVE_PCT 90u  /* ... unless this runnable, never halted */

struct sched_classifier {
    enum sched_class label;     /* the confirmed class */
    enum sched_class candidate; /* what the last periods suggested */
    unsigned streak;            /* how many periods in a row */
};

const char *sched_class_name(enum sched_class c);
/* The class one period suggests, without hysteresis. */
enum sched_class sched_classify(const struct sched_sample *d, uint64_t period_ns);
/* Whether a period leaves no doubt about its class c: I/O by the port or
 * MMIO exit rate or by the fast-halt rate with busy devices; CPU-bound
 * without a single halt and runnable at least SCHED_CPU_DECISIVE_PCT of
 * the period.  Idle never is. */
bool sched_sample_decisive(const struct sched_sample *d, uint64_t period_ns, enum sched_class c);
/* Feed one period; true when the confirmed label changed.  A class
 * becomes the label after `confirm` periods in a row (1 = immediately),
 * or at once after a decisive period. */
bool sched_classifier_feed(struct sched_classifier *c, const struct sched_sample *d,
                           uint64_t period_ns, unsigned confirm);

struct sched_bounds {
    unsigned min_weight, max_weight;    /* min_weight >= 1: nobody starves */
};

/* The weight a thread of base weight `base` aims for in class c:
 * I/O-bound x4, CPU-bound /2, idle: base; within bounds. */
unsigned sched_weight_target(unsigned base, enum sched_class c, const struct sched_bounds *b);
/* One step from cur three quarters of the way to target (snaps when one
 * away): 100 -> 400 in 6 periods, 100 -> 50 in 4. */
unsigned sched_weight_step(unsigned cur, unsigned target, const struct sched_bounds *b);
/* An I/O thread's class from its CPU time over the period: IO when busy. */
enum sched_class sched_classify_io_thread(uint64_t run_ns, uint64_t period_ns);

#endif
