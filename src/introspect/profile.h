/* Kernel profile: the addresses of the few kernel symbols introspection
 * needs, as linked (before any KASLR slide).  Built host-side by
 * `kvmm profile` from an ELF symbol table or a System.map, stored as JSON:
 *   {"kernel": ..., "version": ..., "source": ...,
 *    "symbols": {"entry_SYSCALL_64": "0xffffffff81e00000", ...},
 *    "offsets": {"task_struct.pid": 2456, ...}}
 * "offsets" (structure member offsets, from the kernel's BTF) and the
 * per-CPU "current_task" symbol are optional: with them, records name the
 * task that made a call. */
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
/* per-CPU variable: its value is an offset from the CPU's GS base, not
 * an address, and KASLR does not move it */
#define ISP_SYM_CURRENT "current_task"
/* from 6.2: per-CPU struct pcpu_hot, whose member current_task it is */
#define ISP_SYM_PCPU_HOT "pcpu_hot"
#define ISP_FIELD_HOT_CURRENT "pcpu_hot.current_task"

#define ISP_FIELD_NAME_MAX 48
#define ISP_PROFILE_FIELDS 16

struct isp_symbol {
    char name[ISP_SYM_NAME_MAX];
    uint64_t addr;
};

/* A member offset: name "struct.member", off in bytes. */
struct isp_field {
    char name[ISP_FIELD_NAME_MAX];
    uint32_t off;
};

struct isp_profile {
    char version[128];
    struct isp_symbol syms[ISP_PROFILE_SYMS];
    unsigned nsyms;
    struct isp_field fields[ISP_PROFILE_FIELDS];
    unsigned nfields;
};

/* The symbols a profile records, NULL-terminated. */
extern const char *const isp_profile_wanted[];
/* The member offsets a profile records ("struct.member"), NULL-terminated. */
extern const char *const isp_profile_fields[];

int isp_profile_load(const char *path, struct isp_profile *p, char *err, size_t errlen) WUR;
bool isp_profile_lookup(const struct isp_profile *p, const char *name, uint64_t *addr);
/* Add a symbol unless it is there already or p is full. */
void isp_profile_add(struct isp_profile *p, const char *name, uint64_t addr);
bool isp_profile_field(const struct isp_profile *p, const char *name, uint32_t *off);
void isp_profile_field_add(struct isp_profile *p, const char *name, uint32_t off);
/* Every wanted member offset found in the BTF blob into p.  0 when all
 * were found, -ENOENT when some were not (those found are kept), -EINVAL
 * when the blob is not BTF; err says which. */
int isp_profile_btf(struct isp_profile *p, const uint8_t *btf, size_t len, char *err,
                    size_t errlen) WUR;

/* Build a profile from kernel (ELF with a symbol table, or a bzImage whose
 * System.map is found in /boot or given as system_map).  *json is malloced.
 * -ENOENT: a bzImage whose System.map is missing or lacks the symbols
 * (isp_profile_boot() is the other way). */
int isp_profile_build(const char *kernel, const char *system_map, char **json, char *err,
                      size_t errlen) WUR;

/* The release string of a bzImage ("6.1.0-56-cloud-amd64"): 0, -ENOEXEC, -errno. */
int isp_profile_kernel_release(const char *kernel, char *out, size_t len) WUR;

/* `kvmm profile --kernel PATH [--system-map FILE] [-o OUT]`: exit status. */
int isp_profile_main(int argc, char **argv);

#endif
