/* virtio-net (virtio 1.2, 5.1) on a TAP device.
 *
 * One RX and one TX queue per NIC, both served on the VM's I/O thread:
 * - TX: a kick drains every available chain, each written to the TAP with
 *   one writev (the 12-byte virtio-net header included: the TAP parses it
 *   for checksum and GSO offloads), while the driver is told not to kick;
 *   then kicks are re-enabled and the ring checked again for a race.  The
 *   drained batch is published with one used-index update.
 * - RX: when the TAP fd is readable, up to NET_RX_BATCH frames are read
 *   straight into guest buffers (mergeable buffers: one frame may span
 *   several chains, num_buffers says how many) and published together,
 *   with at most one interrupt.  When the guest has too few buffers the
 *   TAP fd is no longer watched until the driver kicks the RX queue.
 * Guest buffers are popped ahead into a small reserve, so that a readv can
 * cover the largest frame the TAP may hand over; unused ones stay there
 * for the next frame.
 * Interrupts are moderated (net_irq.h): used entries are visible at once,
 * but the interrupt the driver asked for may wait a bounded time on a
 * per-NIC timerfd, and is dropped if the driver took the entries meanwhile. */
#include <errno.h>
#include <linux/if_tun.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "devices/device.h"
#include "devices/tap.h"
#include "devices/virtio/net_irq.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtq.h"
#include "spec.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm.h"

#define NET_QUEUE_SIZE   256
#define NET_RXQ          0
#define NET_TXQ          1
#define NET_RX_BATCH     64         /* frames per TAP wake-up */
#define NET_RX_SEG_MAX   64         /* buffers in one RX chain */
#define NET_READ_IOV     1024       /* UIO_MAXIOV */
#define NET_GSO_MAX      65550      /* a 64 KiB GSO frame and its Ethernet/VLAN header */
#define NET_ETH_OVERHEAD 18         /* Ethernet header and one VLAN tag */
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

/* Interrupt moderation (net_irq.h).  TX: a completion interrupt may always
 * wait this long, the driver frees sent buffers on its own as it goes.
 * RX: the first frame after a quiet spell interrupts at once; while frames
 * keep coming (the driver wanted an interrupt within NET_RX_BUSY_NS) one
 * interrupt waits this long for the frames behind it. */
#ifndef NET_TX_IRQ_DELAY_NS
#define NET_TX_IRQ_DELAY_NS 200000
#endif
#ifndef NET_RX_IRQ_DELAY_NS
#define NET_RX_IRQ_DELAY_NS 50000
#endif
#ifndef NET_RX_BUSY_NS
#define NET_RX_BUSY_NS      1000000
#endif
/* A bulk sender's ACKs (net_irq_acks_to_sender()) may wait this long for
 * their interrupt. */
#ifndef NET_RX_ACK_DELAY_NS
#define NET_RX_ACK_DELAY_NS 500000
#endif
/* TX polling (opt-in: KVMM_NET_TX_POLL_US, microseconds, at most
 * NET_TX_POLL_MAX_US): after a TX batch that carried a full-sized frame (a
 * streaming sender, more frames to come), look at the ring again that much
 * later instead of asking for the next kick, which costs the guest an exit.
 * A poll that finds nothing asks for the next kick; other batches ask at
 * once, so request/response traffic is not delayed. */
#define NET_TX_POLL_MAX_US  10000

#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_GUEST_ECN   9
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_HOST_ECN    13
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16
#define VIRTIO_NET_S_LINK_UP     1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE     0

struct virtio_net_config {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 10, "virtio_net_config layout");

/* The modern header: always 12 bytes, num_buffers included. */
struct virtio_net_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr layout");
#define NET_HDR_LEN sizeof(struct virtio_net_hdr)

struct net_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_kicks, tx_kicks, rx_interrupts, tx_interrupts;
    uint64_t rx_batches, rx_max_batch, tx_batches, tx_max_batch;
    uint64_t rx_drops, tx_drops, rx_no_buffers, errors;
    /* interrupts that waited, and those of them the driver no longer needed */
    uint64_t rx_irq_delayed, tx_irq_delayed, rx_irq_saved, tx_irq_saved;
    uint64_t rx_ack_holds;      /* RX batches of ACKs to a bulk sender, let wait longer */
    uint64_t tx_irq_merged;     /* due TX interrupts put off for an RX one raised instead */
    uint64_t tx_polls;          /* TX polls that found frames (each a kick saved) */
};

