/* Interrupt moderation for one virtio-net queue: when to raise the
 * interrupt that the driver's event index asked for.
 *
 * A driver in NAPI style takes used buffers without interrupts whenever it
 * runs anyway: Linux frees transmitted buffers on its next transmit and from
 * its receive poll, and re-arms its event index only when it goes idle.  So
 * an interrupt can wait a short, bounded time: completions published
 * meanwhile join it, and if the driver consumed them and moved its event
 * index past them (virtq_interrupt_wanted() says no), none is raised at all.
 * The caller may let some entries wait longer (hold_ns: frames nobody waits
 * on with any hurry, such as the ACKs a bulk sender gets back); entries that
 * may not wait as long bring the deadline in.
 * Pure logic: times come from the caller, the timer is the caller's. */
#ifndef KVMM_DEVICES_VIRTIO_NET_IRQ_H
#define KVMM_DEVICES_VIRTIO_NET_IRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_irq {
    uint64_t delay_ns;      /* how long an interrupt may wait; 0 = never */
    uint64_t busy_ns;       /* wait only if the driver wanted one this recently; 0 = always */
    uint64_t last_ns;       /* when the driver last wanted one (raised or owed) */
    uint64_t due_ns;        /* the owed interrupt's deadline; 0 = none owed */
    uint16_t since;         /* the owed interrupt covers used entries from here */
    bool deferred;          /* the owed interrupt was put off once already */
};

enum net_irq_action {
    NET_IRQ_NONE,           /* the driver does not want one */
    NET_IRQ_NOW,            /* raise it now */
    NET_IRQ_LATER,          /* owed: call net_irq_due() at net_irq_deadline() */
};

/* A bulk sender's ACKs: while the driver has sent full-sized frames (at
 * least NET_TX_BULK_FRAME bytes after the virtio-net header) within
 * NET_TX_BULK_NS, a receive batch whose longest frame is no longer than
 * NET_ACK_FRAME (a TCP ACK with options over IPv6 and a VLAN tag fits) may
 * wait longer for its interrupt.  The driver reaps such frames whenever it
 * polls, and the sender is not kept waiting: its window is far wider than
 * the wait, and the completions of its own frames keep it going meanwhile.
 * Request/response traffic (small frames both ways) and a receiver of bulk
 * data are never held. */
#define NET_TX_BULK_NS      1000000
#define NET_TX_BULK_FRAME   1024
#define NET_ACK_FRAME       128
/* `longest`: the batch's longest frame; `tx_bulk_at`: when the driver last
 * sent a full-sized frame (0 = never). */
bool net_irq_acks_to_sender(size_t longest, uint64_t tx_bulk_at, uint64_t now);

void net_irq_init(struct net_irq *m, uint64_t delay_ns, uint64_t busy_ns);
/* Used entries were published from used index `from`; `wanted` is what
 * virtq_publish() said; `hold_ns`, when not 0, is how long these entries
 * may wait instead of the queue's own rule. */
enum net_irq_action net_irq_published(struct net_irq *m, bool wanted, uint16_t from,
                                      uint64_t now, uint64_t hold_ns);
/* The deadline of the owed interrupt, 0 when none is owed. */
uint64_t net_irq_deadline(const struct net_irq *m);
/* True when the owed interrupt is due at `now` (or `flush`: the driver must
 * hear now, e.g. it ran out of buffers); *since is what it covers, for
 * virtq_interrupt_wanted().  It is no longer owed afterwards. */
bool net_irq_due(struct net_irq *m, uint64_t now, bool flush, uint16_t *since);
/* Put the owed interrupt off until `until`, once: true if it was. */
bool net_irq_defer(struct net_irq *m, uint64_t until);
/* Forget an owed interrupt (device reset). */
void net_irq_cancel(struct net_irq *m);

#endif
