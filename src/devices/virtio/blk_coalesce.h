/* virtio-blk interrupt coalescing: the decisions, kept apart so unit tests
 * can drive them.
 *
 * While a queue still has requests being served on the host, its finished
 * ones may wait a little before they are published in the used ring (and
 * the driver interrupted): until three quarters of what the driver has
 * outstanding on the queue is done, and never longer than the disk's
 * coalesce_us (4000 by default; 0: off).  With nothing left in flight they
 * go at once, so a driver that waits for each request (queue depth 1) sees
 * no added latency.
 *
 * They also wait while the guest is still adding requests: a guest whose
 * vCPU has not halted since it last added one is busy (submitting more,
 * or taking earlier completions), and an interrupt now would only stop
 * it; a guest that waits for its I/O halts.  The queue learns the guest's
 * pace (the time between its requests while it runs) and holds until the
 * vCPU halts, or no request has come for a few of those gaps, or
 * coalesce_us has passed.  Where the vCPU's halts cannot be read, only a
 * guest that took more than one completion at the last publication and
 * has added requests since counts as submitting. */
#ifndef KVMM_DEVICES_VIRTIO_BLK_COALESCE_H
#define KVMM_DEVICES_VIRTIO_BLK_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

/* Quarters of the outstanding requests that must be done before the
 * held ones go (4: all of them). */
#ifndef BLK_COALESCE_QUARTERS
#define BLK_COALESCE_QUARTERS 3
#endif

/* The guest counts as still submitting for this many of its gaps after
 * its last request. */
#define BLK_PACE_GAPS 3
/* While it holds for a submitting guest, a queue looks at its ring once
 * per gap, but not more often than this. */
#define BLK_PACE_MIN_CHECK_NS 20000ULL

/* The vCPU's halt count when it cannot be read. */
#define BLK_PACE_NO_HALTS UINT64_MAX

/* The guest's submission pace on one queue. */
struct blk_pace {
    uint64_t last_ns;       /* when requests were last found in the ring; 0 = never */
    uint64_t gap_ns;        /* average time between its requests while it runs; 0 = unknown */
    uint64_t halts;         /* the vCPU's halt count at last_ns, or BLK_PACE_NO_HALTS */
    unsigned last_batch;    /* completions in the last publication */
    bool published;         /* something was published since last_ns */
};

/* Nothing said the guest stopped between last_ns and now: its vCPU did not
 * halt (halts: its count now), or, where halts cannot be read, nothing was
 * published. */
static inline bool blk_pace_busy(const struct blk_pace *p, uint64_t halts)
{
    if (halts != BLK_PACE_NO_HALTS && p->halts != BLK_PACE_NO_HALTS)
        return halts == p->halts;
    return !p->published;
}

/* n requests were found in the ring at now; halts: the vCPU's halt count
 * now.  An interval counts towards the pace only when the guest ran
 * through it (blk_pace_busy) and it is shorter than the bound. */
static inline void blk_pace_arrival(struct blk_pace *p, unsigned n, uint64_t now,
                                    uint64_t bound_ns, uint64_t halts)
{
    if (!n)
        return;
    if (p->last_ns && blk_pace_busy(p, halts) && now > p->last_ns &&
        now - p->last_ns < bound_ns) {
        uint64_t gap = (now - p->last_ns) / n;

        p->gap_ns = p->gap_ns ? (3 * p->gap_ns + gap) / 4 : gap;
    }
    p->last_ns = now;
    p->halts = halts;
    p->published = false;
}

/* n completions were published. */
static inline void blk_pace_published(struct blk_pace *p, unsigned n)
{
    p->last_batch = n;
    p->published = true;
}

/* How long after its last request the guest still counts as submitting
 * (0: it does not). */
static inline uint64_t blk_pace_window(const struct blk_pace *p, uint64_t bound_ns)
{
    uint64_t w;

    if (!bound_ns || !p->gap_ns)
        return 0;
    w = p->gap_ns * BLK_PACE_GAPS;
    return w < bound_ns / 2 ? w : bound_ns / 2;
}

/* True while the guest is still adding requests to the ring (halts: its
 * vCPU's halt count now). */
static inline bool blk_pace_streaming(const struct blk_pace *p, uint64_t now, uint64_t bound_ns,
                                      uint64_t halts)
{
    uint64_t w = blk_pace_window(p, bound_ns);

    if (!w || now < p->last_ns || now - p->last_ns >= w || !blk_pace_busy(p, halts))
        return false;
    /* Without halts, only a guest that took a batch last time. */
    return (halts != BLK_PACE_NO_HALTS && p->halts != BLK_PACE_NO_HALTS) || p->last_batch > 1;
}

/* done: completions pushed and not yet published; inflight: the queue's
 * requests still on the host; waited_ns: since the oldest held one was
 * done; bound_ns: coalesce_us in ns (0 = coalescing off); streaming: the
 * guest is still submitting (blk_pace_streaming).  True: hold. */
static inline bool blk_coalesce_hold(unsigned done, unsigned inflight, uint64_t waited_ns,
                                     uint64_t bound_ns, bool streaming)
{
    if (!bound_ns || !done || waited_ns >= bound_ns)
        return false;
    if (streaming)
        return true;
    if (!inflight)
        return false;
    return (uint64_t)done * 4 < ((uint64_t)done + inflight) * BLK_COALESCE_QUARTERS;
}

#endif
