/* virtio-blk (virtio 1.2, 5.2) over a raw image.
 *
 * One request queue per vCPU by default (VIRTIO_BLK_F_MQ; the driver maps
 * each CPU to a queue and each queue's interrupt to its CPU); all queues
 * share the disk's io_uring and request slots.  On a kick the I/O thread
 * drains every available request of that queue and submits them with one
 * io_uring_submit(); completions are reaped in batches from the ring's
 * eventfd and published per queue with one used-index update and at most
 * one interrupt, which may wait a little while the queue still has
 * requests in flight (blk_coalesce.h).  Without io_uring
 * (io_uring_queue_init fails, or KVMM_NO_IO_URING=1) requests run
 * synchronously on the I/O thread; with KVMM_BLK_INLINE=1 so do reads
 * and writes of an image held in memory (tmpfs, ramfs) with
 * cache=writeback, which io_uring would hand to a kernel worker thread
 * (off by default: completing at once, they leave nothing to coalesce,
 * and measured fewer IOPS at queue depth 32, docs/benchmarks.md). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "devices/device.h"
#include "devices/virtio/blk_coalesce.h"
#include "devices/virtio/blk_uring.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtq.h"
#include "spec.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define BLK_QUEUE_SIZE   256
#define BLK_SEG_MAX      126          /* data buffers per request */
#define BLK_IOV_MAX      (BLK_SEG_MAX + 2)
#define BLK_SECTOR       512ULL
#define BLK_ALIGN        512          /* O_DIRECT buffer and length alignment */
#define BLK_ZERO_MAX_SECTORS 0x3fffffU
#define PCI_CLASS_STORAGE_OTHER 0x018000

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_ID_BYTES       20
#define VIRTIO_BLK_WZ_UNMAP       1

struct virtio_blk_config {
    uint64_t capacity;
    uint32_t size_max, seg_max;
    uint16_t cylinders;
    uint8_t heads, sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp, alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback, unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config layout");

struct virtio_blk_outhdr {
    uint32_t type, reserved;
    uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio_blk_outhdr layout");

struct virtio_blk_discard_wz {
    uint64_t sector;
    uint32_t num_sectors, flags;
};
_Static_assert(sizeof(struct virtio_blk_discard_wz) == 16, "discard segment layout");

struct blk_disk;

struct blk_req {
    struct blk_disk *disk;
    struct blk_req *next_free;
    uint16_t q;                 /* the queue it came from */
    uint16_t head;
    uint32_t type;
    uint64_t offset;
    size_t len;                 /* data bytes */
    struct iovec iov[BLK_IOV_MAX];
    struct iovec *data;         /* the data buffers, inside iov */
    unsigned ndata;
    uint8_t *status;
    void *bounce;               /* O_DIRECT copy of unaligned buffers */
    struct iovec bounce_iov;
};

struct blk_stats {
    uint64_t requests, read_bytes, write_bytes, flushes, discards, errors;
    uint64_t submits, submitted, completions, reaps, max_batch, held, inline_rw;
    uint64_t stream_holds, halt_releases;
};

struct blk_queue {
    unsigned inflight;          /* its requests in io_uring */
    uint64_t held_since;        /* when completions started to wait; 0 = none wait */
    bool starved;               /* requests left in the ring for lack of slots */
    bool quiet;                 /* guest kicks off: completions look at the ring */
    struct blk_pace pace;       /* the guest's submission pace (blk_coalesce.h) */
};

struct blk_disk {
    struct vm *vm;
    const struct spec_disk *spec;
    char name[8];               /* vda, vdb... as Linux will likely name it */
    int fd;
    uint64_t size;
    bool direct, read_only, warned_error;
    bool inline_rw;             /* memory-backed image: reads and writes in line */
    unsigned nq;
    uint64_t coalesce_ns;
    bool pace, pace_halts;      /* hold for a submitting guest; read its vCPU's halts */
    int deadline;               /* evloop deadline id of held completions */
    int poll;                   /* evloop deadline id of the ring check while quiet */
    struct blk_queue q[SPEC_DISK_QUEUES_MAX];
    struct virtio_dev *vdev;
    struct virtio_dev_ops ops;
    struct virtio_blk_config config;
    bool uring;
    bool orphaned;              /* a reset could not wait for in-flight I/O: the VM stops */
    struct io_uring ring;
    int cq_fd;
    unsigned inflight;
    struct blk_req *free;
    struct blk_req reqs[BLK_QUEUE_SIZE];
    struct blk_stats st;
};

struct blk {
    struct blk_disk **disks;
    size_t n;
};

#define STAT_ADD(d, field, v) __atomic_fetch_add(&(d)->st.field, (v), __ATOMIC_RELAXED)

static void blk_disk_kick(void *dev, unsigned q);

/* ---- request life cycle ---------------------------------------------- */

static struct blk_req *blk_req_get(struct blk_disk *d)
{
    struct blk_req *r = d->free;

