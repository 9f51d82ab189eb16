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
    for (unsigned i = 0; i < COSCHED_VCPUS_MAX; i++)
        c->spread_from[i] = -1;
    cosched_set_bound(c, max_skew_ns);
}

uint64_t cosched_skew(unsigned n, const uint64_t *progress)
{
    uint64_t lo = UINT64_MAX, hi = 0;

    if (n < 2)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        lo = progress[i] < lo ? progress[i] : lo;
        hi = progress[i] > hi ? progress[i] : hi;
    }
    return hi - lo;
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
    uint64_t from = c->stopped[i] ? c->stopped_at[i] : now;

    c->held[i] = false;
    c->held_ns += now > from ? now - from : 0;
    c->stopped[i] = false;
}

void cosched_hold_entered(struct cosched *c, unsigned i, uint64_t at)
{
    if (i < c->n && c->held[i] && !c->stopped[i]) {
        c->stopped[i] = true;
        c->stopped_at[i] = at;
    }
}

/* Boost the VM's vCPUs while one is more than half a bound behind the
 * fastest, until all have stayed within a quarter of it for
 * COSCHED_CALM_BOUNDS bounds (hysteresis: every change is a few cgroup
 * writes, and the host's balancer needs time to settle on it).  All of them, at one weight: a boosted laggard
 * alone makes its CPU look heavy to the host's load balancer, which then
 * moves it onto its sibling's CPU, away from the foreign thread it was
 * meant to win against (measured: docs/scheduling.md). */
static void boost_update(struct cosched *c, uint64_t skew, uint64_t now)
{
    bool was = c->boosted[0], on;

    if (skew > c->max_skew_ns / 4)
        c->calm_since = 0;
    else if (!c->calm_since)
        c->calm_since = now ? now : 1;
    on = c->can_boost && (skew > c->max_skew_ns / 2 ||
                          (was && (!c->calm_since || now - c->calm_since < COSCHED_CALM_BOUNDS *
                                                                         c->max_skew_ns)));
    if (on == was)
        return;
    if (on) {
        c->boost_since = now;
        c->boosts++;
    } else {
        c->boosted_ns += now - c->boost_since;
    }
    for (unsigned i = 0; i < c->n; i++)
        c->boosted[i] = on;
}

/* A hold starts one controller tick (a quarter bound) before the bound:
 * the spread grows for up to a tick before the controller sees it, and
 * for as long again before the held vCPU leaves the guest, so a hold that
 * waited for the bound itself would let the skew pass it most times it
 * is reached. */
static uint64_t cosched_hold_at(const struct cosched *c)
{
    return c->max_skew_ns - c->max_skew_ns / 4;
}

uint64_t cosched_hold_pending_ns(const struct cosched *c)
{
    return COSCHED_HOLD_PENDING_BOUNDS * c->max_skew_ns;
}

/* vCPU i is ahead of the slowest (lag) by `ahead`: hold it, release it,
 * or leave it. */
