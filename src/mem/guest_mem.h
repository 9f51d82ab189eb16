/* Guest RAM: the one checked door from guest physical addresses to host
 * memory.  Every guest-supplied address goes through guest_mem_ptr(). */
#ifndef KVMM_MEM_GUEST_MEM_H
#define KVMM_MEM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include "types.h"

#define GUEST_MEM_MAX_REGIONS 4

struct guest_region {
    gpa_t gpa;
    uint64_t size;
    uint8_t *hva;
};

struct guest_mem {
    struct guest_region regions[GUEST_MEM_MAX_REGIONS];
    unsigned nregions;
    uint64_t ram_size;      /* total bytes of RAM */
    uint8_t *base;          /* the single host mapping (tests may leave NULL) */
    size_t map_size;
};

/* Allocate `ram_size` bytes of RAM laid out around the PCI hole. */
int guest_mem_init(struct guest_mem *mem, uint64_t ram_size) WUR;
void guest_mem_destroy(struct guest_mem *mem);

/* Describe an existing buffer as guest RAM starting at gpa 0 (unit tests). */
void guest_mem_init_fake(struct guest_mem *mem, void *buf, uint64_t size);

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one RAM
 * region, else NULL.  Overflow-safe; len 0 is allowed. */
void *guest_mem_ptr(const struct guest_mem *mem, gpa_t gpa, uint64_t len);
bool guest_mem_is_ram(const struct guest_mem *mem, gpa_t gpa, uint64_t len);

int guest_mem_write(const struct guest_mem *mem, gpa_t gpa, const void *src, uint64_t len) WUR;
int guest_mem_read(const struct guest_mem *mem, gpa_t gpa, void *dst, uint64_t len) WUR;

/* Top of the RAM region that starts at 0 (below the PCI hole). */
uint64_t guest_mem_low_top(const struct guest_mem *mem);

#endif
