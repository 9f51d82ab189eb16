/* Guest page-table walker: guest virtual addresses to guest physical ones
 * for 4- and 5-level paging (4 KiB, 2 MiB and 1 GiB pages), and bounded
 * readers on top of it.  Every table entry and every byte is read through
 * guest_mem_ptr(): a guest pointer is never trusted. */
#ifndef KVMM_INTROSPECT_PTWALK_H
#define KVMM_INTROSPECT_PTWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct guest_mem;

/* The paging state of one vCPU at one moment (CR3, CR4.LA57, EFER.NXE). */
struct ptw {
    const struct guest_mem *mem;
    uint64_t cr3;
    bool la57;          /* 5-level paging */
    bool nxe;           /* EFER.NXE: bit 63 of an entry means no-execute */
};

/* What the walk found: the effective rights over every level. */
struct ptw_info {
    uint64_t page_size;     /* 4 KiB, 2 MiB or 1 GiB */
    bool writable, user, exec;
};

#define PTW_PAGE_4K (1ULL << 12)
#define PTW_PAGE_2M (1ULL << 21)
#define PTW_PAGE_1G (1ULL << 30)

/* CR3/CR4/EFER bits the callers need. */
#define PTW_CR4_LA57 (1ULL << 12)
#define PTW_EFER_NXE (1ULL << 11)

void ptw_init(struct ptw *w, const struct guest_mem *mem, uint64_t cr3, uint64_t cr4,
              uint64_t efer);

/* 0, -EINVAL (non-canonical address), -EFAULT (not present, or a table or
 * the page outside guest RAM). */
int ptw_translate(const struct ptw *w, uint64_t gva, gpa_t *gpa, struct ptw_info *info) WUR;

/* Copy len bytes at gva, page by page; 0 or the first page's error. */
int ptw_read(const struct ptw *w, uint64_t gva, void *buf, size_t len) WUR;
int ptw_read_u64(const struct ptw *w, uint64_t gva, uint64_t *val) WUR;
/* Write through the guest's mapping, ignoring its write protection (kvmm
 * patches kernel text with it). */
int ptw_write(const struct ptw *w, uint64_t gva, const void *buf, size_t len) WUR;

/* A NUL-terminated string of at most cap - 1 bytes into buf (always
 * terminated when cap > 0).  0, -ENAMETOOLONG (truncated: buf holds the
 * first cap - 1 bytes), -EFAULT, -EINVAL. */
int ptw_read_str(const struct ptw *w, uint64_t gva, char *buf, size_t cap) WUR;

#endif
