/* Relaxed co-scheduling, the pure part: given each vCPU's progress, which
 * vCPUs wait for a host CPU, and the time, decide which vCPUs to hold.
 *
 * A vCPU more than max_skew ahead of the slowest sibling is held only
 * when that laggard is runnable and waiting for a host CPU: the held
 * vCPU sleeps, its CPU goes idle, and the host can run (or migrate) the
 * laggard there.  A laggard that runs or is halted is progressing, and
 * holding its sibling would only stop the sibling.  A hold ends at the
 * first of: the laggard progressed or stopped waiting (a useful hold),
 * or max_hold (= max_skew) passed (a timeout, after which the vCPU runs
 * for at least max_skew before it can be held again: a laggard that
 * cannot get a CPU, say behind a pinned host hog, costs its siblings at
 * most half their time).  Unit-tested with simulated clocks. */
#ifndef KVMM_SCHED_COSCHED_H
#define KVMM_SCHED_COSCHED_H

#include <stdbool.h>
#include <stdint.h>

#define COSCHED_VCPUS_MAX 255
#define COSCHED_HIST_BUCKETS 8

struct cosched {
    unsigned n;
    uint64_t max_skew_ns, max_hold_ns;
    bool held[COSCHED_VCPUS_MAX];
    uint64_t hold_since[COSCHED_VCPUS_MAX];
    unsigned hold_lag[COSCHED_VCPUS_MAX];           /* the laggard a hold is for */
    uint64_t hold_lag_progress[COSCHED_VCPUS_MAX];  /* its progress then */
    uint64_t cooldown_until[COSCHED_VCPUS_MAX];
    /* statistics */
    uint64_t skew_hist[COSCHED_HIST_BUCKETS];   /* see cosched_hist_bound_ms */
    uint64_t samples, costops, max_skew_seen_ns;
    uint64_t useful;        /* holds that ended with the laggard progressing */
    uint64_t timeouts;      /* holds that ended at max_hold */
    uint64_t skipped;       /* ticks a vCPU was ahead but its laggard not waiting */
    uint64_t held_ns;       /* summed over vCPUs */
};

void cosched_init(struct cosched *c, unsigned n, uint64_t max_skew_ns);
/* Change the bound at run time; holds are re-evaluated at the next step. */
void cosched_set_bound(struct cosched *c, uint64_t max_skew_ns);
/* One controller tick: progress[i] in ns; waiting[i] true when vCPU i is
 * runnable but not on a CPU (a halted or held vCPU is not waiting); now
 * in ns (monotonic).  Updates c->held[] and returns how many are held. */
unsigned cosched_step(struct cosched *c, const uint64_t *progress, const bool *waiting,
                      uint64_t now);
/* Release every hold (controller switched off). */
void cosched_release_all(struct cosched *c, uint64_t now);
/* Upper bound (ms, exclusive) of histogram bucket i; 0 for the last. */
unsigned cosched_hist_bound_ms(unsigned i);

#endif
