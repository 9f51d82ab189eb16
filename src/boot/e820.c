#include "boot/e820.h"

#include <errno.h>

#include "boot/layout.h"

struct e820_list {
    struct boot_e820_entry *e;
    unsigned max;
    unsigned n;
};

static int e820_add(struct e820_list *l, uint64_t addr, uint64_t size, uint32_t type)
{
    if (l->n == l->max)
        return -ENOSPC;
    l->e[l->n].addr = addr;
    l->e[l->n].size = size;
    l->e[l->n].type = type;
    l->n++;
    return 0;
}

/* The region at gpa 0 keeps the legacy hole [EBDA, 1 MiB) out of RAM. */
static int e820_add_low(struct e820_list *l, const struct guest_region *r)
{
    int ret;

    if (r->size <= LAYOUT_KERNEL || r->size > LAYOUT_PCI_HOLE)
        return -EINVAL;
    ret = e820_add(l, 0, LAYOUT_EBDA_START, E820_TYPE_RAM);
    if (!ret)
        ret = e820_add(l, LAYOUT_EBDA_START, LAYOUT_KERNEL - LAYOUT_EBDA_START,
                       E820_TYPE_RESERVED);
    if (!ret)
        ret = e820_add(l, LAYOUT_KERNEL, r->size - LAYOUT_KERNEL, E820_TYPE_RAM);
    return ret;
}

int e820_build(const struct guest_mem *mem, struct boot_e820_entry *out,
               unsigned max, unsigned *count)
{
    struct e820_list l = { .e = out, .max = max, .n = 0 };
    int ret;

    if (mem->nregions == 0 || mem->regions[0].gpa != 0)
        return -EINVAL;
    ret = e820_add_low(&l, &mem->regions[0]);
    if (!ret)
        ret = e820_add(&l, LAYOUT_ECAM, LAYOUT_ECAM_SIZE, E820_TYPE_RESERVED);
    for (unsigned i = 1; !ret && i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];
        const struct guest_region *prev = &mem->regions[i - 1];
        /* Everything but the low region lives above the 4 GiB line. */
        gpa_t min = i == 1 ? LAYOUT_HIGH_RAM : prev->gpa + prev->size;

        if (r->gpa < min)
            return -EINVAL;
        ret = e820_add(&l, r->gpa, r->size, E820_TYPE_RAM);
    }
    if (ret)
        return ret;
    *count = l.n;
    return 0;
}