static void hold_update(struct cosched *c, unsigned i, unsigned lag, uint64_t ahead,
                        const bool *waiting, uint64_t now)
{
    if (c->held[i]) {
        if (ahead <= c->max_skew_ns / 2) {
            release(c, i, now);
            c->useful++;
        } else if (c->stopped[i] && now - c->stopped_at[i] >= c->max_hold_ns &&
                   c->renew_ahead[i] > ahead && c->renew_ahead[i] - ahead >= c->max_hold_ns / 2) {
            /* Its whole time, and the laggard closed at least half of it:
             * another max_hold, not a timeout that would let the leader
             * run off again for a bound.  A laggard that got less than
             * half a CPU meanwhile does not keep it held. */
            c->stopped_at[i] = now;
            c->renew_ahead[i] = ahead;
            c->renewals++;
        } else if (c->stopped[i] ? now - c->stopped_at[i] >= c->max_hold_ns :
                   now - c->hold_since[i] >= cosched_hold_pending_ns(c)) {
            if (c->stopped[i])
                c->timeouts++;
            else
                c->lapsed++;
            release(c, i, now);
            c->cooldown_until[i] = now + c->max_skew_ns;
        }
    } else if (i != lag && ahead > cosched_hold_at(c) && now >= c->cooldown_until[i]) {
        /* Boosted, a laggard that runs closes the gap while its sibling
         * is held.  One that waits would be pulled onto the held vCPU's
         * idle CPU, and the released vCPU would queue behind it there:
         * the pair on one CPU, the worst case for a guest that needs both
         * at once.  Without a boost, holding helps only a laggard that
         * waits for a CPU: the held vCPU's CPU goes to it. */
        if (c->can_boost ? c->boosted[lag] && !waiting[lag] : waiting[lag]) {
            c->held[i] = true;
            c->hold_since[i] = now;
            c->renew_ahead[i] = ahead;
            c->stopped[i] = false;
            c->costops++;
        } else {
            c->skipped++;
        }
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
    for (unsigned i = 0; i < c->n; i++) {
        if (waiting[i] && !c->waited[i])
            c->wait_since[i] = now;
        c->waited[i] = waiting[i];
    }
    hist_add(c, hi - lo);
    boost_update(c, hi - lo, now);
    for (unsigned i = 0; i < c->n; i++) {
        hold_update(c, i, lag, progress[i] - lo, waiting, now);
        nheld += c->held[i];
    }
    return nheld;
}

/* Whether a vCPU other than i is on where[i]. */
static bool cpu_shared(const struct cosched *c, unsigned i, const int *where)
{
    for (unsigned j = 0; j < c->n; j++)
        if (j != i && where[j] == where[i])
            return true;
    return false;
}

/* A lagging vCPU that shares its CPU with a sibling leaves it: the pair
 * would take turns on one CPU while another may be free or shared with
 * a thread outside the VM (which the boost beats).  One of two laggards
 * on one CPU is enough; a move counts once, not at every tick that still
 * sees the thread there.  The moves end when the boost would. */
unsigned cosched_spread(struct cosched *c, const uint64_t *progress, const int *cpu,
                        const unsigned *ncpus, uint64_t now)
{
    int where[COSCHED_VCPUS_MAX];
    uint64_t hi = 0;
    unsigned moved = 0;
    bool held = false;

    if (c->n < 2)
        return 0;
    for (unsigned i = 0; i < c->n; i++)
        held |= c->held[i];
    if (held || (c->calm_since && now - c->calm_since >= COSCHED_CALM_BOUNDS * c->max_skew_ns)) {
        for (unsigned i = 0; i < c->n; i++)
            c->spread_from[i] = -1;
        return 0;
    }
    for (unsigned i = 0; i < c->n; i++) {
        hi = progress[i] > hi ? progress[i] : hi;
        where[i] = cpu[i];
        /* Moved, and waiting for a CPU ever since half a bound: where it
         * went is no better; let the host place it again. */
        if (c->spread_from[i] >= 0 && c->waited[i] && now - c->wait_since[i] >= c->max_skew_ns / 2) {
            c->spread_from[i] = -1;
            c->unspreads++;
        }
    }
    for (unsigned i = 0; i < c->n; i++) {
        if (hi - progress[i] <= c->max_skew_ns / 2 || cpu[i] < 0 || ncpus[i] < 2 ||
            c->spread_from[i] == cpu[i] || !cpu_shared(c, i, where))
            continue;
        c->spread_from[i] = cpu[i];
        where[i] = -1;          /* on its way out: no sibling there any more */
        c->spreads++;
        moved++;
    }
    return moved;
}

void cosched_unspread(struct cosched *c, unsigned i)
{
    if (i < c->n)
        c->spread_from[i] = -1;
}

void cosched_release_all(struct cosched *c, uint64_t now)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->held[i])
            release(c, i, now);
    if (c->n && c->boosted[0])
        c->boosted_ns += now - c->boost_since;
    memset(c->boosted, 0, sizeof(c->boosted));
    for (unsigned i = 0; i < c->n; i++)
        c->spread_from[i] = -1;
}
