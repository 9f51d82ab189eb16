/* PIO and MMIO buses.  The core places devices; a device's handlers see
 * the offset inside their own range.  Ranges are registered while the VM
 * is being built and are read-only afterwards, so lookups take no lock. */
#ifndef KVMM_DEVICES_BUS_H
#define KVMM_DEVICES_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include "types.h"

struct bus_ops {
    void (*read)(void *opaque, uint64_t off, uint8_t *data, unsigned len);
    void (*write)(void *opaque, uint64_t off, const uint8_t *data, unsigned len);
};

struct bus_range {
    uint64_t base, len;
    const struct bus_ops *ops;
    void *opaque;
    const char *name;
};

struct bus {
    const char *name;
    struct bus_range *ranges;  /* sorted by base, never overlapping */
    unsigned nranges, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);
/* -EEXIST when the range overlaps another, -EINVAL for an empty range. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name) WUR;
/* Dispatch one access; false when nothing is mapped there (reads then
 * return all ones, writes are dropped by the caller). */
bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, unsigned len, bool is_write);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

#endif
