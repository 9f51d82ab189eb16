/*
 * Linux bzImage (x86 boot protocol, Documentation/x86/boot.rst): header
 * parsing, loading the protected-mode kernel, and the zero page.  kvmm
 * enters the kernel at its 64-bit entry (load address + 0x200) in long
 * mode, so it needs protocol 2.12+ with XLF_KERNEL_64.
 */
#ifndef KVMM_BOOT_BZIMAGE_H
#define KVMM_BOOT_BZIMAGE_H

#include <asm/bootparam.h>   /* struct boot_params, struct setup_header */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "types.h"

#define BZIMAGE_MIN_VERSION    0x0206
#define BZIMAGE_ENTRY64_OFFSET 0x200     /* from the load address */
#define BZIMAGE_HDR_OFFSET     0x1F1     /* setup header in file and zero page */
#define BZIMAGE_LOADER_TYPE    0xFF      /* "undefined" boot loader */
#define BZIMAGE_HEAP_END       0xFE00

struct bzimage_info {
    uint16_t version;           /* boot protocol, 0x020F = 2.15 */
    uint32_t setup_size;        /* (setup_sects + 1) * 512 */
    uint64_t pm_offset;         /* protected-mode kernel: file offset */
    uint64_t pm_size;           /*   and size (to the end of the file) */
    uint32_t init_size;         /* memory the kernel needs from its load address */
    uint64_t pref_address;
    uint32_t kernel_alignment;
    bool relocatable;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint32_t initrd_addr_max;   /* highest byte address of the initrd */
    uint32_t cmdline_size;      /* longest command line, without the NUL */
    size_t hdr_len;             /* bytes of hdr[] taken from the image */
    uint8_t hdr[sizeof(struct setup_header)];  /* image bytes from 0x1F1 */
};

/*
 * Validate a bzImage held in img[0..len) and describe it.  Returns 0;
 * -ENOEXEC if it is not a bzImage (magic, truncated header or setup);
 * -ENOTSUP if it is one kvmm cannot boot (protocol older than 2.06, with
 * info->version set for the message; no LOADED_HIGH; no 64-bit entry).
 */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info) WUR;

/*
 * Copy the protected-mode kernel to guest address `addr` (normally
 * LAYOUT_KERNEL; enter at addr + BZIMAGE_ENTRY64_OFFSET).  -EFAULT unless
 * [addr, addr + max(init_size, pm_size)) is RAM.
 */
int bzimage_load(const struct bzimage_info *info, const uint8_t *img,
                 const struct guest_mem *mem, gpa_t addr) WUR;

/*
 * Highest page-aligned place for an initrd of `size` bytes in low RAM,
 * below info->initrd_addr_max and not below `min_addr` (the end of the kernel).
 * -ENOSPC if it does not fit.
 */
int bzimage_initrd_place(const struct bzimage_info *info,
                         const struct guest_mem *mem, gpa_t min_addr,
                         uint64_t size, gpa_t *out) WUR;

/* What the kernel is told through the zero page; the caller has already
 * written the command line and the initrd to guest memory. */
struct bzimage_boot_args {
    gpa_t cmdline;              /* NUL-terminated command line; 0: none */
    uint32_t cmdline_len;       /* without the NUL */
    gpa_t initrd;               /* initrd_size 0: no initrd */
    uint64_t initrd_size;
    gpa_t rsdp;                 /* 0: none (or protocol < 2.14) */
    const struct boot_e820_entry *e820;
    unsigned e820_count;
};

/*
 * Fill *bp (the zero page, written by the caller to LAYOUT_ZERO_PAGE):
 * zeroed, the image's setup header, type_of_loader 0xFF, CAN_USE_HEAP
 * with heap_end_ptr 0xFE00, command line, initrd (ext_ fields above
 * 4 GiB), e820 table and acpi_rsdp_addr.  -E2BIG for too long a command
 * line or too many e820 entries; -ERANGE for an initrd or command line
 * the kernel cannot reach.
 */
int bzimage_setup_zero_page(const struct bzimage_info *info,
                            const struct bzimage_boot_args *args,
                            struct boot_params *bp) WUR;

#endif
