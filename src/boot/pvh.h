/*
 * PVH boot: the kernel's ELF image names a 32-bit entry point in a "Xen"
 * note (XEN_ELFNOTE_PHYS32_ENTRY), entered in protected mode with paging
 * off and %ebx = guest address of struct hvm_start_info.  Layouts follow
 * the public Xen start-of-day ABI (arch-x86/hvm/start_info.h), version 1.
 */
#ifndef KVMM_BOOT_PVH_H
#define KVMM_BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "mem/guest_mem.h"
#include "types.h"

#define HVM_START_MAGIC   0x336ec578u
#define HVM_START_VERSION 1u

struct hvm_start_info {
    uint32_t magic;             /* HVM_START_MAGIC */
    uint32_t version;           /* HVM_START_VERSION */
    uint32_t flags;             /* SIF_* (none used) */
    uint32_t nr_modules;
    uint64_t modlist_paddr;     /* struct hvm_modlist_entry[nr_modules] */
    uint64_t cmdline_paddr;     /* NUL-terminated; 0: none */
    uint64_t rsdp_paddr;
    /* version 1 */
    uint64_t memmap_paddr;      /* struct hvm_memmap_table_entry[memmap_entries] */
    uint32_t memmap_entries;
    uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap_paddr");

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");

/* Types equal the e820 ones (1 RAM, 2 reserved, 3 ACPI, 4 NVS, ...). */
struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry layout");

/* start_info, one module entry, then the memory map, below the zero page */
#define PVH_MODLIST_OFFSET sizeof(struct hvm_start_info)
#define PVH_MEMMAP_OFFSET  (PVH_MODLIST_OFFSET + sizeof(struct hvm_modlist_entry))
#define PVH_AREA_SIZE      (LAYOUT_ZERO_PAGE - LAYOUT_PVH_START)
#define PVH_MAX_MEMMAP \
    ((PVH_AREA_SIZE - PVH_MEMMAP_OFFSET) / sizeof(struct hvm_memmap_table_entry))

/* What the kernel is told; the caller has written the command line and
 * the initrd to guest memory already. */
struct pvh_boot_args {
    gpa_t cmdline;              /* 0: none */
    gpa_t initrd;               /* initrd_size 0: no module */
    uint64_t initrd_size;
    gpa_t rsdp;                 /* 0: none */
    const struct boot_e820_entry *e820;
    unsigned e820_count;
};

/*
 * Write hvm_start_info, the module list (the initrd, if any) and the
 * memory map (from the e820 entries, types 1:1) at LAYOUT_PVH_START in
 * guest memory, and store that address (the guest's %ebx) in *start_info.
 * -E2BIG if more than PVH_MAX_MEMMAP entries, -EFAULT if the area is not
 * RAM.
 */
int pvh_build_start_info(const struct guest_mem *mem,
                         const struct pvh_boot_args *args,
                         gpa_t *start_info) WUR;

#endif
