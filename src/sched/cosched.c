/* Relaxed co-scheduling controller (cosched.h). */
#include "sched/cosched.h"

#include <string.h>

static const unsigned hist_bounds_ms[COSCHED_HIST_BUCKETS] = { 1, 2, 5, 10, 20, 50, 100, 0 };

unsigned cosched_hist_bound_ms(unsigned i)
{
    return i < COSCHED_HIST_BUCKETS ? hist_bounds_ms[i] : 0;
}

void cosched_set_bound(struct cosched *c, uint64_t max_skew_ns)
{
    c->max_skew_ns = max_skew_ns ? max_skew_ns : 1;
    /* A hold is worth at most the skew it tries to fix: long enough for
     * the host to run a waiting laggard on the freed CPU, short enough
     * that a laggard that cannot get one costs little. */
    c->max_hold_ns = c->max_skew_ns;
}

void cosched_init(struct cosched *c, unsigned n, uint64_t max_skew_ns)
{
    memset(c, 0, sizeof(*c));
    c->n = n > COSCHED_VCPUS_MAX ? COSCHED_VCPUS_MAX : n;
    cosched_set_bound(c, max_skew_ns);
}

static void hist_add(struct cosched *c, uint64_t skew_ns)
{
    uint64_t ms = skew_ns / 1000000ull;
    unsigned i;

    for (i = 0; i < COSCHED_HIST_BUCKETS - 1; i++)
        if (ms < hist_bounds_ms[i])
            break;
    c->skew_hist[i]++;
    c->samples++;
    if (skew_ns > c->max_skew_seen_ns)
        c->max_skew_seen_ns = skew_ns;
}

static void release(struct cosched *c, unsigned i, uint64_t now)
{
    c->held[i] = false;
    c->held_ns += now - c->hold_since[i];
}

/* A held vCPU: release it when its laggard progressed (or is no longer
 * waiting: it runs, or halted), or when the hold timed out. */
static void hold_check(struct cosched *c, unsigned i, const uint64_t *progress,
                       const bool *waiting, uint64_t now)
{
    unsigned lag = c->hold_lag[i];

    if (progress[lag] > c->hold_lag_progress[i] || !waiting[lag]) {
        release(c, i, now);
        c->useful++;
    } else if (now - c->hold_since[i] >= c->max_hold_ns) {
        release(c, i, now);
        c->timeouts++;
        c->cooldown_until[i] = now + c->max_skew_ns;
    }
}

unsigned cosched_step(struct cosched *c, const uint64_t *progress, const bool *waiting,
                      uint64_t now)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned nheld = 0, lag = 0;

    if (c->n < 2)
        return 0;
    for (unsigned i = 0; i < c->n; i++) {
        if (progress[i] < lo) {
            lo = progress[i];
            lag = i;
        }
        hi = progress[i] > hi ? progress[i] : hi;
    }
    hist_add(c, hi - lo);
    for (unsigned i = 0; i < c->n; i++) {
        if (c->held[i]) {
            hold_check(c, i, progress, waiting, now);
        } else if (i != lag && progress[i] - lo > c->max_skew_ns &&
                   now >= c->cooldown_until[i]) {
            if (waiting[lag]) {
                c->held[i] = true;
                c->hold_since[i] = now;
                c->hold_lag[i] = lag;
                c->hold_lag_progress[i] = progress[lag];
                c->costops++;
            } else {
                c->skipped++;
            }
        }
        nheld += c->held[i];
    }
    return nheld;
}

void cosched_release_all(struct cosched *c, uint64_t now)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->held[i])
            release(c, i, now);
}
