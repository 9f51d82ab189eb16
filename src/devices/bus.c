#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
}

void bus_destroy(struct bus *bus)
{
    free(bus->ranges);
    bus->ranges = NULL;
    bus->nranges = bus->cap = 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name)
{
    unsigned pos = 0;

    if (len == 0 || base + len < base)
        return -EINVAL;
    for (unsigned i = 0; i < bus->nranges; i++) {
        const struct bus_range *r = &bus->ranges[i];

        if (ranges_overlap(base, len, r->base, r->len))
            return -EEXIST;
        if (r->base < base)
            pos = i + 1;
    }
    if (bus->nranges == bus->cap) {
        unsigned cap = bus->cap ? bus->cap * 2 : 16;
        struct bus_range *n = realloc(bus->ranges, cap * sizeof(*n));

        if (!n)
            return -ENOMEM;
        bus->ranges = n;
        bus->cap = cap;
    }
    memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
            (bus->nranges - pos) * sizeof(bus->ranges[0]));
    bus->ranges[pos] = (struct bus_range){ base, len, ops, opaque, name };
    bus->nranges++;
    return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->nranges;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &bus->ranges[mid];

        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
    const struct bus_range *r = bus_find(bus, addr);

    if (!r)
        return false;
    if (is_write) {
        if (r->ops->write)
            r->ops->write(r->opaque, addr - r->base, data, len);
    } else if (r->ops->read) {
        r->ops->read(r->opaque, addr - r->base, data, len);
    } else {
        memset(data, 0xff, len);
    }
    return true;
}
