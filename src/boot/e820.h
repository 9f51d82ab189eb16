/*
 * The guest's physical memory map, in the e820 form both boot paths use
 * (the zero page's e820_table and, type for type, the PVH memmap).
 */
#ifndef KVMM_BOOT_E820_H
#define KVMM_BOOT_E820_H

#include <asm/bootparam.h>   /* struct boot_e820_entry */

#include "mem/guest_mem.h"
#include "types.h"

#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

/* Enough for the map e820_build() produces. */
#define E820_MAX_BUILT 8

/*
 * Describe `mem`'s RAM, sorted by address:
 *   [0, LAYOUT_EBDA_START)                 RAM
 *   [LAYOUT_EBDA_START, 1 MiB)             reserved (ACPI tables live here)
 *   [1 MiB, top of low RAM)                RAM
 *   [LAYOUT_ECAM, +LAYOUT_ECAM_SIZE)       reserved
 *   [4 GiB, ...)                           RAM, when memory exceeds the hole
 * Returns 0 with *count entries in out[0..max), -EINVAL if the low RAM
 * does not reach past 1 MiB or a region overlaps the PCI hole, or -ENOSPC
 * if `max` is too small.
 */
int e820_build(const struct guest_mem *mem, struct boot_e820_entry *out,
               unsigned max, unsigned *count) WUR;

#endif
