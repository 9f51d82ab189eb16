/*
 * ELF64 x86-64 kernel images (vmlinux, firmware payloads): strict parsing
 * of the program headers and notes, and loading by physical address.  A
 * PVH entry point (see boot/pvh.h) is reported when the image has one.
 */
#ifndef KVMM_BOOT_ELF_H
#define KVMM_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "types.h"

#define ELF_MAX_SEGMENTS      16
#define ELF_NOTE_XEN          "Xen"
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct elf_segment {
    uint64_t paddr;             /* p_paddr: where it is loaded */
    uint64_t offset;            /* file offset */
    uint64_t filesz;            /* bytes copied from the file */
    uint64_t memsz;             /* bytes in memory; the rest is zeroed */
};

struct elf_info {
    uint64_t entry;             /* e_entry */
    bool has_pvh;
    uint64_t pvh_entry;         /* XEN_ELFNOTE_PHYS32_ENTRY, if has_pvh */
    unsigned nsegments;         /* PT_LOAD segments with memsz > 0 */
    struct elf_segment segments[ELF_MAX_SEGMENTS];
};

/*
 * Parse img[0..len).  Returns 0; -ENOEXEC if it is not a well-formed ELF
 * file (magic, truncated or out-of-file header tables, segments or notes,
 * filesz > memsz, address overflow); -ENOTSUP if it is not a little-endian
 * ELF64 x86-64 ET_EXEC image; -E2BIG for more than ELF_MAX_SEGMENTS
 * loadable segments.
 */
int elf_parse(const uint8_t *img, size_t len, struct elf_info *info) WUR;

/*
 * Copy every segment to its physical address and zero its memsz tail.
 * Checks all segments before writing any: -EFAULT if one is not in RAM.
 */
int elf_load(const struct elf_info *info, const uint8_t *img,
             const struct guest_mem *mem) WUR;

#endif
