/* vCPU scheduling for the whole process: pinning, cgroup placement and
 * weights, the adaptive weight controller and relaxed co-scheduling
 * (docs/scheduling.md).  One scheduler per process; it knows every VM of
 * the spec by name and follows each VM's instances across restarts.
 *
 * Runtime functions name a VM and return 0 or -errno (-ENOENT: no such
 * VM, -ERANGE: no such vCPU, -EINVAL: bad argument); they are safe from
 * any thread, and the control socket calls them. */
#ifndef KVMM_SCHED_SCHED_H
#define KVMM_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "spec.h"
#include "types.h"

struct vm;
struct vcpu;
struct cJSON;

/* Before any VM is created: find the cgroup layout, remove stale groups
 * of dead kvmm processes and create this process's groups (only when a VM
 * asks for weights or adaptive weights), start the controller thread.
 * On failure err holds one line. */
int sched_init(const struct kvmm_spec *spec, char *err, size_t errlen) WUR;
/* Stop the controller and remove this process's groups. */
void sched_fini(void);

/* vm.c: bind a new VM instance (end of vm_create) / unbind it (start of
 * vm_destroy, before its threads are joined). */
void sched_vm_attach(struct vm *vm);
void sched_vm_detach(struct vm *vm);
/* The threads themselves, once, first thing: pin and join their groups. */
void sched_vcpu_thread_start(struct vcpu *vcpu);
void sched_io_thread_start(struct vm *vm);
/* vCPU run loop, before KVM_RUN: blocks while the co-scheduler holds the
 * vCPU (returns at once when the VM pauses or stops). */
void sched_vcpu_hold_point(struct vcpu *vcpu);

/* mask: SPEC_CPU_WORDS words, bit n = host CPU n, not empty. */
int sched_set_vcpu_affinity(const char *vm, unsigned vcpu, const uint64_t *mask) WUR;
int sched_set_io_affinity(const char *vm, const uint64_t *mask) WUR;
/* Base weight (1..10000) of a vCPU thread, or of the I/O thread when
 * vcpu < 0; needs cgroups (-EOPNOTSUPP without). */
int sched_set_weight(const char *vm, int vcpu, unsigned weight) WUR;
/* The adaptive weight controller on or off; off restores base weights. */
int sched_controller_enable(const char *vm, bool on) WUR;
/* Co-scheduling on or off; max_skew_ms 1..1000, 0 keeps the bound. */
int sched_coschedule_set(const char *vm, bool on, unsigned max_skew_ms) WUR;
/* The weight (0..10000) a lagging vCPU is raised to; 0: holds only.
 * Above 0 it needs the VM's cgroups (-EOPNOTSUPP without). */
int sched_coschedule_boost_set(const char *vm, unsigned weight) WUR;
/* State, decisions and statistics as a JSON object ({"vms": [...]});
 * vm NULL for every VM.  malloc'd, NULL when out of memory or unknown. */
char *sched_query_json(const char *vm);

/* Decisions as events (name, VM name, data object passed on); the
 * signature of ctl_event_post().  NULL: none. */
typedef void (*sched_event_fn)(const char *name, const char *vm, struct cJSON *data);
void sched_set_event_cb(sched_event_fn fn);

#endif
