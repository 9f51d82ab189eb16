/* Split virtqueues (virtio 1.2, 2.7): the one descriptor-chain walker all
 * devices share, and the used-ring side with event-index suppression.
 *
 * Every address the driver hands us goes through guest_mem_ptr(); a chain
 * that breaks the ABI (loop, too long, nested or malformed indirect table,
 * readable after writable, outside RAM, length overflow) is rejected with
 * -EINVAL / -EFAULT before any buffer is touched.  Only guest_mem is
 * needed, so unit tests run it over malloc-backed memory. */
#ifndef KVMM_DEVICES_VIRTIO_VIRTQ_H
#define KVMM_DEVICES_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "types.h"

struct guest_mem;

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1
#define VIRTQ_MAX_SIZE        32768

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc layout");

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];    /* then le16 used_event */
};
_Static_assert(sizeof(struct virtq_avail) == 4, "virtq_avail layout");

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem layout");

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];  /* then le16 avail_event */
};
_Static_assert(sizeof(struct virtq_used) == 4, "virtq_used layout");

struct virtq {
    const struct guest_mem *mem;
    uint16_t size;
    bool event_idx, indirect;
    volatile struct virtq_desc *desc;   /* host views, checked at setup */
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint16_t last_avail;    /* next avail entry to take */
    uint16_t used_idx;      /* shadow of used->idx, published by virtq_publish */
    uint16_t signalled;     /* used_idx at the last interrupt */
    bool ready;
};

/* A popped chain: iov[0..nread) are readable by the device, iov[nread..n)
 * writable.  The caller provides iov of `cap` entries. */
struct virtq_chain {
    uint16_t head;
    unsigned n, nread;
    uint64_t read_len, write_len;
    struct iovec *iov;
};

/* Check the rings' placement (alignment, inside RAM) and make the queue
 * ready.  size must be a power of two <= VIRTQ_MAX_SIZE. */
int virtq_setup(struct virtq *vq, const struct guest_mem *mem, uint16_t size,
                gpa_t desc, gpa_t avail, gpa_t used, bool event_idx, bool indirect) WUR;
void virtq_reset(struct virtq *vq);

/* Take the next available chain.  1 = popped, 0 = ring empty,
 * -EINVAL/-EFAULT/-E2BIG = the driver broke the ABI (the chain is not
 * consumed).  -E2BIG: more than `cap` buffers. */
int virtq_pop(struct virtq *vq, struct virtq_chain *c, struct iovec *iov, unsigned cap) WUR;
/* Put a completed chain in the used ring (not yet visible to the driver). */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/* Make pushed entries visible with one used-index update; true when the
 * driver asked for an interrupt (event index or NO_INTERRUPT flag). */
bool virtq_publish(struct virtq *vq);
/* For a device that waits a little before raising an interrupt virtq_publish
 * asked for: true when the driver still wants one for the entries published
 * since used index `since` (it may have consumed them meanwhile and moved its
 * event index past them, or set NO_INTERRUPT). */
bool virtq_interrupt_wanted(const struct virtq *vq, uint16_t since);
/* Ask for a kick when the next buffer arrives; true when buffers arrived
 * already (the caller must pop again). */
bool virtq_kick_enable(struct virtq *vq);
/* Tell the driver not to kick while the device works through the ring
 * (VIRTQ_USED_F_NO_NOTIFY; implicit with event index). */
void virtq_kick_disable(struct virtq *vq);
/* Chains pushed and not yet published. */
static inline unsigned virtq_unpublished(const struct virtq *vq)
{
    return (uint16_t)(vq->used_idx - vq->signalled);
}
/* Chains in the avail ring not yet popped (0 when not ready). */
unsigned virtq_pending(const struct virtq *vq);

/* Copy up to len bytes from / to a chain's readable / writable part,
 * starting `skip` bytes into that part; returns bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t skip, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t skip, const void *src, size_t len);

#endif
