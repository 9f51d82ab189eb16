/* Relaxed co-scheduling, the pure part: given each vCPU's progress, which
 * vCPUs wait for a host CPU, and the time, decide which vCPUs to boost
 * and which to hold.
 *
 * Speeding the laggard up comes first.  While a vCPU is more than
 * max_skew/2 behind the fastest sibling, the VM is *boosted*: the caller
 * raises the cgroup weight of every vCPU of the VM (and their ancestors')
 * to one boost weight, so that the laggard wins its host CPU against
 * threads outside the VM and the host's load balancer still sees the
 * vCPUs as equals (it keeps them on different CPUs); the boost ends when
 * the skew has stayed within max_skew/4 for COSCHED_CALM_BOUNDS bounds.  Holding the leader is what bounds
 * the skew: a vCPU more
 * than max_skew ahead of the slowest is held (it sleeps at its next
 * exit) when that laggard is boosted and running (at the boost weight and
 * still behind: the hold closes the gap) or, without boosts, when the
 * laggard waits for a host CPU (the held vCPU's CPU goes idle and the
 * host can run the laggard there).  A boosted laggard that waits is not
 * a reason to hold: it would move onto the held vCPU's CPU, and the pair
 * would end up sharing one.  A laggard that runs or halts while it cannot be boosted is
 * progressing, and the controller does not hold (counted as skipped).
 * A hold ends when the holder is back within max_skew/2 of the slowest
 * (useful) or after max_hold = max_skew (a timeout, after which the vCPU
 * runs for at least max_skew before it can be held again: a laggard that
 * cannot get a CPU at all costs its siblings at most half their time),
 * unless the laggard closed at least half of max_hold of the gap
 * meanwhile: then the hold is renewed for another max_hold.
 * max_hold counts from the moment the vCPU actually stopped (the caller
 * reports it, cosched_hold_entered): getting a running vCPU out of the
 * guest can take longer than max_hold on a busy host, and a hold timed
 * from the decision would lapse before it began.  A hold the vCPU has not
 * reached within COSCHED_HOLD_PENDING_BOUNDS bounds lapses.
 *
 * Spreading keeps the laggard off its sibling's CPU: a vCPU more than
 * max_skew/2 behind the fastest (what starts a boost) that is runnable
 * on the host CPU a runnable sibling is on too is moved off it (the caller narrows the
 * thread's affinity to its own mask less that CPU), unless its own mask
 * has a single CPU.  While any vCPU of the VM is held, no vCPU is kept
 * off a CPU: the held one's CPU is free, and a laggard fenced off it
 * would wait elsewhere while it stays idle.  A moved vCPU that has
 * waited for a CPU for half a bound (where it went is no better) is
 * let go too.  Two vCPUs on one CPU take turns, and nothing but
 * the host's slow balancer would part them.  The move stays until the VM
 * is calm again (the moment a boost ends) or it is released.
 * Unit-tested with simulated clocks. */
#ifndef KVMM_SCHED_COSCHED_H
#define KVMM_SCHED_COSCHED_H

#include <stdbool.h>
#include <stdint.h>

#define COSCHED_VCPUS_MAX 255
#define COSCHED_HIST_BUCKETS 8
#define COSCHED_CALM_BOUNDS 10      /* a boost ends after this many bounds of calm */
#define COSCHED_HOLD_PENDING_BOUNDS 4   /* a hold not reached by then lapses */

struct cosched {
    unsigned n;
    uint64_t max_skew_ns, max_hold_ns;
    bool can_boost;         /* set by the caller: boosts raise a vCPU's share */
    bool held[COSCHED_VCPUS_MAX];
    uint64_t hold_since[COSCHED_VCPUS_MAX];         /* the decision */
    bool stopped[COSCHED_VCPUS_MAX];                /* the held vCPU has stopped... */
    uint64_t stopped_at[COSCHED_VCPUS_MAX];         /* ... at this time */
    uint64_t cooldown_until[COSCHED_VCPUS_MAX];
    uint64_t renew_ahead[COSCHED_VCPUS_MAX];        /* lead when the hold began or was renewed */
    bool waited[COSCHED_VCPUS_MAX];                 /* waiting at the last step... */
    uint64_t wait_since[COSCHED_VCPUS_MAX];         /* ... since */
    bool boosted[COSCHED_VCPUS_MAX];                /* all or none */
    uint64_t boost_since;
    uint64_t calm_since;            /* skew within max_skew/4 since, 0: it is not */
    int spread_from[COSCHED_VCPUS_MAX];             /* host CPU to keep off, -1: none */
    /* statistics */
    uint64_t skew_hist[COSCHED_HIST_BUCKETS];   /* see cosched_hist_bound_ms */
    uint64_t samples, costops, max_skew_seen_ns;
    uint64_t useful;        /* holds that ended with the holder back near the laggard */
    uint64_t timeouts;      /* holds that ended at max_hold */
    uint64_t lapsed;        /* holds the vCPU never reached */
    uint64_t renewals;      /* holds extended while the laggard closed the gap */
    uint64_t skipped;       /* ticks a vCPU was ahead but its laggard gave no reason to hold */
    uint64_t held_ns;       /* summed over vCPUs */
    uint64_t boosts, boosted_ns;    /* boosts of the VM, and their time */
    uint64_t spreads;       /* vCPUs moved off a CPU they shared with a sibling */
    uint64_t unspreads;     /* moves undone: the vCPU waited for a CPU where it went */
};

void cosched_init(struct cosched *c, unsigned n, uint64_t max_skew_ns);
/* Change the bound at run time; holds are re-evaluated at the next step. */
void cosched_set_bound(struct cosched *c, uint64_t max_skew_ns);
/* The largest progress minus the smallest (0 for fewer than 2 vCPUs). */
uint64_t cosched_skew(unsigned n, const uint64_t *progress);
/* One controller tick: progress[i] in ns; waiting[i] true when vCPU i is
 * runnable but not on a CPU (a halted or held vCPU is not waiting); now
 * in ns (monotonic).  Updates c->boosted[] and c->held[] and returns how
 * many are held. */
unsigned cosched_step(struct cosched *c, const uint64_t *progress, const bool *waiting,
                      uint64_t now);
/* After cosched_step(), same progress and clock: cpu[i] is the host CPU
 * vCPU i is on or queued for (-1: unknown, or it is not runnable),
 * ncpus[i] how many CPUs its own mask allows.  Sets c->spread_from[i] to the CPU vCPU i is to be kept off,
 * or back to -1 for every vCPU once the VM is calm; returns how many
 * vCPUs it moved this tick. */
unsigned cosched_spread(struct cosched *c, const uint64_t *progress, const int *cpu,
                        const unsigned *ncpus, uint64_t now);
/* vCPU i, held, stopped at `at` (ns, same clock): its max_hold starts. */
void cosched_hold_entered(struct cosched *c, unsigned i, uint64_t at);
/* How long a hold may wait for its vCPU to stop before it lapses. */
uint64_t cosched_hold_pending_ns(const struct cosched *c);
/* Forget vCPU i's move (its mask was set anew: the new mask wins). */
void cosched_unspread(struct cosched *c, unsigned i);
/* Release every hold, boost and move (controller switched off, VM gone). */
void cosched_release_all(struct cosched *c, uint64_t now);
/* Upper bound (ms, exclusive) of histogram bucket i; 0 for the last. */
unsigned cosched_hist_bound_ms(unsigned i);

#endif