struct rx_slot {
    struct virtq_chain c;
    struct iovec iov[NET_RX_SEG_MAX];
};

struct net_nic {
    struct vm *vm;
    char name[8];               /* net0, net1... */
    struct tap tap;
    bool tap_watched;           /* the fd is in the event loop */
    struct virtio_dev *vdev;
    struct virtio_dev_ops ops;
    struct virtio_net_config config;
    bool active;                /* DRIVER_OK seen, offloads set */
    bool rx_polling;            /* EPOLLIN on the TAP fd */
    bool mrg, guest_csum, guest_gso;
    size_t rx_need;             /* buffer bytes the largest frame needs */
    /* RX reserve: popped chains, a FIFO of rx_count from rx_head */
    struct rx_slot *rx;
    unsigned rx_head, rx_count;
    uint64_t rx_space;
    struct iovec rd_iov[NET_READ_IOV];
    struct iovec tx_iov[NET_QUEUE_SIZE];
    struct net_irq irq[2];      /* per queue: NET_RXQ, NET_TXQ */
    int timer_fd;               /* one-shot, for owed interrupts */
    bool timer_watched;
    uint64_t timer_at;          /* armed deadline, 0 = none */
    uint64_t tx_poll_ns;        /* TX polling interval; 0 = kicks only */
    uint64_t tx_poll_at;        /* look at the TX ring then, kicks off; 0 = none */
    uint64_t tx_bulk_at;        /* when the driver last sent a full-sized frame */
    bool warned_tx, warned_rx;
    struct net_stats st;
};

struct net {
    struct net_nic **nics;
    size_t n;
};

#define STAT_ADD(n, field, v) __atomic_fetch_add(&(n)->st.field, (v), __ATOMIC_RELAXED)

static void stat_max(uint64_t *slot, uint64_t v)
{
    if (v > __atomic_load_n(slot, __ATOMIC_RELAXED))
        __atomic_store_n(slot, v, __ATOMIC_RELAXED);
}

/* ---- interrupts -------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void net_raise(struct net_nic *n, unsigned q)
{
    virtio_queue_interrupt(n->vdev, q);
    if (q == NET_TXQ)
        STAT_ADD(n, tx_interrupts, 1);
    else
        STAT_ADD(n, rx_interrupts, 1);
}

/* Arm the timer for the earliest deadline (a later one is re-armed when
 * the timer fires).  On failure owed interrupts are raised at once and the
 * caller must not count on a TX poll. */
static int net_timer_arm(struct net_nic *n)
{
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };
    uint64_t at = n->tx_poll_at;

    for (unsigned q = 0; q < 2; q++) {
        uint64_t d = net_irq_deadline(&n->irq[q]);

        if (d && (!at || d < at))
            at = d;
    }
    if (!at || (n->timer_at && n->timer_at <= at))
        return 0;
    its.it_value.tv_sec = (time_t)(at / 1000000000ULL);
    its.it_value.tv_nsec = (long)(at % 1000000000ULL);
    if (timerfd_settime(n->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
        n->timer_at = at;
        return 0;
    }
    /* Cannot wait: raise what is owed now rather than lose it. */
    log_debug("%s: timerfd_settime: %s", n->name, strerror(errno));
    for (unsigned q = 0; q < 2; q++) {
        uint16_t since;

        if (net_irq_due(&n->irq[q], 0, true, &since))
            net_raise(n, q);
    }
    return -EIO;
}

/* Entries were published on queue q from used index `from`; they may wait
 * hold_ns for their interrupt (0: the queue's own rule). */
static void net_published(struct net_nic *n, unsigned q, bool wanted, uint16_t from,
                          uint64_t now, uint64_t hold_ns)
{
    switch (net_irq_published(&n->irq[q], wanted, from, now, hold_ns)) {
    case NET_IRQ_NOW:
        net_raise(n, q);
        break;
    case NET_IRQ_LATER:
        net_timer_arm(n);   /* on failure it raised the interrupt itself */
        break;
    case NET_IRQ_NONE:
        break;
    }
}

