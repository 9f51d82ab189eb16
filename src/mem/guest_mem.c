#include "mem/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "boot/layout.h"

static void region_add(struct guest_mem *mem, gpa_t gpa, uint64_t size, uint8_t *hva)
{
    struct guest_region *r = &mem->regions[mem->nregions++];

    r->gpa = gpa;
    r->size = size;
    r->hva = hva;
}

int guest_mem_init(struct guest_mem *mem, uint64_t ram_size)
{
    uint64_t low = ram_size < LAYOUT_PCI_HOLE ? ram_size : LAYOUT_PCI_HOLE;
    void *p;

    memset(mem, 0, sizeof(*mem));
    /* One anonymous mapping; the part above the hole maps to 4 GiB.
     * MAP_NORESERVE: the guest touches pages lazily. */
    p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    mem->base = p;
    mem->map_size = ram_size;
    mem->ram_size = ram_size;
    region_add(mem, 0, low, p);
    if (ram_size > low)
        region_add(mem, LAYOUT_HIGH_RAM, ram_size - low, (uint8_t *)p + low);
    return 0;
}

void guest_mem_destroy(struct guest_mem *mem)
{
    if (mem->base)
        munmap(mem->base, mem->map_size);
    memset(mem, 0, sizeof(*mem));
}

void guest_mem_init_fake(struct guest_mem *mem, void *buf, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->ram_size = size;
    region_add(mem, 0, size, buf);
}

void *guest_mem_ptr(const struct guest_mem *mem, gpa_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];

        if (gpa < r->gpa)
            continue;
        uint64_t off = gpa - r->gpa;
        /* off <= size and len <= size - off, written so nothing can wrap */
        if (off > r->size || len > r->size - off)
            continue;
        return r->hva + off;
    }
    return NULL;
}

bool guest_mem_is_ram(const struct guest_mem *mem, gpa_t gpa, uint64_t len)
{
    return guest_mem_ptr(mem, gpa, len) != NULL;
}

int guest_mem_write(const struct guest_mem *mem, gpa_t gpa, const void *src, uint64_t len)
{
    void *dst = guest_mem_ptr(mem, gpa, len);

    if (!dst)
        return -EFAULT;
    memcpy(dst, src, len);
    return 0;
}

int guest_mem_read(const struct guest_mem *mem, gpa_t gpa, void *dst, uint64_t len)
{
    const void *src = guest_mem_ptr(mem, gpa, len);

    if (!src)
        return -EFAULT;
    memcpy(dst, src, len);
    return 0;
}

uint64_t guest_mem_low_top(const struct guest_mem *mem)
{
    return mem->nregions ? mem->regions[0].size : 0;
}
