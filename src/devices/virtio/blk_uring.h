/* io_uring helpers for virtio-blk, kept apart so unit tests can drive them. */
#ifndef KVMM_DEVICES_VIRTIO_BLK_URING_H
#define KVMM_DEVICES_VIRTIO_BLK_URING_H

#include <errno.h>
#include <liburing.h>

/* Wait for the next completion.  A signal (the kick that pauses or stops a
 * vCPU, which is installed without SA_RESTART) or a momentarily busy ring
 * does not end the wait: a request still in flight writes guest memory when
 * it completes, so whoever waits for it must not give up early.  Returns 0
 * with *cqe set, or the ring's error when waiting can no longer work. */
static inline int blk_uring_wait(struct io_uring *ring, struct io_uring_cqe **cqe)
{
    int ret;

    do
        ret = io_uring_wait_cqe(ring, cqe);
    while (ret == -EINTR || ret == -EAGAIN || ret == -ETIME);
    return ret;
}

#endif
