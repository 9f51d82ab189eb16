/* vCPU threads: each runs KVM_RUN, decodes the exit and dispatches it to
 * the VM's buses.  Nothing slow happens here. */
#ifndef KVMM_VCPU_VCPU_H
#define KVMM_VCPU_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/kvm.h>
#include "types.h"

struct vm;
struct kvm_host;
struct sched_vcpu;

/* CREATED -> RUNNING <-> PAUSED; RUNNING or PAUSED -> STOPPING -> STOPPED.
 * Only the vCPU's own thread moves it; others read it. */
enum vcpu_state { VCPU_CREATED, VCPU_RUNNING, VCPU_PAUSED, VCPU_STOPPING, VCPU_STOPPED };

/* kvmm's own counters, written by the vCPU thread only. */
struct vcpu_stats {
    uint64_t exits, io_exits, mmio_exits, other_exits, pauses;
};

struct vcpu {
    struct vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    int run_size;
    pthread_t thread;
    bool thread_started;
    _Atomic pid_t tid;
    _Atomic int state;
    struct vcpu_stats stats;
    int stats_fd;           /* KVM_GET_STATS_FD, -1 when unsupported */
    off_t halt_stat;        /* where stats_fd holds halt_exits; -1: nowhere */
    struct sched_vcpu *sched; /* the scheduler's view (src/sched), or NULL */
};

int vcpu_create(struct vcpu *vcpu, struct vm *vm, const struct kvm_host *host, unsigned index) WUR;
void vcpu_destroy(struct vcpu *vcpu);

int vcpu_setup_cpuid(struct vcpu *vcpu, const struct kvm_host *host, unsigned ncpus) WUR;
int vcpu_setup_msrs(struct vcpu *vcpu) WUR;
/* 64-bit entry: paging on with the identity map at LAYOUT_PML4. */
int vcpu_set_long_mode(struct vcpu *vcpu, uint64_t rip, uint64_t rsi, uint64_t rdi, uint64_t rsp) WUR;
/* PVH entry: 32-bit protected mode, paging off, EBX = start_info. */
int vcpu_set_pvh_mode(struct vcpu *vcpu, uint32_t eip, uint32_t ebx) WUR;

int vcpu_start(struct vcpu *vcpu) WUR;
/* Make KVM_RUN return soon (signal + immediate_exit). */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* One screen of registers, to stderr. */
void vcpu_dump(struct vcpu *vcpu, const char *why);

const char *vcpu_state_name(enum vcpu_state state);

/* Call fn for every scalar counter of KVM's binary statistics (exits,
 * halt_exits, ...).  Safe from any thread: reads never block on KVM_RUN. */
typedef void (*vcpu_stat_fn)(void *ctx, const char *name, uint64_t value);
int vcpu_kvm_stats_read(struct vcpu *vcpu, vcpu_stat_fn fn, void *ctx) WUR;
/* Where one counter lives in the statistics fd (looked up once). */
int vcpu_kvm_stat_find(struct vcpu *vcpu, const char *name, off_t *off) WUR;
/* How many times the guest has halted this vCPU (KVM's halt_exits): one
 * pread(), from any thread. */
int vcpu_halt_count(struct vcpu *vcpu, uint64_t *value) WUR;

/* Install the kick signal handler once per process. */
int vcpu_signals_init(void) WUR;

#endif
