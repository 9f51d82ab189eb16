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
    /* long enough for a preempted laggard to get a few host time slices */
    c->max_hold_ns = 10 * c->max_skew_ns < 20000000ull ? 20000000ull : 10 * c->max_skew_ns;
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

static void release(struct cosched *c, unsigned i, uint64_t now, bool forced)
{
    c->held[i] = false;
    c->held_ns += now - c->hold_since[i];
    if (forced) {
        c->forced_releases++;
        c->cooldown_until[i] = now + c->max_skew_ns;
    }
}

unsigned cosched_step(struct cosched *c, const uint64_t *progress, uint64_t now)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned nheld = 0;

    if (c->n < 2)
        return 0;
    for (unsigned i = 0; i < c->n; i++) {
        lo = progress[i] < lo ? progress[i] : lo;
        hi = progress[i] > hi ? progress[i] : hi;
    }
    hist_add(c, hi - lo);
    for (unsigned i = 0; i < c->n; i++) {
        uint64_t ahead = progress[i] - lo;

        if (c->held[i]) {
            if (now - c->hold_since[i] >= c->max_hold_ns)
                release(c, i, now, true);
            else if (ahead <= c->max_skew_ns / 2)
                release(c, i, now, false);
        } else if (ahead > c->max_skew_ns && now >= c->cooldown_until[i]) {
            c->held[i] = true;
            c->hold_since[i] = now;
            c->costops++;
        }
        nheld += c->held[i];
    }
    return nheld;
}

void cosched_release_all(struct cosched *c, uint64_t now)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->held[i])
            release(c, i, now, false);
}
