/* Internals shared by sched.c (set-up, threads, runtime calls) and
 * sched_ctl.c (the controller thread and the query). */
#ifndef KVMM_SCHED_INT_H
#define KVMM_SCHED_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "sched/adaptive.h"
#include "sched/cgroup.h"
#include "sched/cosched.h"
#include "sched/sched.h"

/* What the controller remembers of a thread between two samples. */
struct sched_thread {
    _Atomic pid_t tid;
    char group[96];                 /* cgroup relative to kvmm-<pid> */
    uint64_t mask[SPEC_CPU_WORDS];  /* all zero: not pinned */
    unsigned base_weight, weight;
    unsigned boost;                 /* co-scheduling catch-up weight, 0: none */
    struct sched_classifier cls;
    struct sched_sample prev;       /* cumulative values at the last sample */
    bool have_prev;
};

struct sched_vcpu {
    struct sched_vm *svm;
    unsigned index;
    struct sched_thread t;
    atomic_bool hold;               /* the co-scheduler wants it held */
    _Atomic uint64_t hold_until_ns; /* ... but no longer than this */
    _Atomic uint64_t hold_len_ns;   /* ... nor longer than this once stopped */
    _Atomic uint64_t hold_entered_ns;   /* it first stopped for this hold, 0: not yet */
    _Atomic uint64_t hold_t0_ns;    /* when the current hold began, 0: none */
    _Atomic uint64_t held_ns;       /* time spent held, by the vCPU thread */
    _Atomic uint64_t holds;
    uint64_t delay0_ns, held0_ns;   /* baselines of the progress clock */
    uint64_t last_run_ns, last_tick_ns;
    uint64_t wait_ns;               /* current runqueue wait, not yet in schedstat */
    int schedstat_fd, stat_fd;      /* the thread's /proc files, kept open; -1: none */
    pid_t fd_tid;                   /* ... for this thread */
    uint64_t start_mask[SPEC_CPU_WORDS];    /* not pinned: its affinity at start */
    int spread_cpu;                 /* host CPU it is kept off (co-scheduling), -1: none */
};

struct sched_vm {
    const struct vm_spec *spec;
    struct vm *vm;                  /* the running instance, or NULL */
    unsigned n;
    struct sched_vcpu *vcpus;
    struct sched_thread io;
    bool adaptive, cosched;
    uint64_t period_ns, next_adapt_ns;
    struct sched_bounds bounds;
    struct cosched cs;
    unsigned boost_weight;          /* 0: no catch-up boosts, holds only */
    bool groups;                    /* its threads have cgroups */
    uint64_t t0_ns;                 /* progress clock start */
    bool cs_started;
    uint64_t class_changes, weight_changes;
    pthread_mutex_t hold_lock;      /* held vCPUs wait on hold_cond */
    pthread_cond_t hold_cond;
};

struct sched {
    pthread_mutex_t lock;           /* everything below, and the VMs' state */
    struct sched_vm *vms;
    size_t nvms;
    struct cg cg;
    bool use_cg;
    pthread_t thread;
    bool thread_started;
    atomic_bool quit;
    pthread_cond_t wake;            /* CLOCK_MONOTONIC; signalled on quit */
    sched_event_fn event;
    FILE *trace;                    /* KVMM_SCHED_TRACE: one JSON line per sample */
    FILE *cs_trace;                 /* KVMM_COSCHED_TRACE: one JSON line per tick */
    unsigned proc_weight;           /* kvmm-<pid>'s weight, 0: never set */
};

extern struct sched sched_g;

uint64_t sched_now_ns(void);
/* /proc/self/task/TID/schedstat: time on CPU and waiting on a runqueue. */
int sched_schedstat(pid_t tid, uint64_t *run_ns, uint64_t *delay_ns);
/* The thread's state letter from /proc/self/task/TID/stat ('R', 'S'...),
 * or 0 when it cannot be read. */
char sched_thread_state(pid_t tid);
struct sched_vm *sched_vm_find(const char *name);
/* Apply a thread's weight to its group (raised to its co-scheduling
 * boost while it has one), and the VM group's (the sum of its threads':
 * threads of different VMs then compete by their own weights), and the
 * process group's while a boost is on; -EOPNOTSUPP without cgroups. */
int sched_thread_weight_apply(struct sched_vm *svm, struct sched_thread *t, unsigned weight);
void sched_post(const char *name, const char *vm, struct cJSON *data);
/* The controller thread (sched_ctl.c). */
void *sched_ctl_thread(void *arg);
void sched_cosched_reset(struct sched_vm *svm);
/* Close the vCPU threads' /proc files the co-scheduler keeps open. */
void sched_cosched_files_close(struct sched_vm *svm);
/* Release the VM's held vCPUs, drop its boosts and undo its spreads. */
void sched_release_holds(struct sched_vm *svm);
/* How many host CPUs the vCPU's own mask allows: its pinning, or the
 * affinity its thread started with (0: unknown). */
unsigned sched_vcpu_ncpus(const struct sched_vcpu *sv);
/* Keep the vCPU thread off host CPU `cpu` (its own mask less that CPU),
 * or give it its own mask back (cpu < 0); nothing when that is already
 * so.  Under sched_g.lock. */
int sched_vcpu_spread_apply(struct sched_vcpu *sv, int cpu);

#endif
