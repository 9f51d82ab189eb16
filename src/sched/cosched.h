/* Relaxed co-scheduling, the pure part: given each vCPU's progress and the
 * time, decide which vCPUs to hold.  A vCPU more than max_skew ahead of
 * the slowest sibling is held until it is within half the bound (the gap
 * is hysteresis, so a hold lasts more than one tick); a hold never lasts
 * longer than max_hold, after which the vCPU runs for at least max_skew
 * before it can be held again (nobody starves when a sibling stops
 * progressing for a reason holds cannot fix).  Unit-tested with simulated
 * clocks. */
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
    uint64_t cooldown_until[COSCHED_VCPUS_MAX];
    /* statistics */
    uint64_t skew_hist[COSCHED_HIST_BUCKETS];   /* see cosched_hist_bound_ms */
    uint64_t samples, costops, forced_releases, max_skew_seen_ns;
    uint64_t held_ns;                           /* summed over vCPUs */
};

void cosched_init(struct cosched *c, unsigned n, uint64_t max_skew_ns);
/* Change the bound at run time; holds are re-evaluated at the next step. */
void cosched_set_bound(struct cosched *c, uint64_t max_skew_ns);
/* One controller tick: progress[i] in ns, now in ns (monotonic).  Updates
 * c->held[] and returns how many vCPUs are held. */
unsigned cosched_step(struct cosched *c, const uint64_t *progress, uint64_t now);
/* Release every hold (controller switched off). */
void cosched_release_all(struct cosched *c, uint64_t now);
/* Upper bound (ms, exclusive) of histogram bucket i; 0 for the last. */
unsigned cosched_hist_bound_ms(unsigned i);

#endif
