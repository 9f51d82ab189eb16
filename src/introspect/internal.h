/* Shared between the engine's files; not for the rest of kvmm. */
#ifndef KVMM_INTROSPECT_INTERNAL_H
#define KVMM_INTROSPECT_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "introspect/config.h"
#include "introspect/policy.h"
#include "introspect/ptwalk.h"

struct vm;
struct vcpu;
struct audit;
struct isp_image;
struct cJSON;

#define ISP_MAX_PROBES 4
#define ISP_PROBE_LEN 5
#define ISP_NMSRS 5         /* LSTAR, CSTAR, SYSENTER_CS/ESP/EIP */

struct isp_probe {
    const char *sym;        /* profile symbol */
    int nr;                 /* the system call its handler serves */
    uint64_t gva;           /* probe or breakpoint address, slid */
    uint8_t saved[ISP_PROBE_LEN];
    bool patched;           /* bytes replaced (probe); else a breakpoint */
};

struct isp_vcpu {
    uint64_t msr[ISP_NMSRS];
    unsigned learned;       /* bit per MSR: boot value known */
    uint64_t dr[4];         /* breakpoints set on this vCPU */
    unsigned ndr;
    bool stepping;          /* stepping over a breakpoint's instruction */
    unsigned bp_gen;        /* isp->bp_gen its breakpoints were armed for */
    unsigned retries;       /* exits seen while probes were pending */
    uint64_t gs_base;       /* at the last trap: the per-CPU area in kernel mode */
};

/* Where the kernel keeps what records name (from the profile's BTF
 * offsets); task or files false when the profile lacks them. */
struct isp_layout {
    bool task, files;
    uint64_t current;       /* per-CPU offset of current_task */
    uint32_t pid, tgid, comm;
    uint32_t files_ptr, fdt, max_fds, fd, f_path, dentry, d_parent, d_name, q_name;
};

struct introspect {
    struct vm *vm;
    struct isp_config cfg;
    struct audit *audit;
    struct isp_image *image;    /* NULL without "image" */
    bool sync_regs, msr_filter;
    struct isp_layout layout;
    pthread_mutex_t pause_lock;
    pthread_t pause_thread;
    bool pause_started;
    atomic_bool pause_busy;     /* the pause thread has not finished */

    pthread_mutex_t lock;   /* everything below */
    struct isp_policy *policy;
    bool slide_known;
    int64_t slide;
    struct isp_probe probes[ISP_MAX_PROBES];
    unsigned nprobes;
    bool probes_placed;
    atomic_bool probes_pending; /* the kernel is not ready for them yet */
    atomic_uint bp_gen;         /* bumped when breakpoints change */
    struct isp_vcpu *vcpus;
    /* kernel text measurement */
    bool text_measured;
    unsigned text_tries;
    struct ptw text_ptw;
    uint64_t text_start, text_len;
    uint8_t text_sha[ISP_SHA256_LEN];

    /* counters */
    atomic_ullong traps, syscalls, probe_hits, audited, denied, paused, tamper, msr_writes;
};

/* Registers of the trapping vCPU: through kvm_run's sync area when KVM has
 * it, else ioctls. */
int isp_regs_get(struct introspect *isp, struct vcpu *v, struct kvm_regs *r) WUR;
int isp_regs_put(struct introspect *isp, struct vcpu *v, const struct kvm_regs *r) WUR;
int isp_ptw_get(struct introspect *isp, struct vcpu *v, struct ptw *w) WUR;

/* The layout the profile describes (isp->layout). */
void isp_layout_init(struct introspect *isp);

/* Where an audited call was caught. */
enum isp_via { ISP_VIA_ENTRY, ISP_VIA_HANDLER };

/* Decode, decide, audit one call; returns the verdict. */
enum isp_action isp_event_syscall(struct introspect *isp, struct vcpu *v, const struct ptw *w,
                                  uint64_t nr, const uint64_t args[6], enum isp_via via);
/* A record with "event", "vcpu" and the given extra members; written and,
 * for `notify`, posted to the control socket too. */
void isp_audit(struct introspect *isp, struct vcpu *v, const char *event, struct cJSON *rec,
               bool notify);
/* Under lock, in targeted mode once the slide is known: patch the handler
 * probes (or plan breakpoints) through v's page tables; once per VM. */
void isp_probes_place(struct introspect *isp, struct vcpu *v);
/* Under lock: set v's debug registers for the current mode. */
void isp_arm_breakpoints(struct introspect *isp, struct vcpu *v);
/* Pause the VM from a vCPU thread (a helper thread does it). */
void isp_request_pause(struct introspect *isp, const char *why);

#endif
