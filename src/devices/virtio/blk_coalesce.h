/* virtio-blk interrupt coalescing: the decision, kept apart so unit tests
 * can drive it.
 *
 * While a queue still has requests being served on the host, its finished
 * ones may wait a little before they are published in the used ring (and
 * the driver interrupted): until three quarters of what the driver has
 * outstanding on the queue is done, and never longer than the disk's
 * coalesce_us (1000 by default; 0: off).  With nothing left in flight they go at once, so a driver
 * that waits for each request (queue depth 1) sees no added latency. */
#ifndef KVMM_DEVICES_VIRTIO_BLK_COALESCE_H
#define KVMM_DEVICES_VIRTIO_BLK_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

/* Quarters of the outstanding requests that must be done before the
 * held ones go (4: all of them). */
#ifndef BLK_COALESCE_QUARTERS
#define BLK_COALESCE_QUARTERS 3
#endif

/* done: completions pushed and not yet published; inflight: the queue's
 * requests still on the host; waited_ns: since the oldest held one was
 * done; bound_ns: coalesce_us in ns (0 = coalescing off).  True: hold. */
static inline bool blk_coalesce_hold(unsigned done, unsigned inflight, uint64_t waited_ns,
                                     uint64_t bound_ns)
{
    if (!bound_ns || !done || !inflight || waited_ns >= bound_ns)
        return false;
    return (uint64_t)done * 4 < ((uint64_t)done + inflight) * BLK_COALESCE_QUARTERS;
}

#endif
