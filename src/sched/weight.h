/* One weight scale for both cgroup layouts: cgroup v2's cpu.weight
 * (1..10000, default 100).  cgroup v1 takes cpu.shares (2..262144,
 * default 1024); the two are matched on a logarithmic curve through
 * 1<->2, 100<->1024 and 10000<->262144 (docs/scheduling.md). */
#ifndef KVMM_SCHED_WEIGHT_H
#define KVMM_SCHED_WEIGHT_H

#define SCHED_WEIGHT_MIN 1u
#define SCHED_WEIGHT_DEFAULT 100u
#define SCHED_WEIGHT_MAX 10000u
#define SCHED_SHARES_MIN 2u
#define SCHED_SHARES_DEFAULT 1024u
#define SCHED_SHARES_MAX 262144u

/* Out-of-range inputs are clamped first. */
unsigned sched_weight_to_shares(unsigned weight);
unsigned sched_shares_to_weight(unsigned shares);

#endif
