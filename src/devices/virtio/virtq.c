#include "devices/virtio/virtq.h"

#include <errno.h>
#include <string.h>

#include "mem/guest_mem.h"

/* The driver writes the rings concurrently: read each shared field once,
 * and order ring accesses against the index updates. */
#define load_acquire(p)   __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define full_fence()      __atomic_thread_fence(__ATOMIC_SEQ_CST)

static volatile uint16_t *avail_used_event(const struct virtq *vq)
{
    return &vq->avail->ring[vq->size];
}

static volatile uint16_t *used_avail_event(const struct virtq *vq)
{
    return (volatile uint16_t *)&vq->used->ring[vq->size];
}

int virtq_setup(struct virtq *vq, const struct guest_mem *mem, uint16_t size,
                gpa_t desc, gpa_t avail, gpa_t used, bool event_idx, bool indirect)
{
    void *d, *a, *u;

    virtq_reset(vq);
    if (size == 0 || (size & (size - 1)))
        return -EINVAL;
    if ((desc & 15) || (avail & 1) || (used & 3))
        return -EINVAL;
    d = guest_mem_ptr(mem, desc, 16ULL * size);
    a = guest_mem_ptr(mem, avail, 6 + 2ULL * size);
    u = guest_mem_ptr(mem, used, 6 + 8ULL * size);
    if (!d || !a || !u)
        return -EFAULT;
    vq->mem = mem;
    vq->size = size;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->ready = true;
    return 0;
}

void virtq_reset(struct virtq *vq)
{
    memset(vq, 0, sizeof(*vq));
}

unsigned virtq_pending(const struct virtq *vq)
{
    if (!vq->ready)
        return 0;
    return (uint16_t)(load_acquire(&vq->avail->idx) - vq->last_avail);
}

/* Walk state: the table being read (the ring's or an indirect one). */
struct walk {
    const struct virtq *vq;
    const volatile struct virtq_desc *table;
    unsigned tsize, seen;
    bool in_indirect, saw_write;
};

static void desc_fetch(const volatile struct virtq_desc *table, unsigned i, struct virtq_desc *out)
{
    out->addr = table[i].addr;
    out->len = table[i].len;
    out->flags = table[i].flags;
    out->next = table[i].next;
}

/* Switch the walk to the indirect table `d` describes. */
static int walk_enter_indirect(struct walk *w, const struct virtq_desc *d)
{
    void *t;

    if (!w->vq->indirect || w->in_indirect || (d->flags & VIRTQ_DESC_F_NEXT))
        return -EINVAL;
    if (d->len == 0 || d->len % sizeof(struct virtq_desc) ||
        d->len / sizeof(struct virtq_desc) > w->vq->size)
        return -EINVAL;
    if (d->addr % 8)
        return -EINVAL;     /* keeps the 64-bit field reads aligned */
    t = guest_mem_ptr(w->vq->mem, d->addr, d->len);
    if (!t)
        return -EFAULT;
    w->table = t;
    w->tsize = d->len / sizeof(struct virtq_desc);
    w->seen = 0;
    w->in_indirect = true;
    return 0;
}

static int walk_add_buf(struct walk *w, const struct virtq_desc *d, struct virtq_chain *c,
                        unsigned cap)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    void *p;

    if (!writable && w->saw_write)
        return -EINVAL;
    w->saw_write |= writable;
    if (writable)
        c->write_len += d->len;
    else
        c->read_len += d->len;
    if (c->read_len + c->write_len > UINT32_MAX)
        return -EINVAL;     /* the used ring's length is 32 bits */
    if (d->len == 0)
        return 0;
    p = guest_mem_ptr(w->vq->mem, d->addr, d->len);
    if (!p)
        return -EFAULT;
    if (c->n == cap)
        return -E2BIG;
    c->iov[c->n].iov_base = p;
    c->iov[c->n].iov_len = d->len;
    c->n++;
    if (!writable)
        c->nread++;
    return 0;
}

static int virtq_walk(struct virtq *vq, uint16_t head, struct virtq_chain *c,
                      struct iovec *iov, unsigned cap)
{
    struct walk w = { .vq = vq, .table = vq->desc, .tsize = vq->size };
    unsigned i = head;
    struct virtq_desc d;
    int ret;

    *c = (struct virtq_chain){ .head = head, .iov = iov };
    for (;;) {
        if (i >= w.tsize || ++w.seen > w.tsize)
            return -EINVAL;     /* bad index, loop, or longer than the table */
        desc_fetch(w.table, i, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            ret = walk_enter_indirect(&w, &d);
            if (ret)
                return ret;
            i = 0;
            continue;
        }
        ret = walk_add_buf(&w, &d, c, cap);
        if (ret)
            return ret;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        i = d.next;
    }
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c, struct iovec *iov, unsigned cap)
{
    uint16_t avail_idx, head;
    int ret;

    if (!vq->ready)
        return 0;
    avail_idx = load_acquire(&vq->avail->idx);
    if (avail_idx == vq->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
        return -EINVAL;
    head = vq->avail->ring[vq->last_avail & (vq->size - 1)];
    ret = virtq_walk(vq, head, c, iov, cap);
    if (ret)
        return ret;
    vq->last_avail++;
    return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
    volatile struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];

    e->id = head;
    e->len = len;
    vq->used_idx++;
}

/* virtio 1.2, 2.7.10: has new_idx passed event since old_idx? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_publish(struct virtq *vq)
{
    uint16_t old = vq->signalled;

    if (!vq->ready || vq->used_idx == old)
        return false;
    store_release(&vq->used->idx, vq->used_idx);
    vq->signalled = vq->used_idx;
    full_fence();   /* the index store before the driver's event field load */
    if (vq->event_idx)
        return need_event(*avail_used_event(vq), vq->used_idx, old);
    return !(vq->avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_interrupt_wanted(const struct virtq *vq, uint16_t since)
{
    if (!vq->ready || vq->used_idx == since)
        return false;
    full_fence();   /* the published index before the driver's event field */
    if (vq->event_idx)
        return need_event(*avail_used_event(vq), vq->used_idx, since);
    return !(vq->avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void virtq_kick_disable(struct virtq *vq)
{
    /* With event index a kick was asked for once, at the last
     * virtq_kick_enable(): the driver does not kick again until then. */
    if (vq->ready && !vq->event_idx)
        vq->used->flags = VIRTQ_USED_F_NO_NOTIFY;
}

bool virtq_kick_enable(struct virtq *vq)
{
    if (!vq->ready)
        return false;
    if (vq->event_idx)
        *used_avail_event(vq) = vq->last_avail;
    else if (vq->used->flags)
        vq->used->flags = 0;
    full_fence();   /* publish the event before looking for new buffers */
    return load_acquire(&vq->avail->idx) != vq->last_avail;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t skip, void *dst, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < c->nread && done < len; i++) {
        size_t l = c->iov[i].iov_len;

        if (skip >= l) {
            skip -= l;
            continue;
        }
        l = l - skip < len - done ? l - skip : len - done;
        memcpy((uint8_t *)dst + done, (uint8_t *)c->iov[i].iov_base + skip, l);
        done += l;
        skip = 0;
    }
    return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t skip, const void *src, size_t len)
{
    size_t done = 0;

    for (unsigned i = c->nread; i < c->n && done < len; i++) {
        size_t l = c->iov[i].iov_len;

        if (skip >= l) {
            skip -= l;
            continue;
        }
        l = l - skip < len - done ? l - skip : len - done;
        memcpy((uint8_t *)c->iov[i].iov_base + skip, (const uint8_t *)src + done, l);
        done += l;
        skip = 0;
    }
    return done;
}
