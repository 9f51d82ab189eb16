/* Run-time control of the engine from the control socket: mode switch and
 * a snapshot of its counters.  (The policy is replaced in introspect.c.) */
#include "introspect/introspect.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "introspect/audit.h"
#include "introspect/internal.h"
#include "introspect/measure.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

static const char *isp_mode_name(enum isp_mode mode)
{
    return mode == ISP_MODE_FULL ? "full" : "targeted";
}

static int isp_mode_parse(struct introspect *isp, const char *name, enum isp_mode *mode,
                          char *err, size_t errlen)
{
    if (!strcmp(name, "targeted")) {
        *mode = ISP_MODE_TARGETED;
        if (!isp->cfg.has_profile) {
            snprintf(err, errlen, "targeted mode needs a kernel profile; this VM has none");
            return -EINVAL;
        }
        return 0;
    }
    if (!strcmp(name, "full")) {
        *mode = ISP_MODE_FULL;
        if (isp->cfg.trap == ISP_TRAP_PROBE) {
            snprintf(err, errlen, "full mode traps the system call entry with a breakpoint; "
                     "this VM's introspection is set to trap \"probe\"");
            return -EINVAL;
        }
        return 0;
    }
    snprintf(err, errlen, "mode must be \"targeted\" or \"full\", not \"%.32s\"", name);
    return -EINVAL;
}

/* Under lock, with every vCPU parked: debug registers are per vCPU and
 * KVM_SET_GUEST_DEBUG must not race the vCPU's own thread.  Probes placed
 * for targeted mode stay when switching to full: their hits are then
 * ignored (the entry sees the call), and switching back needs no patching. */
static void isp_mode_apply(struct introspect *isp, enum isp_mode mode)
{
    isp->cfg.mode = mode;
    for (unsigned i = 0; i < vm_ncpus(isp->vm); i++) {
        struct vcpu *v = vm_vcpu(isp->vm, i);

        if (!(isp->vcpus[i].learned & 1))
            continue;       /* not booted far enough: armed when LSTAR is written */
        if (mode == ISP_MODE_TARGETED && isp->slide_known)
            isp_probes_place(isp, v);
        isp_arm_breakpoints(isp, v);
    }
}

int introspect_set_mode(struct vm *vm, const char *name, char *err, size_t errlen)
{
    struct introspect *isp = vm_introspect(vm);
    enum isp_mode mode, old;
    bool was_paused;
    cJSON *rec;
    int ret;

    if (!isp) {
        snprintf(err, errlen, "introspection is off for this VM");
        return -ENODEV;
    }
    ret = isp_mode_parse(isp, name, &mode, err, errlen);
    if (ret)
        return ret;
    was_paused = vm_paused(vm);
    if (!was_paused) {
        ret = vm_pause(vm);
        if (ret) {
            snprintf(err, errlen, "cannot pause the VM for the switch: %s", strerror(-ret));
            return ret;
        }
    }
    pthread_mutex_lock(&isp->lock);
    old = isp->cfg.mode;
    if (old != mode)
        isp_mode_apply(isp, mode);
    pthread_mutex_unlock(&isp->lock);
    if (!was_paused && vm_resume(vm))
        log_warn("%s: cannot resume after the introspection mode switch", vm_name(vm));
    if (old != mode) {
        rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "mode", isp_mode_name(mode));
        cJSON_AddStringToObject(rec, "old", isp_mode_name(old));
        isp_audit(isp, NULL, "mode_changed", rec, false);
    }
    return 0;
}

int introspect_stats_get(struct vm *vm, struct introspect_stats *st)
{
    struct introspect *isp = vm_introspect(vm);

    memset(st, 0, sizeof(*st));
    if (!isp)
        return -ENODEV;
    st->traps = atomic_load(&isp->traps);
    st->syscalls = atomic_load(&isp->syscalls);
    st->probe_hits = atomic_load(&isp->probe_hits);
    st->audited = atomic_load(&isp->audited);
    st->denied = atomic_load(&isp->denied);
    st->paused = atomic_load(&isp->paused);
    st->tamper = atomic_load(&isp->tamper);
    st->msr_writes = atomic_load(&isp->msr_writes);
    st->records = audit_written(isp->audit);
    st->dropped = audit_dropped(isp->audit);
    pthread_mutex_lock(&isp->lock);
    st->mode = isp_mode_name(isp->cfg.mode);
    st->probes = isp->nprobes;
    st->slide_known = isp->slide_known;
    st->slide = isp->slide;
    st->text_measured = isp->text_measured;
    st->text_start = isp->text_start;
    st->text_len = isp->text_len;
    if (isp->text_measured)
        isp_sha256_to_hex(isp->text_sha, st->text_sha256);
    pthread_mutex_unlock(&isp->lock);
    return 0;
}
