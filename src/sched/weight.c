/*
 * Weight <-> shares.  No single power law passes through all three anchor
 * points (log2 of the shares is 1, 10, 18 where log10 of the weight is
 * 0, 2, 4: the slope changes from 4.5 to 4), so the curve is a parabola in
 * log space: with s = log2(shares) and w = log10(weight),
 *
 *     w = (s^2 + 125 s) / 612 - 7/34
 *
 * (the three conditions a + b + c = 0, 100a + 10b + c = 2,
 * 324a + 18b + c = 4 give a = 1/612, b = 125/612, c = -7/34).  The inverse
 * is the positive root of s^2 + 125 s - 612 (w + 7/34) = 0.
 */
#include "sched/weight.h"

#include <math.h>

static unsigned clamp_u(unsigned v, unsigned lo, unsigned hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

unsigned sched_weight_to_shares(unsigned weight)
{
    double w = log10((double)clamp_u(weight, SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX));
    double s = (-125.0 + sqrt(125.0 * 125.0 + 4.0 * 612.0 * (w + 7.0 / 34.0))) / 2.0;

    return clamp_u((unsigned)lround(exp2(s)), SCHED_SHARES_MIN, SCHED_SHARES_MAX);
}

unsigned sched_shares_to_weight(unsigned shares)
{
    double s = log2((double)clamp_u(shares, SCHED_SHARES_MIN, SCHED_SHARES_MAX));
    double w = (s * s + 125.0 * s) / 612.0 - 7.0 / 34.0;

    return clamp_u((unsigned)lround(pow(10.0, w)), SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX);
}