/* Settle queue q's owed interrupt if it is due (or `force`): raise it
 * unless the driver has taken the entries meanwhile.  True if raised. */
static bool net_flush(struct net_nic *n, unsigned q, uint64_t now, bool force)
{
    struct virtq *vq = virtio_queue(n->vdev, q);
    uint16_t since;

    if (!net_irq_due(&n->irq[q], now, force, &since))
        return false;
    if (q == NET_TXQ)
        STAT_ADD(n, tx_irq_delayed, 1);
    else
        STAT_ADD(n, rx_irq_delayed, 1);
    if (virtq_interrupt_wanted(vq, since)) {
        net_raise(n, q);
        return true;
    }
    if (q == NET_TXQ)
        STAT_ADD(n, tx_irq_saved, 1);
    else
        STAT_ADD(n, rx_irq_saved, 1);
    return false;
}

/* The TX interrupt is due while one is owed on RX: the driver's receive
 * poll frees sent buffers too (Linux: virtnet_poll_cleantx) and moves the
 * TX event index on, so raise the RX one now and give the TX one another
 * delay, after which it is raised only if still wanted. */
static void net_merge(struct net_nic *n, uint64_t now)
{
    uint64_t tx = net_irq_deadline(&n->irq[NET_TXQ]);

    if (!tx || now < tx || !net_irq_deadline(&n->irq[NET_RXQ]))
        return;
    if (net_flush(n, NET_RXQ, now, true) &&
        net_irq_defer(&n->irq[NET_TXQ], now + NET_TX_IRQ_DELAY_NS))
        STAT_ADD(n, tx_irq_merged, 1);
}

static void net_tx(struct net_nic *n, bool poll);