    if (r)
        d->free = r->next_free;
    return r;
}

static void blk_req_put(struct blk_disk *d, struct blk_req *r)
{
    free(r->bounce);
    r->bounce = NULL;
    r->next_free = d->free;
    d->free = r;
}

static void blk_req_error(struct blk_disk *d, const char *what, int err)
{
    STAT_ADD(d, errors, 1);
    if (!d->warned_error) {
        d->warned_error = true;     /* once per disk: the guest sees the status */
        log_warn("%s: %s: %s failed: %s", vm_name(d->vm), d->name, what, strerror(err));
    }
}

/* Write the status byte and put the chain in the used ring. */
static void blk_req_complete(struct blk_disk *d, struct blk_req *r, uint8_t status)
{
    uint32_t used = 1;

    if (r->bounce && r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK) {
        size_t off = 0;

        for (unsigned i = 0; i < r->ndata; i++) {
            memcpy(r->data[i].iov_base, (uint8_t *)r->bounce + off, r->data[i].iov_len);
            off += r->data[i].iov_len;
        }
    }
    if (r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK) {
        used += (uint32_t)r->len;
        STAT_ADD(d, read_bytes, r->len);
    } else if (r->type == VIRTIO_BLK_T_OUT && status == VIRTIO_BLK_S_OK) {
        STAT_ADD(d, write_bytes, r->len);
    } else if (r->type == VIRTIO_BLK_T_GET_ID) {
        used += (uint32_t)r->len;
    }
    *r->status = status;
    virtq_push(virtio_queue(d->vdev, r->q), r->head, used);
    blk_req_put(d, r);
}

/* Split a chain into header, data and status.  Data keeps only the bytes
 * between the 16-byte header and the final status byte. */
static int blk_req_parse(struct blk_req *r, const struct virtq_chain *c)
{
    struct virtio_blk_outhdr h;
    unsigned n = 0;
    size_t skip = sizeof(h);

    if (c->read_len < sizeof(h) || c->write_len < 1 ||
        virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
        return -EINVAL;
    r->head = c->head;
    r->type = h.type;
    r->offset = h.sector;
    for (unsigned i = 0; i < c->n; i++) {
        struct iovec v = c->iov[i];

        if (i < c->nread) {
            size_t s = skip < v.iov_len ? skip : v.iov_len;

            skip -= s;
            v.iov_base = (uint8_t *)v.iov_base + s;
            v.iov_len -= s;
        }
        if (i == c->n - 1) {
            r->status = (uint8_t *)v.iov_base + v.iov_len - 1;
            v.iov_len--;
        }
        if (v.iov_len)
            r->iov[n++] = v;
    }
    r->data = r->iov;
    r->ndata = n;
    r->len = 0;
    for (unsigned i = 0; i < n; i++)
        r->len += r->iov[i].iov_len;
    return 0;
}

static bool blk_range_ok(const struct blk_disk *d, uint64_t sector, uint64_t len)
{
    return sector <= d->size / BLK_SECTOR && len <= d->size - sector * BLK_SECTOR;
}

/* ---- synchronous requests -------------------------------------------- */

static uint8_t blk_get_id(struct blk_disk *d, struct blk_req *r)
{
    char id[VIRTIO_BLK_ID_BYTES] = { 0 };
    size_t off = 0, n;

    memcpy(id, d->spec->serial, strnlen(d->spec->serial, sizeof(id)));
    for (unsigned i = 0; i < r->ndata && off < sizeof(id); i++) {
        n = r->data[i].iov_len < sizeof(id) - off ? r->data[i].iov_len : sizeof(id) - off;
        memcpy(r->data[i].iov_base, id + off, n);
        off += n;
    }
    r->len = off;
    return VIRTIO_BLK_S_OK;
}

static int blk_punch(struct blk_disk *d, uint64_t off, uint64_t len, bool zero)
{
    int mode = zero ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

    if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (zero && (errno == EOPNOTSUPP || errno == EINVAL) &&
        fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return -errno;
}

/* DISCARD and WRITE_ZEROES: one segment per request (max_*_seg = 1). */
static uint8_t blk_discard(struct blk_disk *d, struct blk_req *r)
{
    bool zero = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
    struct virtio_blk_discard_wz seg;
    uint64_t len;
    int ret;

    if (d->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (r->ndata != 1 || r->data[0].iov_len != sizeof(seg))
        return VIRTIO_BLK_S_UNSUPP;
    memcpy(&seg, r->data[0].iov_base, sizeof(seg));
    len = (uint64_t)seg.num_sectors * BLK_SECTOR;
    if (seg.flags & ~(uint32_t)(zero ? VIRTIO_BLK_WZ_UNMAP : 0))
        return VIRTIO_BLK_S_UNSUPP;
    if (!blk_range_ok(d, seg.sector, len))
        return VIRTIO_BLK_S_IOERR;
    STAT_ADD(d, discards, 1);
    r->len = 0;
    ret = blk_punch(d, seg.sector * BLK_SECTOR, len, zero);
    if (ret && !zero)
        return VIRTIO_BLK_S_OK;     /* discard is a hint */
    if (ret) {
        blk_req_error(d, "write-zeroes", -ret);
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t blk_rw_sync(struct blk_disk *d, struct blk_req *r)
{
    const struct iovec *iov = r->bounce ? &r->bounce_iov : r->data;
    int n = r->bounce ? 1 : (int)r->ndata;
    size_t done = 0;
    ssize_t ret;

    if (r->type == VIRTIO_BLK_T_FLUSH) {
        if (fdatasync(d->fd) == 0)
            return VIRTIO_BLK_S_OK;
        blk_req_error(d, "flush", errno);
        return VIRTIO_BLK_S_IOERR;
    }
    while (done < r->len) {
        struct iovec tmp[BLK_IOV_MAX];
        int cnt = 0;
        size_t skip = done;

        for (int i = 0; i < n; i++) {       /* the part not done yet */
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            tmp[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
            tmp[cnt++].iov_len = iov[i].iov_len - skip;
            skip = 0;
        }
        ret = r->type == VIRTIO_BLK_T_IN ? preadv(d->fd, tmp, cnt, (off_t)(r->offset + done))
                                         : pwritev(d->fd, tmp, cnt, (off_t)(r->offset + done));
        if (ret < 0 && errno == EINTR)
            continue;
        if (ret <= 0) {
            blk_req_error(d, r->type == VIRTIO_BLK_T_IN ? "read" : "write", ret ? errno : EIO);
            return VIRTIO_BLK_S_IOERR;
        }
        done += (size_t)ret;
    }
    return VIRTIO_BLK_S_OK;
}

/* ---- io_uring ----------------------------------------------------------- */

static bool blk_iov_aligned(const struct blk_req *r)
{
    for (unsigned i = 0; i < r->ndata; i++)
        if (((uintptr_t)r->data[i].iov_base | r->data[i].iov_len) & (BLK_ALIGN - 1))
            return false;
    return true;
}

/* O_DIRECT needs aligned buffers: copy through an aligned one if not. */
static int blk_bounce_setup(struct blk_req *r)
{
    size_t off = 0;

    if (posix_memalign(&r->bounce, 4096, r->len ? r->len : BLK_ALIGN))
        return -ENOMEM;
    r->bounce_iov.iov_base = r->bounce;
    r->bounce_iov.iov_len = r->len;
    if (r->type == VIRTIO_BLK_T_OUT)
        for (unsigned i = 0; i < r->ndata; i++) {
            memcpy((uint8_t *)r->bounce + off, r->data[i].iov_base, r->data[i].iov_len);
            off += r->data[i].iov_len;
        }
    return 0;
}

static void blk_uring_prep(struct blk_disk *d, struct blk_req *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
    const struct iovec *iov = r->bounce ? &r->bounce_iov : r->data;
    unsigned n = r->bounce ? 1 : r->ndata;

    if (!sqe) {     /* cannot happen: the SQ has a slot per request */
        io_uring_submit(&d->ring);
        STAT_ADD(d, submits, 1);
        sqe = io_uring_get_sqe(&d->ring);
    }
    if (r->type == VIRTIO_BLK_T_IN)
        io_uring_prep_readv(sqe, d->fd, iov, n, r->offset);
    else if (r->type == VIRTIO_BLK_T_OUT)
        io_uring_prep_writev(sqe, d->fd, iov, n, r->offset);
    else
        io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data(sqe, r);
    d->inflight++;
    d->q[r->q].inflight++;
}

static uint8_t blk_uring_status(struct blk_disk *d, const struct blk_req *r, int res)
{
    const char *what = r->type == VIRTIO_BLK_T_IN ? "read" :
                       r->type == VIRTIO_BLK_T_OUT ? "write" : "flush";

    if (res < 0) {
        blk_req_error(d, what, -res);
        return VIRTIO_BLK_S_IOERR;
    }
    if (r->type != VIRTIO_BLK_T_FLUSH && (size_t)res != r->len) {
        blk_req_error(d, what, EIO);    /* short transfer inside the image */
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* The halt count of the vCPU that queue qi interrupts (the guest's choice
 * in the MSI-X table), or BLK_PACE_NO_HALTS. */
static uint64_t blk_queue_halts(struct blk_disk *d, unsigned qi)
{
    struct vcpu *v;
    uint64_t n;
    int dest;

    if (!d->pace_halts)
        return BLK_PACE_NO_HALTS;
    dest = virtio_queue_dest(d->vdev, qi);
    v = dest < 0 ? NULL : vm_vcpu(d->vm, (unsigned)dest);
    if (!v || vcpu_halt_count(v, &n) || n == BLK_PACE_NO_HALTS)
        return BLK_PACE_NO_HALTS;
    return n;
}

/* Publish queue qi's completions and interrupt the driver if it asked,
 * unless they may wait for more (blk_coalesce.h). */
static void blk_queue_flush(struct blk_disk *d, unsigned qi)
{
    struct virtq *vq = virtio_queue(d->vdev, qi);
    struct blk_queue *bq = &d->q[qi];
    unsigned done = virtq_unpublished(vq);
    bool streaming = false;
    uint64_t now, wait, window;

    if (!done || d->orphaned)
        return;
    if (d->coalesce_ns) {
        now = evloop_now_ns();
        if (!bq->held_since)
            bq->held_since = now;
        window = d->pace ? blk_pace_window(&bq->pace, d->coalesce_ns) : 0;
        if (window && now - bq->pace.last_ns < window) {
            streaming = blk_pace_streaming(&bq->pace, now, d->coalesce_ns,
                                           blk_queue_halts(d, qi));
            if (!streaming)
                STAT_ADD(d, halt_releases, 1);
        }
        if (blk_coalesce_hold(done, bq->inflight, now - bq->held_since, d->coalesce_ns,
                              streaming)) {
            wait = bq->held_since + d->coalesce_ns - now;
            if (streaming && !bq->inflight) {
                /* Look again when the guest would have added its next
                 * request, and give up when it stopped. */
                uint64_t w = bq->pace.last_ns + window - now;
                uint64_t gap = bq->pace.gap_ns < BLK_PACE_MIN_CHECK_NS ? BLK_PACE_MIN_CHECK_NS :
                                                                         bq->pace.gap_ns;

                wait = wait < w ? wait : w;
                wait = wait < gap ? wait : gap;
                STAT_ADD(d, stream_holds, 1);
            }
            evloop_deadline_arm(vm_evloop(d->vm), d->deadline, wait);
            STAT_ADD(d, held, 1);
            return;
        }
    }
    bq->held_since = 0;
    blk_pace_published(&bq->pace, done);
    if (virtq_publish(vq))
        virtio_queue_interrupt(d->vdev, qi);
}

/* The coalescing bound passed, or a held queue's guest may have added
 * requests: look at the rings and publish what need not wait. */
static void blk_deadline(void *opaque, uint32_t events)
{
    struct blk_disk *d = opaque;

    virtio_dev_lock(d->vdev);
    for (unsigned i = 0; i < d->nq; i++) {
        if (d->q[i].quiet)
            blk_disk_kick(d, i);
        else
            blk_queue_flush(d, i);
    }
    virtio_dev_unlock(d->vdev);
}

/* Requests in flight and kicks off for a while: look at the rings. */
static void blk_poll_deadline(void *opaque, uint32_t events)
{
    struct blk_disk *d = opaque;

    virtio_dev_lock(d->vdev);
    for (unsigned i = 0; i < d->nq; i++)
        if (d->q[i].quiet)
            blk_disk_kick(d, i);
    virtio_dev_unlock(d->vdev);
}

/* Reap every completion; returns the mask of queues that had some. */
static unsigned blk_uring_reap(struct blk_disk *d)
{
    unsigned touched = 0;
    struct io_uring_cqe *cqes[BLK_QUEUE_SIZE];
    unsigned n, total = 0;

    while ((n = io_uring_peek_batch_cqe(&d->ring, cqes, BLK_QUEUE_SIZE)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            struct blk_req *r = io_uring_cqe_get_data(cqes[i]);

            if (d->orphaned) {      /* the rings are gone: only release it */
                blk_req_put(d, r);
                continue;
            }
            touched |= 1u << r->q;
            d->q[r->q].inflight--;
            blk_req_complete(d, r, blk_uring_status(d, r, cqes[i]->res));
        }
        io_uring_cq_advance(&d->ring, n);
        d->inflight -= n;
        total += n;
    }
    if (total) {
        STAT_ADD(d, completions, total);
        STAT_ADD(d, reaps, 1);
    }
    return touched;
}

static void blk_cq_event(void *opaque, uint32_t events)
{
    struct blk_disk *d = opaque;
    unsigned touched;
    uint64_t v;

    if (read(d->cq_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    virtio_dev_lock(d->vdev);
    touched = blk_uring_reap(d);
    for (unsigned i = 0; i < d->nq && !d->orphaned; i++) {
        if (d->q[i].starved || d->q[i].quiet) {
            d->q[i].starved = false;
            blk_disk_kick(d, i);    /* flushes queue i too */
        } else if (touched & (1u << i)) {
            blk_queue_flush(d, i);
        }
    }
    virtio_dev_unlock(d->vdev);
}

/* ---- the queue ------------------------------------------------------------ */

/* Start one request: true when it went to io_uring, false when it was
 * completed here. */
static bool blk_req_start(struct blk_disk *d, struct blk_req *r)
{
    bool rw = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;
    uint8_t status;

    STAT_ADD(d, requests, 1);
    if (r->type == VIRTIO_BLK_T_GET_ID) {
        status = blk_get_id(d, r);
    } else if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
        status = blk_discard(d, r);
    } else if (!rw && r->type != VIRTIO_BLK_T_FLUSH) {
        status = VIRTIO_BLK_S_UNSUPP;
    } else if (r->type == VIRTIO_BLK_T_OUT && d->read_only) {
        status = VIRTIO_BLK_S_IOERR;
        STAT_ADD(d, errors, 1);
    } else if (rw && (r->offset > UINT64_MAX / BLK_SECTOR || !blk_range_ok(d, r->offset, r->len))) {
        status = VIRTIO_BLK_S_IOERR;
        STAT_ADD(d, errors, 1);
    } else {
        if (rw)
            r->offset *= BLK_SECTOR;
        else
            STAT_ADD(d, flushes, 1);
        if (rw && d->direct && !blk_iov_aligned(r) && blk_bounce_setup(r)) {
            status = VIRTIO_BLK_S_IOERR;
        } else if (d->uring && !(rw && d->inline_rw)) {
            blk_uring_prep(d, r);
            return true;
        } else {
            if (rw && d->inline_rw)
                STAT_ADD(d, inline_rw, 1);
            status = blk_rw_sync(d, r);
        }
    }
    blk_req_complete(d, r, status);
    return false;
}

/* Pop and start everything available; returns requests sent to io_uring,
 * or -1 when the driver broke the ring. */
static int blk_drain(struct blk_disk *d, struct virtq *vq, unsigned qi, unsigned *popped)
{
    struct virtq_chain c;
    struct blk_req *r;
    int queued = 0, ret;

    while ((r = blk_req_get(d))) {
        ret = virtq_pop(vq, &c, r->iov, BLK_IOV_MAX);
        if (ret <= 0) {
            blk_req_put(d, r);
            if (ret == 0)
                return queued;
            virtio_dev_fail(d->vdev, "%s: malformed descriptor chain (%d)", d->name, ret);
            return -1;
        }
        r->q = (uint16_t)qi;
        (*popped)++;
        if (blk_req_parse(r, &c)) {
            virtio_dev_fail(d->vdev, "%s: request without header or status byte", d->name);
            blk_req_put(d, r);
            return -1;
        }
        queued += blk_req_start(d, r);
    }
    d->q[qi].starved = true;    /* every slot is in flight; retry on completion */
    return queued;
}

/* While a queue has requests in flight or completions held back, the
 * guest need not kick: each completion and each look at the held ones
 * check its ring, and so does a check coalesce_us after the last look, so
 * a request that arrives while the others take long waits no longer than
 * that.  With nothing in flight or held, kicks are back on. */
static bool blk_queue_quiet(struct blk_disk *d, struct virtq *vq, unsigned q)
{
    struct evloop *loop = vm_evloop(d->vm);

    d->q[q].quiet = d->coalesce_ns && (d->q[q].inflight || virtq_unpublished(vq));
    if (!d->q[q].quiet)
        return false;
    virtq_kick_disable(vq);
    evloop_deadline_cancel(loop, d->poll);
    evloop_deadline_arm(loop, d->poll, d->coalesce_ns);
    return true;
}

static void blk_disk_kick(void *dev, unsigned q)
{
    struct blk_disk *d = dev;
    struct virtq *vq = virtio_queue(d->vdev, q);
    int queued = 0, n;
    unsigned popped;

    if (virtio_dev_broken(d->vdev) || d->orphaned)
        return;     /* also called from completions and deadlines */
    for (;;) {
        popped = 0;
        n = blk_drain(d, vq, q, &popped);
        if (n < 0)
            break;
        queued += n;
        if (d->coalesce_ns && d->pace && popped)
            blk_pace_arrival(&d->q[q].pace, popped, evloop_now_ns(), d->coalesce_ns,
                             blk_queue_halts(d, q));
        if (d->q[q].starved)
            break;
        /* Publish or hold before choosing between kicks and looks. */
        blk_queue_flush(d, q);
        if (blk_queue_quiet(d, vq, q) || !virtq_kick_enable(vq))
            break;
    }
    if (queued) {
        io_uring_submit(&d->ring);
        STAT_ADD(d, submits, 1);
        STAT_ADD(d, submitted, (uint64_t)queued);
        if ((uint64_t)queued > d->st.max_batch)
            __atomic_store_n(&d->st.max_batch, (uint64_t)queued, __ATOMIC_RELAXED);
    }
    if (d->q[q].starved || n < 0)
        blk_queue_flush(d, q);
}

/* Driver reset: wait for what is in flight, then forget it.  The guest
 * gets its buffers back with the reset, so nothing may still be writing
 * them: if the wait itself fails, the VM stops and the requests are only
 * released as they complete (blk_uring_reap). */
static void blk_disk_reset(void *dev)
{
    struct blk_disk *d = dev;
    struct io_uring_cqe *cqe;
    int ret;

    while (d->uring && d->inflight && !d->orphaned) {
        ret = blk_uring_wait(&d->ring, &cqe);
        if (ret) {
            d->orphaned = true;
            vm_request_stop(d->vm, VM_STOP_INTERNAL_ERROR, 1,
                            "%s: device reset cannot wait for %u requests in flight: %s",
                            d->name, d->inflight, strerror(-ret));
            return;
        }
        blk_req_put(d, io_uring_cqe_get_data(cqe));
        io_uring_cqe_seen(&d->ring, cqe);
        d->inflight--;
    }
    memset(d->q, 0, sizeof(d->q));
}

static void blk_config_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
    struct blk_disk *d = dev;

    memcpy(data, (const uint8_t *)&d->config + off, len);
}

static const struct virtio_dev_ops blk_ops_template = {
    .name = "blk", .device_id = VIRTIO_ID_BLOCK, .class_code = PCI_CLASS_STORAGE_OTHER,
    .queue_size = BLK_QUEUE_SIZE, .config_size = sizeof(struct virtio_blk_config),
    .config_read = blk_config_read, .queue_kick = blk_disk_kick, .reset = blk_disk_reset,
};

/* ---- creation ---------------------------------------------------------------- */

/* An image whose pages live in memory (tmpfs, ramfs): reading or writing
 * it is a copy that does not sleep on a device. */
static bool blk_in_memory(int fd)
{
    const char *env = getenv("KVMM_BLK_INLINE");
    struct statfs sf;

    if (!env || strcmp(env, "1"))
        return false;
    if (fstatfs(fd, &sf))
        return false;
    return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* KVMM_BLK_PACE=0: no holding for a submitting guest; =nohalt: hold
 * without reading its vCPU's halts. */
static void blk_pace_setup(struct blk_disk *d)
{
    const char *env = getenv("KVMM_BLK_PACE");

    d->pace = !env || strcmp(env, "0");
    d->pace_halts = d->pace && !(env && !strcmp(env, "nohalt"));
}

static int blk_open(struct blk_disk *d)
{
    int flags = (d->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    struct stat st;

    d->fd = open(d->spec->path, flags | (d->direct ? O_DIRECT : 0));
    if (d->fd < 0 && d->direct && errno == EINVAL) {
        log_warn("%s: %s: the file system of %s has no O_DIRECT; using cache=writeback",
                 vm_name(d->vm), d->name, d->spec->path);
        d->direct = false;
        d->fd = open(d->spec->path, flags);
    }
    if (d->fd < 0)
        return -errno;
    if (fstat(d->fd, &st))
        return -errno;
    if (S_ISBLK(st.st_mode))
        return ioctl(d->fd, BLKGETSIZE64, &d->size) ? -errno : 0;
    d->size = (uint64_t)st.st_size;
    d->inline_rw = !d->direct && blk_in_memory(d->fd);
    if (d->size % BLK_SECTOR)
        log_warn("%s: %s: image size is not a multiple of 512; the last %llu bytes are unused",
                 vm_name(d->vm), d->name, (unsigned long long)(d->size % BLK_SECTOR));
    return 0;
}

static void blk_config_init(struct blk_disk *d)
{
    struct virtio_blk_config *c = &d->config;

    c->capacity = d->size / BLK_SECTOR;
    c->seg_max = BLK_SEG_MAX;
    c->blk_size = BLK_SECTOR;
    c->num_queues = (uint16_t)d->nq;
    c->max_discard_sectors = BLK_ZERO_MAX_SECTORS;
    c->max_discard_seg = 1;
    c->discard_sector_alignment = 1;
    c->max_write_zeroes_sectors = BLK_ZERO_MAX_SECTORS;
    c->max_write_zeroes_seg = 1;
    c->write_zeroes_may_unmap = 1;
    d->ops = blk_ops_template;
    d->ops.nqueues = d->nq;
    d->ops.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
                      (1ULL << VIRTIO_BLK_F_FLUSH);
    if (d->nq > 1)
        d->ops.features |= 1ULL << VIRTIO_BLK_F_MQ;
    if (d->read_only)
        d->ops.features |= 1ULL << VIRTIO_BLK_F_RO;
    else
        d->ops.features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
}

/* io_uring when the host allows it, else synchronous I/O. */
static int blk_uring_init(struct blk_disk *d)
{
    const char *off = getenv("KVMM_NO_IO_URING");
    int ret;

    if (off && *off && strcmp(off, "0")) {
        log_info("%s: %s: io_uring off (KVMM_NO_IO_URING): synchronous I/O", vm_name(d->vm), d->name);
        return 0;
    }
    ret = io_uring_queue_init(BLK_QUEUE_SIZE, &d->ring, 0);
    if (ret < 0) {
        log_warn("%s: %s: io_uring unavailable (%s): synchronous I/O on the I/O thread",
                 vm_name(d->vm), d->name, strerror(-ret));
        return 0;
    }
    d->uring = true;
    ret = evloop_deadline_add(vm_evloop(d->vm), blk_deadline, d);
    if (ret < 0)
        return ret;
    d->deadline = ret;
    ret = evloop_deadline_add(vm_evloop(d->vm), blk_poll_deadline, d);
    if (ret < 0)
        return ret;
    d->poll = ret;
    d->cq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->cq_fd < 0)
        return -errno;
    ret = io_uring_register_eventfd(&d->ring, d->cq_fd);
    if (ret < 0)
        return ret;
    return evloop_add_fd(vm_evloop(d->vm), d->cq_fd, EPOLLIN, blk_cq_event, d);
}

static void blk_disk_destroy(struct blk_disk *d)
{
    if (!d)
        return;
    virtio_pci_destroy(d->vdev);
    if (d->cq_fd >= 0) {
        if (evloop_del_fd(vm_evloop(d->vm), d->cq_fd))
            log_debug("%s: completion fd was not watched", d->name);
        close(d->cq_fd);
    }
    if (d->uring)
        io_uring_queue_exit(&d->ring);
    for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
        free(d->reqs[i].bounce);
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

static int blk_disk_create(struct vm *vm, const struct spec_disk *spec, unsigned index,
                           struct blk_disk **out)
{
    struct blk_disk *d = calloc(1, sizeof(*d));
    int ret;

    if (!d)
        return -ENOMEM;
    d->vm = vm;
    d->spec = spec;
    d->fd = d->cq_fd = -1;
    d->read_only = spec->read_only;
    d->direct = spec->cache == DISK_CACHE_NONE;
    d->nq = spec->queues ? spec->queues : vm_spec(vm)->vcpus;
    if (d->nq > SPEC_DISK_QUEUES_MAX)
        d->nq = SPEC_DISK_QUEUES_MAX;
    d->coalesce_ns = (uint64_t)spec->coalesce_us * 1000;
    blk_pace_setup(d);
    snprintf(d->name, sizeof(d->name), "vd%c", 'a' + (int)index);
    for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++) {
        d->reqs[i].disk = d;
        blk_req_put(d, &d->reqs[i]);
    }
    ret = blk_open(d);
    if (ret) {
        log_err("%s: cannot open disk %s: %s", vm_name(vm), spec->path, strerror(-ret));
        goto out_destroy;
    }
    blk_config_init(d);
    ret = blk_uring_init(d);
    if (!d->uring)
        d->pace = d->pace_halts = false;    /* synchronous I/O: nothing to hold */
    if (!ret)
        ret = virtio_pci_create(vm, &d->ops, d, &d->vdev);
    if (ret)
        goto out_destroy;
    log_debug("%s: %s: %s, %llu sectors, %u queues%s%s%s", vm_name(vm), d->name, spec->path,
              (unsigned long long)d->config.capacity, d->nq, d->read_only ? ", read-only" : "",
              d->direct ? ", O_DIRECT" : "", d->inline_rw ? ", in-memory image: I/O in line" : "");
    *out = d;
    return 0;

out_destroy:
    blk_disk_destroy(d);
    return ret;
}

static void blk_destroy(void *state)
{
    struct blk *b = state;

    for (size_t i = 0; i < b->n; i++)
        blk_disk_destroy(b->disks[i]);
    free(b->disks);
    free(b);
}

static int blk_create(struct vm *vm, void **state)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct blk *b;
    int ret;

    if (!spec->ndisks)
        return 1;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->disks = calloc(spec->ndisks, sizeof(*b->disks));
    if (!b->disks) {
        free(b);
        return -ENOMEM;
    }
    for (size_t i = 0; i < spec->ndisks; i++) {
        ret = blk_disk_create(vm, &spec->disks[i], (unsigned)i, &b->disks[i]);
        if (ret) {
            blk_destroy(b);
            return ret;
        }
        b->n++;
    }
    *state = b;
    return 0;
}

static void blk_counters(void *state, device_counter_fn emit, void *ctx)
{
    static const struct { const char *name; size_t off; } fields[] = {
        { "requests", offsetof(struct blk_stats, requests) },
        { "read_bytes", offsetof(struct blk_stats, read_bytes) },
        { "write_bytes", offsetof(struct blk_stats, write_bytes) },
        { "flushes", offsetof(struct blk_stats, flushes) },
        { "discards", offsetof(struct blk_stats, discards) },
        { "errors", offsetof(struct blk_stats, errors) },
        { "submits", offsetof(struct blk_stats, submits) },
        { "submitted", offsetof(struct blk_stats, submitted) },
        { "max_submit_batch", offsetof(struct blk_stats, max_batch) },
        { "completions", offsetof(struct blk_stats, completions) },
        { "completion_batches", offsetof(struct blk_stats, reaps) },
        { "held_publishes", offsetof(struct blk_stats, held) },
        { "inline_requests", offsetof(struct blk_stats, inline_rw) },
        { "stream_holds", offsetof(struct blk_stats, stream_holds) },
        { "halt_releases", offsetof(struct blk_stats, halt_releases) },
    };
    struct blk *b = state;
    char name[48];

    for (size_t i = 0; i < b->n; i++) {
        struct blk_disk *d = b->disks[i];
        uint64_t kicks, irqs;

        for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
            snprintf(name, sizeof(name), "%s.%s", d->name, fields[f].name);
            emit(ctx, name, __atomic_load_n((uint64_t *)((char *)&d->st + fields[f].off),
                                            __ATOMIC_RELAXED));
        }
        virtio_dev_transport_counters(d->vdev, &kicks, &irqs);
        snprintf(name, sizeof(name), "%s.kicks", d->name);
        emit(ctx, name, kicks);
        snprintf(name, sizeof(name), "%s.interrupts", d->name);
        emit(ctx, name, irqs);
    }
}

static const struct device_desc blk_device = {
    .name = "virtio-blk", .create = blk_create, .destroy = blk_destroy,
    .counters = blk_counters,
};
DEVICE_REGISTER(blk_device);
