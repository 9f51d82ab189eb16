/* Introspection engine: traps guest system calls without an agent in the
 * guest (hardware breakpoints, patched probes, the MSR filter), decodes
 * the audited ones, applies the policy and writes the audit log.  It runs
 * on the vCPU thread that trapped.  See docs/introspection.md. */
#ifndef KVMM_INTROSPECT_INTROSPECT_H
#define KVMM_INTROSPECT_INTROSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct vm;
struct vcpu;
struct introspect;

/* The port a patched probe writes to: `out %eax, $ISP_PORT` (e7 e6). */
#define ISP_PORT 0xe6

/* Exit hooks for the vCPU dispatch: true when the exit was introspection's
 * and is fully handled; false leaves it to the caller. */
bool introspect_handle_debug(struct vcpu *vcpu);
bool introspect_handle_io(struct vcpu *vcpu);
bool introspect_handle_msr(struct vcpu *vcpu);

/* Replace the policy of a running VM (JSON text of a "policy" object).
 * 0, -ENODEV (no introspection on this VM), -EINVAL with err set. */
int introspect_set_policy(struct vm *vm, const char *json, char *err, size_t errlen) WUR;

/* Hash the kernel text again and compare with the first measurement:
 * 0 unchanged, 1 changed (an audit record is written), -errno. */
int introspect_check_text(struct vm *vm) WUR;

/* Switch a running VM between "targeted" and "full" mode.  The VM is
 * paused for the switch (vCPU debug registers are set from outside their
 * threads) unless it already is.  0, -ENODEV, -EINVAL with err set. */
int introspect_set_mode(struct vm *vm, const char *mode, char *err, size_t errlen) WUR;

/* A snapshot of the engine's counters and state, for the control socket. */
struct introspect_stats {
    const char *mode;               /* "targeted" or "full" */
    uint64_t traps, syscalls, probe_hits, audited, denied, paused, tamper, msr_writes;
    uint64_t records, dropped;
    unsigned probes;                /* handler probes and breakpoints placed */
    bool slide_known;
    int64_t slide;
    bool text_measured;
    uint64_t text_start, text_len;
    char text_sha256[65];
};

/* 0, -ENODEV (no introspection on this VM). */
int introspect_stats_get(struct vm *vm, struct introspect_stats *st) WUR;

#endif
