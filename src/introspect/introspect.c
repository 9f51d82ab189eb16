#include "introspect/introspect.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "introspect/audit.h"
#include "introspect/internal.h"
#include "introspect/measure.h"
#include "introspect/sysno.h"
#include "kvm.h"
#include "mem/guest_mem.h"
#include "spec.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083

#define RFLAGS_RF   (1ULL << 16)
#define DR6_BS_MASK 0xfULL
#define ISP_EPERM   1

static const uint32_t isp_msrs[ISP_NMSRS] = {
    MSR_LSTAR, MSR_CSTAR, MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
};
static const char *const isp_msr_names[ISP_NMSRS] = {
    "LSTAR", "CSTAR", "SYSENTER_CS", "SYSENTER_ESP", "SYSENTER_EIP",
};

/* The 5-byte NOP a probe replaces, and the probe: out %eax, $ISP_PORT;
 * then a 3-byte NOP. */
static const uint8_t isp_nop5[ISP_PROBE_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t isp_probe_code[ISP_PROBE_LEN] = { 0xe7, ISP_PORT, 0x0f, 0x1f, 0x00 };
static const uint8_t isp_endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

/* Handler symbols introspection probes, and the call each serves. */
static const struct { const char *sym, *call; } isp_handlers[] = {
    { "__x64_sys_execve", "execve" },
    { "__x64_sys_execveat", "execveat" },
    { "__x64_sys_init_module", "init_module" },
    { "__x64_sys_finit_module", "finit_module" },
};

/* ---- registers ---------------------------------------------------------- */

int isp_regs_get(struct introspect *isp, struct vcpu *v, struct kvm_regs *r)
{
    if (isp->sync_regs) {
        *r = v->run->s.regs.regs;
        return 0;
    }
    return kvm_ioctl(v->fd, KVM_GET_REGS, r) < 0 ? -EIO : 0;
}

int isp_regs_put(struct introspect *isp, struct vcpu *v, const struct kvm_regs *r)
{
    if (isp->sync_regs) {
        v->run->s.regs.regs = *r;
        v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
        return 0;
    }
    return kvm_ioctl(v->fd, KVM_SET_REGS, (void *)r) < 0 ? -EIO : 0;
}

int isp_ptw_get(struct introspect *isp, struct vcpu *v, struct ptw *w)
{
    struct kvm_sregs s;

    if (isp->sync_regs)
        s = v->run->s.regs.sregs;
    else if (kvm_ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -EIO;
    ptw_init(w, vm_mem(isp->vm), s.cr3, s.cr4, s.efer);
    return 0;
}

static struct introspect *isp_of(struct vcpu *v)
{
    return vm_introspect(v->vm);
}

/* ---- kernel text -------------------------------------------------------- */

static size_t isp_patches(struct introspect *isp, struct isp_patch *out)
{
    size_t n = 0;

    for (unsigned i = 0; i < isp->nprobes; i++)
        if (isp->probes[i].patched)
            out[n++] = (struct isp_patch){ isp->probes[i].gva, isp->probes[i].saved,
                                           ISP_PROBE_LEN };
    return n;
}

static void isp_text_record(struct introspect *isp, struct vcpu *v, const char *event,
                            const uint8_t sha[ISP_SHA256_LEN], bool notify)
{
    cJSON *rec = cJSON_CreateObject();
    char hex[2 * ISP_SHA256_LEN + 1], addr[24];

    isp_sha256_to_hex(sha, hex);
    snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)isp->text_start);
    cJSON_AddStringToObject(rec, "start", addr);
    cJSON_AddNumberToObject(rec, "len", (double)isp->text_len);
    cJSON_AddStringToObject(rec, "sha256", hex);
    isp_audit(isp, v, event, rec, notify);
}

/* Under lock: the first measurement, at the first trap (the guest runs
 * user code by then).  A vCPU whose page tables lack the text (PTI user
 * tables at the syscall entry) leaves it to a later trap. */
static void isp_text_measure(struct introspect *isp, struct vcpu *v, const struct ptw *w)
{
    struct isp_patch patches[ISP_MAX_PROBES];
    uint64_t s, e;

    if (isp->text_measured || !isp->cfg.measure_text || !isp->slide_known ||
        isp->text_tries >= 1000)
        return;
    isp->text_tries++;
    if (!isp_profile_lookup(&isp->cfg.profile, ISP_SYM_STEXT, &s) ||
        !isp_profile_lookup(&isp->cfg.profile, ISP_SYM_ETEXT, &e) || e <= s) {
        isp->text_tries = 1000;
        return;
    }
    isp->text_start = s + (uint64_t)isp->slide;
    isp->text_len = e - s;
    if (isp_sha256_guest(w, isp->text_start, isp->text_len, patches,
                         isp_patches(isp, patches), isp->text_sha))
        return;
    isp->text_measured = true;
    isp->text_ptw = *w;
    isp_text_record(isp, v, "kernel_text_measured", isp->text_sha, false);
}

static int isp_text_recheck(struct introspect *isp, struct vcpu *v)
{
    struct isp_patch patches[ISP_MAX_PROBES];
    uint8_t now[ISP_SHA256_LEN];
    int ret;

    if (!isp->text_measured)
        return -EAGAIN;
    ret = isp_sha256_guest(&isp->text_ptw, isp->text_start, isp->text_len, patches,
                           isp_patches(isp, patches), now);
    if (ret)
        return ret;
    if (!memcmp(now, isp->text_sha, ISP_SHA256_LEN))
        return 0;
    atomic_fetch_add(&isp->tamper, 1);
    isp_text_record(isp, v, "kernel_text_changed", now, true);
    memcpy(isp->text_sha, now, ISP_SHA256_LEN);    /* report each change once */
    return 1;
}

