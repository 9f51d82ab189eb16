/* Kernel profile: the addresses of the few kernel symbols introspection
 * needs, as linked (before any KASLR slide).  Built host-side by
 * `kvmm profile` from an ELF symbol table or a System.map, stored as JSON:
 *   {"kernel": ..., "version": ..., "source": ...,
 *    "symbols": {"entry_SYSCALL_64": "0xffffffff81e00000", ...}} */
#ifndef KVMM_INTROSPECT_PROFILE_H
#define KVMM_INTROSPECT_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

#define ISP_SYM_NAME_MAX 48
#define ISP_PROFILE_SYMS 16

#define ISP_SYM_ENTRY "entry_SYSCALL_64"
#define ISP_SYM_STEXT "_stext"
#define ISP_SYM_ETEXT "_etext"

struct isp_symbol {
    char name[ISP_SYM_NAME_MAX];
    uint64_t addr;
};

struct isp_profile {
    char version[128];
    struct isp_symbol syms[ISP_PROFILE_SYMS];
    unsigned nsyms;
};

/* The symbols a profile records, NULL-terminated. */
extern const char *const isp_profile_wanted[];

int isp_profile_load(const char *path, struct isp_profile *p, char *err, size_t errlen) WUR;
bool isp_profile_lookup(const struct isp_profile *p, const char *name, uint64_t *addr);
/* Add a symbol unless it is there already or p is full. */
void isp_profile_add(struct isp_profile *p, const char *name, uint64_t addr);

/* Build a profile from kernel (ELF with a symbol table, or a bzImage whose
 * System.map is found in /boot or given as system_map).  *json is malloced.
 * -ENOENT: a bzImage whose System.map is missing or lacks the symbols
 * (isp_profile_boot() is the other way). */
int isp_profile_build(const char *kernel, const char *system_map, char **json, char *err,
                      size_t errlen) WUR;

/* `kvmm profile --kernel PATH [--system-map FILE] [-o OUT]`: exit status. */
int isp_profile_main(int argc, char **argv);

#endif
