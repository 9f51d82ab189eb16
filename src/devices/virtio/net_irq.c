#include "devices/virtio/net_irq.h"

bool net_irq_acks_to_sender(size_t longest, uint64_t tx_bulk_at, uint64_t now)
{
    return longest <= NET_ACK_FRAME && tx_bulk_at && now >= tx_bulk_at &&
           now - tx_bulk_at <= NET_TX_BULK_NS;
}

void net_irq_init(struct net_irq *m, uint64_t delay_ns, uint64_t busy_ns)
{
    *m = (struct net_irq){ .delay_ns = delay_ns, .busy_ns = busy_ns };
}

enum net_irq_action net_irq_published(struct net_irq *m, bool wanted, uint16_t from,
                                      uint64_t now, uint64_t hold_ns)
{
    uint64_t wait;
    bool busy;

    if (!wanted)
        return m->due_ns ? NET_IRQ_LATER : NET_IRQ_NONE;
    busy = m->busy_ns == 0 || (m->last_ns && now - m->last_ns <= m->busy_ns);
    m->last_ns = now;
    wait = hold_ns ? hold_ns : m->delay_ns && busy ? m->delay_ns : 0;
    if (m->due_ns) {
        /* Already owed: the new entries join it, sooner if they must. */
        if (now + wait >= m->due_ns)
            return NET_IRQ_LATER;
        if (wait == 0) {
            m->due_ns = 0;
            return NET_IRQ_NOW;
        }
        m->due_ns = now + wait;
        return NET_IRQ_LATER;
    }
    if (wait == 0)
        return NET_IRQ_NOW;     /* a lone packet: no one to wait for */
    m->due_ns = now + wait;
    m->since = from;
    m->deferred = false;
    return NET_IRQ_LATER;
}

uint64_t net_irq_deadline(const struct net_irq *m)
{
    return m->due_ns;
}

bool net_irq_due(struct net_irq *m, uint64_t now, bool flush, uint16_t *since)
{
    if (!m->due_ns || (!flush && now < m->due_ns))
        return false;
    m->due_ns = 0;
    *since = m->since;
    return true;
}

bool net_irq_defer(struct net_irq *m, uint64_t until)
{
    if (!m->due_ns || m->deferred)
        return false;
    m->deferred = true;
    if (until > m->due_ns)
        m->due_ns = until;
    return true;
}

void net_irq_cancel(struct net_irq *m)
{
    m->due_ns = 0;
    m->last_ns = 0;
}