int introspect_check_text(struct vm *vm)
{
    struct introspect *isp = vm_introspect(vm);
    int ret;

    if (!isp)
        return -ENODEV;
    pthread_mutex_lock(&isp->lock);
    ret = isp_text_recheck(isp, NULL);
    pthread_mutex_unlock(&isp->lock);
    return ret;
}

/* ---- breakpoints and probes -------------------------------------------- */

static int isp_debug_apply(struct introspect *isp, struct vcpu *v)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];
    struct kvm_guest_debug dbg = { 0 };

    if (iv->ndr) {
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        for (unsigned i = 0; i < iv->ndr; i++) {
            dbg.arch.debugreg[i] = iv->dr[i];
            dbg.arch.debugreg[7] |= 2ULL << (2 * i);    /* Gn; RW/LEN 0 = execute */
        }
    }
    return kvm_ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0 ? -EIO : 0;
}

/* Under lock: this vCPU's breakpoints, from its own thread. */
static void isp_arm_breakpoints(struct introspect *isp, struct vcpu *v)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];

    iv->ndr = 0;
    if (isp->cfg.mode == ISP_MODE_FULL) {
        iv->dr[iv->ndr++] = iv->msr[0];
    } else {
        for (unsigned i = 0; i < isp->nprobes; i++)
            if (!isp->probes[i].patched && iv->ndr < 4)
                iv->dr[iv->ndr++] = isp->probes[i].gva;
    }
    if (isp_debug_apply(isp, v))
        log_warn("%s: vcpu%u: KVM_SET_GUEST_DEBUG failed", vm_name(isp->vm), v->index);
}

/* Where a handler's probe goes: after endbr64, on the ftrace NOP. */
static int isp_probe_site(const struct ptw *w, uint64_t sym, uint64_t *site, uint8_t bytes[5])
{
    uint8_t head[4 + ISP_PROBE_LEN];

    if (ptw_read(w, sym, head, sizeof(head)))
        return -EFAULT;
    *site = sym + (memcmp(head, isp_endbr64, 4) ? 0 : 4);
    memcpy(bytes, head + (*site - sym), ISP_PROBE_LEN);
    return memcmp(bytes, isp_nop5, ISP_PROBE_LEN) ? -ENOEXEC : 0;
}

static void isp_probe_add(struct introspect *isp, struct vcpu *v, const struct ptw *w,
                          const char *sym, const char *call)
{
    struct isp_probe *p = &isp->probes[isp->nprobes];
    uint64_t addr;
    int ret;

    if (!isp_profile_lookup(&isp->cfg.profile, sym, &addr))
        return;
    p->sym = sym;
    p->nr = syscall_number(call);
    addr += (uint64_t)isp->slide;
    ret = isp_probe_site(w, addr, &p->gva, p->saved);
    if (isp->cfg.trap != ISP_TRAP_BREAKPOINT && !ret) {
        if (ptw_write(w, p->gva, isp_probe_code, ISP_PROBE_LEN)) {
            log_warn("%s: probe %s: cannot write", vm_name(isp->vm), sym);
            return;
        }
        p->patched = true;
    } else if (isp->cfg.trap == ISP_TRAP_PROBE) {
        log_warn("%s: probe %s: %s", vm_name(isp->vm), sym,
                 ret == -ENOEXEC ? "no 5-byte NOP at its entry" : "not mapped");
        return;
    } else {
        p->gva = addr;          /* a breakpoint on the entry itself */
    }
    isp->nprobes++;
}

/* Under lock, once the entry point (so the slide) is known. */
static void isp_probes_place(struct introspect *isp, struct vcpu *v)
{
    struct ptw w;
    cJSON *rec, *arr;

    if (isp->probes_placed || isp->cfg.mode != ISP_MODE_TARGETED)
        return;
    isp->probes_placed = true;
    if (isp_ptw_get(isp, v, &w))
        return;
    for (unsigned i = 0; i < ARRAY_SIZE(isp_handlers) && isp->nprobes < ISP_MAX_PROBES; i++)
        if (isp_policy_audits(isp->policy, (uint64_t)syscall_number(isp_handlers[i].call)))
            isp_probe_add(isp, v, &w, isp_handlers[i].sym, isp_handlers[i].call);
    rec = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(rec, "probes");
    for (unsigned i = 0; arr && i < isp->nprobes; i++) {
        cJSON *o = cJSON_CreateObject();
        char a[24];

        snprintf(a, sizeof(a), "0x%llx", (unsigned long long)isp->probes[i].gva);
        cJSON_AddStringToObject(o, "symbol", isp->probes[i].sym);
        cJSON_AddStringToObject(o, "address", a);
        cJSON_AddStringToObject(o, "trap", isp->probes[i].patched ? "probe" : "breakpoint");
        cJSON_AddItemToArray(arr, o);
    }
    isp_audit(isp, v, "probes_placed", rec, false);
}

static struct isp_probe *isp_probe_at(struct introspect *isp, uint64_t gva, bool patched)
{
    for (unsigned i = 0; i < isp->nprobes; i++)
        if (isp->probes[i].gva == gva && isp->probes[i].patched == patched)
            return &isp->probes[i];
    return NULL;
}
