/* cgroup placement for one kvmm process: the group kvmm-<pid> under a
 * parent, one group per VM in it and one per thread in that
 * (kvmm-<pid>/<vm>/{vcpuN,io}).  Both layouts: v1 (cpu.shares and tasks
 * in the cpu hierarchy, cpuset.cpus/mems copied from the parent before a
 * thread joins the cpuset hierarchy) and v2 (a threaded subtree:
 * cgroup.type "threaded", cpu.weight, cgroup.threads).
 *
 * The root is configurable: a directory that is not a cgroup file system
 * is driven as a fake tree of plain files (files are created, thread ids
 * appended), which the unit tests inspect. */
#ifndef KVMM_SCHED_CGROUP_H
#define KVMM_SCHED_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "types.h"

#define CG_DEFAULT_ROOT "/sys/fs/cgroup"

enum cg_layout { CG_NONE, CG_V1, CG_V2 };

struct cg {
    enum cg_layout layout;
    bool fake;                  /* plain files, not a cgroup file system */
    char cpu_dir[PATH_MAX];     /* v1: <root>/cpu/<parent>; v2: <root>/<parent> */
    char cpuset_dir[PATH_MAX];  /* v1: <root>/cpuset/<parent>, "" without one */
    char v2_root[PATH_MAX];     /* v2: <root> */
    char name[32];              /* "kvmm-<pid>" */
    pid_t pid;
    bool created;
    bool v2_moved;              /* v2: the process was moved into the tree */
    char v2_origin[PATH_MAX];   /* v2: the group it came from, relative */
};

const char *cg_layout_name(enum cg_layout l);
/* Find the layout under root (NULL: CG_DEFAULT_ROOT) and check that the
 * parent (NULL or "": the top) exists in it. */
int cg_open(struct cg *cg, const char *root, const char *parent, char *err, size_t errlen) WUR;
/* Remove kvmm-<pid> groups under the parent whose process is gone (or is
 * no longer kvmm).  Returns how many were removed. */
unsigned cg_clean_stale(struct cg *cg);
/* Create kvmm-<pid>; a clear error when the hierarchy is not writable. */
int cg_proc_create(struct cg *cg, pid_t pid, char *err, size_t errlen) WUR;
/* Remove kvmm-<pid> and everything in it (threads must have left). */
void cg_proc_destroy(struct cg *cg);

/* Groups are named relative to kvmm-<pid>: "vm" or "vm/vcpu0". */
int cg_group_create(struct cg *cg, const char *rel, char *err, size_t errlen) WUR;
int cg_group_remove(struct cg *cg, const char *rel);
/* weight on the v2 scale (1..10000); v1 gets the matching cpu.shares */
int cg_weight_set(struct cg *cg, const char *rel, unsigned weight) WUR;
/* cpulist such as "0-1,3"; no-op without a cpuset hierarchy */
int cg_cpus_set(struct cg *cg, const char *rel, const char *cpulist) WUR;
int cg_thread_attach(struct cg *cg, const char *rel, pid_t tid) WUR;

#endif