static void net_timer_event(void *opaque, uint32_t events)
{
    struct net_nic *n = opaque;
    uint64_t ticks, now = now_ns();

    if (read(n->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        log_debug("%s: timer read: %s", n->name, strerror(errno));
    virtio_dev_lock(n->vdev);
    n->timer_at = 0;
    if (n->active && !virtio_dev_broken(n->vdev)) {
        if (n->tx_poll_at && now >= n->tx_poll_at) {
            n->tx_poll_at = 0;
            net_tx(n, true);
        }
        net_merge(n, now);
        for (unsigned q = 0; q < 2; q++)
            net_flush(n, q, now, false);
        if (net_timer_arm(n) && n->tx_poll_at) {
            n->tx_poll_at = 0;      /* no timer: back to kicks */
            net_tx(n, false);
        }
    }
    virtio_dev_unlock(n->vdev);
}

/* ---- TX ------------------------------------------------------------------- */

static void net_tx_error(struct net_nic *n, int err)
{
    STAT_ADD(n, errors, 1);
    if (!n->warned_tx) {
        n->warned_tx = true;    /* once per NIC; the counters keep the rest */
        log_warn("%s: %s: write to TAP %s failed: %s", vm_name(n->vm), n->name, n->tap.name,
                 strerror(err));
    }
}

/* One frame to the TAP: the chain's readable part, header first.  True
 * when it was a full-sized one. */
static bool net_tx_one(struct net_nic *n, const struct virtq_chain *c)
{
    ssize_t ret;

    if (c->read_len <= NET_HDR_LEN || c->nread == 0) {
        STAT_ADD(n, tx_drops, 1);     /* no frame after the header */
        return false;
    }
    do {
        ret = writev(n->tap.fd, c->iov, (int)c->nread);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        STAT_ADD(n, tx_drops, 1);
        if (errno != EAGAIN)    /* EAGAIN: the TAP's queue is full */
            net_tx_error(n, errno);
        return false;
    }
    STAT_ADD(n, tx_packets, 1);
    STAT_ADD(n, tx_bytes, c->read_len - NET_HDR_LEN);
    return c->read_len - NET_HDR_LEN >= NET_TX_BULK_FRAME;
}

/* Drain the TX ring; `poll`: called by the poll timer, not a kick. */
static void net_tx(struct net_nic *n, bool poll)
{
    struct virtq *vq = virtio_queue(n->vdev, NET_TXQ);
    struct virtq_chain c;
    uint64_t batch = 0, now;
    uint16_t from = vq->signalled;
    bool bulk = false;
    int ret;

    do {
        virtq_kick_disable(vq);
        while ((ret = virtq_pop(vq, &c, n->tx_iov, NET_QUEUE_SIZE)) == 1) {
            bulk |= net_tx_one(n, &c);
            virtq_push(vq, c.head, 0);
            batch++;
        }
        if (ret < 0) {
            virtio_dev_fail(n->vdev, "%s: malformed TX descriptor chain (%d)", n->name, ret);
            break;
        }
        if (batch && n->tx_poll_ns && bulk) {
            n->tx_poll_at = now_ns() + n->tx_poll_ns;
            if (net_timer_arm(n) == 0)
                break;      /* kicks stay off until the poll */
            n->tx_poll_at = 0;
        }
    } while (virtq_kick_enable(vq));
    now = now_ns();
    if (batch) {
        if (poll)
            STAT_ADD(n, tx_polls, 1);
        STAT_ADD(n, tx_batches, 1);
        stat_max(&n->st.tx_max_batch, batch);
    }
    if (bulk)
        n->tx_bulk_at = now;
    net_published(n, NET_TXQ, virtq_publish(vq), from, now, 0);
}

/* ---- RX reserve -------------------------------------------------------------- */

static struct rx_slot *rx_slot(struct net_nic *n, unsigned i)
{
    return &n->rx[(n->rx_head + i) % NET_QUEUE_SIZE];
}

static void net_rx_poll(struct net_nic *n, bool on)
{
    if (n->rx_polling == on || !n->tap_watched)
        return;
    if (evloop_mod_fd(vm_evloop(n->vm), n->tap.fd, on ? EPOLLIN : 0))
        log_debug("%s: cannot change the TAP watch", n->name);
    n->rx_polling = on;
}

/* Pop chains until the reserve holds the largest frame.  1 = enough,
 * 0 = the ring ran dry first, -1 = the driver broke the ring. */
static int net_rx_reserve(struct net_nic *n, struct virtq *vq)
{
    unsigned want = n->mrg ? NET_QUEUE_SIZE : 1;

    while (n->rx_count < want && (!n->mrg || n->rx_space < n->rx_need)) {
        struct rx_slot *s = rx_slot(n, n->rx_count);
        int ret = virtq_pop(vq, &s->c, s->iov, NET_RX_SEG_MAX);

        if (ret == 0)
            break;
        if (ret < 0 || s->c.nread || s->c.write_len < NET_HDR_LEN) {
            virtio_dev_fail(n->vdev, "%s: RX chain %s", n->name,
                            ret == -E2BIG ? "with too many buffers" :
                            ret < 0 ? "malformed" :
                            s->c.nread ? "with device-readable buffers" : "shorter than the header");
            return -1;
        }
        n->rx_count++;
        n->rx_space += s->c.write_len;
    }
    if (n->rx_count == 0)
        return 0;
    /* Holding every buffer the ring has: go ahead, or nobody moves. */
    return !n->mrg || n->rx_space >= n->rx_need || n->rx_count >= vq->size;
}

/* The reserve as one iovec array, as far as the largest frame needs. */
static unsigned net_rx_iov(struct net_nic *n, uint64_t *space)
{
    unsigned cnt = 0, slots = n->mrg ? n->rx_count : 1;

    *space = 0;
    for (unsigned i = 0; i < slots && *space < n->rx_need; i++) {
        const struct rx_slot *s = rx_slot(n, i);

        if (cnt + s->c.n > NET_READ_IOV)
            break;
        memcpy(&n->rd_iov[cnt], s->c.iov, s->c.n * sizeof(struct iovec));
        cnt += s->c.n;
        *space += s->c.write_len;
    }
    return cnt;
}

static void iov_copy(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len,
                     bool to_iov)
{
    for (unsigned i = 0; i < cnt && len; i++) {
        size_t l = iov[i].iov_len;
        uint8_t *p = iov[i].iov_base;

        if (off >= l) {
            off -= l;
            continue;
        }
        l = l - off < len ? l - off : len;
        if (to_iov)
            memcpy(p + off, buf, l);
        else
            memcpy(buf, p + off, l);
        buf = (uint8_t *)buf + l;
        len -= l;
        off = 0;
    }
}

/* A frame the driver did not agree to take (offloads it declined). */
static bool net_rx_acceptable(const struct net_nic *n, const struct virtio_net_hdr *h)
{
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !n->guest_csum)
        return false;
    return h->gso_type == VIRTIO_NET_HDR_GSO_NONE || n->guest_gso;
}

/* Hand `len` bytes read into the reserve to the driver: as many chains as
 * they fill, in order, num_buffers in the first one's header. */
static void net_rx_complete(struct net_nic *n, struct virtq *vq, unsigned cnt, size_t len)
{
    uint64_t left = len;
    uint16_t nbuf = 0;

    while (left) {
        struct rx_slot *s = rx_slot(n, nbuf++);
        uint32_t used = left < s->c.write_len ? (uint32_t)left : (uint32_t)s->c.write_len;

        virtq_push(vq, s->c.head, used);
        left -= used;
    }
    iov_copy(n->rd_iov, cnt, offsetof(struct virtio_net_hdr, num_buffers), &nbuf,
             sizeof(nbuf), true);
    for (unsigned i = 0; i < nbuf; i++)
        n->rx_space -= rx_slot(n, i)->c.write_len;
    n->rx_head = (n->rx_head + nbuf) % NET_QUEUE_SIZE;
    n->rx_count -= nbuf;
    STAT_ADD(n, rx_packets, 1);
    STAT_ADD(n, rx_bytes, len - NET_HDR_LEN);
}

/* Read one frame.  1 = delivered (*flen: its length after the header),
 * 2 = dropped (buffers kept), 0 = none. */
static int net_rx_one(struct net_nic *n, struct virtq *vq, size_t *flen)
{
    struct virtio_net_hdr h;
    uint64_t space;
    unsigned cnt = net_rx_iov(n, &space);
    ssize_t len;

    do {
        len = readv(n->tap.fd, n->rd_iov, (int)cnt);
    } while (len < 0 && errno == EINTR);
    if (len < 0) {
        if (errno != EAGAIN && !n->warned_rx) {
            n->warned_rx = true;
            log_warn("%s: %s: read from TAP %s failed: %s", vm_name(n->vm), n->name,
                     n->tap.name, strerror(errno));
        }
        if (errno != EAGAIN)
            STAT_ADD(n, errors, 1);
        return 0;
    }
    iov_copy(n->rd_iov, cnt, 0, &h, sizeof(h), false);
    if ((size_t)len <= NET_HDR_LEN || (uint64_t)len > space || !net_rx_acceptable(n, &h)) {
        STAT_ADD(n, rx_drops, 1);   /* truncated, or offloaded against the driver's wish */
        return 2;
    }
    net_rx_complete(n, vq, cnt, (size_t)len);
    *flen = (size_t)len - NET_HDR_LEN;
    return 1;
}

static void net_rx(struct net_nic *n)
{
    struct virtq *vq = virtio_queue(n->vdev, NET_RXQ);
    unsigned done = 0, reads = 0;
    uint16_t from = vq->signalled;
    uint64_t now, hold = 0;
    size_t flen = 0, longest = 0;
    bool dry = false;
    int ret;

    while (reads++ < NET_RX_BATCH) {
        ret = net_rx_reserve(n, vq);
        if (ret < 0) {
            net_rx_poll(n, false);
            break;
        }
        if (ret == 0) {
            if (virtq_kick_enable(vq)) {
                virtq_kick_disable(vq);
                continue;       /* buffers came while we looked */
            }
            STAT_ADD(n, rx_no_buffers, 1);
            net_rx_poll(n, false);      /* until the driver kicks */
            dry = true;
            break;
        }
        ret = net_rx_one(n, vq, &flen);
        if (ret == 0)
            break;
        if (ret == 1) {
            done++;
            longest = flen > longest ? flen : longest;
        }
    }
    now = now_ns();
    if (done) {
        STAT_ADD(n, rx_batches, 1);
        stat_max(&n->st.rx_max_batch, done);
        if (net_irq_acks_to_sender(longest, n->tx_bulk_at, now)) {
            hold = NET_RX_ACK_DELAY_NS;
            STAT_ADD(n, rx_ack_holds, 1);
        }
    }
    net_published(n, NET_RXQ, virtq_publish(vq), from, now, hold);
    if (dry)    /* the driver must refill now: no waiting */
        net_flush(n, NET_RXQ, 0, true);
}

/* ---- virtio device ------------------------------------------------------------ */

/* The driver is up: give the TAP the offloads the driver accepted. */
static void net_activate(struct net_nic *n)
{
    unsigned off = 0;

    n->mrg = virtio_has_feature(n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    n->guest_csum = virtio_has_feature(n->vdev, VIRTIO_NET_F_GUEST_CSUM);
    if (n->guest_csum) {
        off = TUN_F_CSUM;
        if (virtio_has_feature(n->vdev, VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (virtio_has_feature(n->vdev, VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
        if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) && virtio_has_feature(n->vdev, VIRTIO_NET_F_GUEST_ECN))
            off |= TUN_F_TSO_ECN;
    }
    if (tap_set_offload(&n->tap, off)) {
        log_warn("%s: %s: TAP %s refuses offloads 0x%x; frames arrive whole", vm_name(n->vm),
                 n->name, n->tap.name, off);
        off = 0;
        if (tap_set_offload(&n->tap, 0))
            log_warn("%s: %s: cannot clear the TAP's offloads", vm_name(n->vm), n->name);
    }
    n->guest_csum = off & TUN_F_CSUM;
    n->guest_gso = off & (TUN_F_TSO4 | TUN_F_TSO6);
    n->rx_need = NET_HDR_LEN + (n->guest_gso ? NET_GSO_MAX : tap_mtu(&n->tap) + NET_ETH_OVERHEAD);
    net_irq_init(&n->irq[NET_RXQ], NET_RX_IRQ_DELAY_NS, NET_RX_BUSY_NS);
    net_irq_init(&n->irq[NET_TXQ], NET_TX_IRQ_DELAY_NS, 0);
    n->active = true;
    virtq_kick_disable(virtio_queue(n->vdev, NET_RXQ));
    net_rx_poll(n, true);
    log_debug("%s: %s: driver ready: %s RX buffers, TAP offloads 0x%x", vm_name(n->vm),
              n->name, n->mrg ? "mergeable" : "single-chain", off);
}

static void net_queue_kick(void *dev, unsigned q)
{
    struct net_nic *n = dev;

    if (!n->active)
        net_activate(n);
    if (q == NET_TXQ) {
        STAT_ADD(n, tx_kicks, 1);
        net_tx(n, false);
        return;
    }
    STAT_ADD(n, rx_kicks, 1);
    virtq_kick_disable(virtio_queue(n->vdev, NET_RXQ));
    if (!n->rx_polling) {
        net_rx_poll(n, true);
        net_rx(n);      /* frames may be waiting in the TAP */
    }
}

/* The TAP has frames (or is gone). */
static void net_tap_event(void *opaque, uint32_t events)
{
    struct net_nic *n = opaque;

    virtio_dev_lock(n->vdev);
    if (events & (EPOLLERR | EPOLLHUP)) {
        log_warn("%s: %s: TAP %s went away; the NIC is disconnected", vm_name(n->vm), n->name,
                 n->tap.name);
        if (evloop_del_fd(vm_evloop(n->vm), n->tap.fd))
            log_debug("%s: TAP fd was not watched", n->name);
        n->tap_watched = false;
        n->rx_polling = false;
    } else if (n->active && !virtio_dev_broken(n->vdev)) {
        net_rx(n);
    } else {
        net_rx_poll(n, false);
    }
    virtio_dev_unlock(n->vdev);
}

/* Driver reset (vCPU thread, lock held): forget the popped buffers. */
static void net_reset(void *dev)
{
    struct net_nic *n = dev;

    n->active = false;
    n->tx_poll_at = 0;
    net_rx_poll(n, false);
    net_irq_cancel(&n->irq[NET_RXQ]);
    net_irq_cancel(&n->irq[NET_TXQ]);
    n->tx_bulk_at = 0;
    n->rx_head = n->rx_count = 0;
    n->rx_space = 0;
}

static void net_config_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
    struct net_nic *n = dev;

    memcpy(data, (const uint8_t *)&n->config + off, len);
}

static const struct virtio_dev_ops net_ops_template = {
    .name = "net", .device_id = VIRTIO_ID_NET, .class_code = PCI_CLASS_NETWORK_ETHERNET,
    .nqueues = 2, .queue_size = NET_QUEUE_SIZE, .config_size = sizeof(struct virtio_net_config),
    .config_read = net_config_read, .queue_kick = net_queue_kick, .reset = net_reset,
};

/* ---- creation ------------------------------------------------------------------- */

/* Offer the guest-side offloads only when this TAP can deliver them. */
static uint64_t net_features(struct net_nic *n)
{
    uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
                 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CSUM) |
                 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
                 (1ULL << VIRTIO_NET_F_HOST_ECN);

    if (tap_set_offload(&n->tap, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0)
        f |= (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
             (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN);
    else
        log_info("%s: %s: TAP %s has no offloads; the guest gets whole frames",
                 vm_name(n->vm), n->name, n->tap.name);
    if (tap_set_offload(&n->tap, 0))
        log_debug("%s: cannot clear the TAP's offloads", n->name);
    return f;
}

/* KVMM_NET_TX_POLL_US: unset or 0 = off. */
static int net_tx_poll_setting(uint64_t *ns)
{
    const char *v = getenv("KVMM_NET_TX_POLL_US");
    char *end;
    unsigned long us;

    *ns = 0;
    if (!v || !*v)
        return 0;
    errno = 0;
    us = strtoul(v, &end, 10);
    if (errno || *end || v[0] == '-' || us > NET_TX_POLL_MAX_US) {
        log_err("KVMM_NET_TX_POLL_US: expected microseconds from 0 to %u, got '%s'",
                NET_TX_POLL_MAX_US, v);
        return -EINVAL;
    }
    *ns = (uint64_t)us * 1000;
    return 0;
}

static void net_nic_destroy(struct net_nic *n)
{
    if (!n)
        return;
    virtio_pci_destroy(n->vdev);
    if (n->tap_watched && evloop_del_fd(vm_evloop(n->vm), n->tap.fd))
        log_debug("%s: TAP fd was not watched", n->name);
    if (n->timer_watched && evloop_del_fd(vm_evloop(n->vm), n->timer_fd))
        log_debug("%s: timer fd was not watched", n->name);
    if (n->timer_fd >= 0)
        close(n->timer_fd);
    tap_close(&n->tap);
    free(n->rx);
    free(n);
}

static int net_nic_create(struct vm *vm, const struct spec_net *spec, unsigned index,
                          struct net_nic **out)
{
    struct net_nic *n = calloc(1, sizeof(*n));
    char err[256];
    int ret;

    if (!n)
        return -ENOMEM;
    n->vm = vm;
    n->tap.fd = -1;
    n->timer_fd = -1;
    snprintf(n->name, sizeof(n->name), "net%u", index);
    n->rx = calloc(NET_QUEUE_SIZE, sizeof(*n->rx));
    if (!n->rx) {
        ret = -ENOMEM;
        goto out_destroy;
    }
    ret = net_tx_poll_setting(&n->tx_poll_ns);
    if (ret)
        goto out_destroy;
    ret = tap_open(&n->tap, spec->tap, NET_HDR_LEN, err, sizeof(err));
    if (ret) {
        log_err("%s: %s: %s", vm_name(vm), n->name, err);
        goto out_destroy;
    }
    if (spec->has_mac)
        memcpy(n->config.mac, spec->mac, 6);
    else
        spec_mac_default(vm_name(vm), index, n->config.mac);
    n->config.status = VIRTIO_NET_S_LINK_UP;
    n->config.max_virtqueue_pairs = 1;
    n->ops = net_ops_template;
    n->ops.features = net_features(n);
    ret = evloop_add_fd(vm_evloop(vm), n->tap.fd, 0, net_tap_event, n);
    if (ret)
        goto out_destroy;
    n->tap_watched = true;
    n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (n->timer_fd < 0) {
        ret = -errno;
        goto out_destroy;
    }
    ret = evloop_add_fd(vm_evloop(vm), n->timer_fd, EPOLLIN, net_timer_event, n);
    if (ret)
        goto out_destroy;
    n->timer_watched = true;
    ret = virtio_pci_create(vm, &n->ops, n, &n->vdev);
    if (ret)
        goto out_destroy;
    log_info("%s: %s: TAP %s%s, MAC %02x:%02x:%02x:%02x:%02x:%02x", vm_name(vm), n->name,
             n->tap.name, n->tap.created ? " (created)" : "", n->config.mac[0], n->config.mac[1],
             n->config.mac[2], n->config.mac[3], n->config.mac[4], n->config.mac[5]);
    *out = n;
    return 0;

out_destroy:
    net_nic_destroy(n);
    return ret;
}

static void net_destroy(void *state)
{
    struct net *net = state;

    for (size_t i = 0; i < net->n; i++)
        net_nic_destroy(net->nics[i]);
    free(net->nics);
    free(net);
}

static int net_create(struct vm *vm, void **state)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct net *net;
    int ret;

    if (!spec->nnets)
        return 1;
    net = calloc(1, sizeof(*net));
    if (!net)
        return -ENOMEM;
    net->nics = calloc(spec->nnets, sizeof(*net->nics));
    if (!net->nics) {
        free(net);
        return -ENOMEM;
    }
    for (size_t i = 0; i < spec->nnets; i++) {
        ret = net_nic_create(vm, &spec->nets[i], (unsigned)i, &net->nics[i]);
        if (ret) {
            net_destroy(net);
            return ret;
        }
        net->n++;
    }
    *state = net;
    return 0;
}

static void net_counters(void *state, device_counter_fn emit, void *ctx)
{
    static const struct { const char *name; size_t off; } fields[] = {
#define F(x) { #x, offsetof(struct net_stats, x) }
        F(rx_packets), F(rx_bytes), F(tx_packets), F(tx_bytes),
        F(rx_kicks), F(tx_kicks), F(rx_interrupts), F(tx_interrupts),
        F(rx_batches), F(rx_max_batch), F(tx_batches), F(tx_max_batch),
        F(rx_drops), F(tx_drops), F(rx_no_buffers), F(errors),
        F(rx_irq_delayed), F(tx_irq_delayed), F(rx_irq_saved), F(tx_irq_saved),
        F(rx_ack_holds), F(tx_irq_merged), F(tx_polls),
#undef F
    };
    struct net *net = state;
    char name[48];

    for (size_t i = 0; i < net->n; i++) {
        struct net_nic *n = net->nics[i];
        uint64_t kicks, irqs;

        for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
            snprintf(name, sizeof(name), "%s.%s", n->name, fields[f].name);
            emit(ctx, name, __atomic_load_n((uint64_t *)((char *)&n->st + fields[f].off),
                                            __ATOMIC_RELAXED));
        }
        /* frames in both directions: the I/O rate the scheduler reads */
        snprintf(name, sizeof(name), "%s.requests", n->name);
        emit(ctx, name, __atomic_load_n(&n->st.rx_packets, __ATOMIC_RELAXED) +
                        __atomic_load_n(&n->st.tx_packets, __ATOMIC_RELAXED));
        virtio_dev_transport_counters(n->vdev, &kicks, &irqs);
        snprintf(name, sizeof(name), "%s.kicks", n->name);
        emit(ctx, name, kicks);
        snprintf(name, sizeof(name), "%s.interrupts", n->name);
        emit(ctx, name, irqs);
    }
}

static const struct device_desc net_device = {
    .name = "virtio-net", .create = net_create, .destroy = net_destroy,
    .counters = net_counters,
};
DEVICE_REGISTER(net_device);
