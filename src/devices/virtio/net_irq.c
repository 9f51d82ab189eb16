#include "devices/virtio/net_irq.h"

void net_irq_init(struct net_irq *m, uint64_t delay_ns, uint64_t busy_ns)
{
    *m = (struct net_irq){ .delay_ns = delay_ns, .busy_ns = busy_ns };
}

enum net_irq_action net_irq_published(struct net_irq *m, bool wanted, uint16_t from,
                                      uint64_t now)
{
    uint64_t delay = m->delay_ns;
    bool busy;

    if (m->long_until && now < m->long_until && m->long_delay_ns > delay)
        delay = m->long_delay_ns;
    if (m->due_ns)
        return NET_IRQ_LATER;   /* already owed: the new entries join it */
    if (!wanted)
        return NET_IRQ_NONE;
    busy = m->busy_ns == 0 || (m->last_ns && now - m->last_ns <= m->busy_ns);
    m->last_ns = now;
    if (delay == 0 || !busy)
        return NET_IRQ_NOW;     /* a lone packet: no one to wait for */
    m->due_ns = now + delay;
    m->since = from;
    return NET_IRQ_LATER;
}

void net_irq_lengthen(struct net_irq *m, uint64_t long_delay_ns, uint64_t until)
{
    m->long_delay_ns = long_delay_ns;
    m->long_until = until;
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

void net_irq_cancel(struct net_irq *m)
{
    m->due_ns = 0;
    m->last_ns = 0;
}
