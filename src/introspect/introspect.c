#include "introspect/introspect.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "introspect/audit.h"
#include "introspect/image.h"
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

#define DR6_B_MASK  0xfULL          /* B0..B3: which breakpoint */
#define DR6_BS      (1ULL << 14)    /* single step */
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
    isp->vcpus[v->index].gs_base = s.gs.base;
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

/* This vCPU's breakpoints, or (step) one single step with none: KVM's
 * instruction emulator ignores RFLAGS.RF for host breakpoints, so the
 * way past one is to step over its instruction with it lifted. */
static int isp_debug_apply(struct introspect *isp, struct vcpu *v, bool step)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];
    struct kvm_guest_debug dbg = { 0 };

    iv->stepping = step;
    if (step) {
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    } else if (iv->ndr) {
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        for (unsigned i = 0; i < iv->ndr; i++) {
            dbg.arch.debugreg[i] = iv->dr[i];
            dbg.arch.debugreg[7] |= 2ULL << (2 * i);    /* Gn; RW/LEN 0 = execute */
        }
    }
    return kvm_ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0 ? -EIO : 0;
}

/* Under lock: this vCPU's breakpoints, from its own thread or while it is
 * parked. */
void isp_arm_breakpoints(struct introspect *isp, struct vcpu *v)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];

    iv->bp_gen = atomic_load(&isp->bp_gen);
    iv->ndr = 0;
    if (isp->cfg.mode == ISP_MODE_FULL) {
        iv->dr[iv->ndr++] = iv->msr[0];
    } else {
        for (unsigned i = 0; i < isp->nprobes; i++)
            if (!isp->probes[i].patched && iv->ndr < 4)
                iv->dr[iv->ndr++] = isp->probes[i].gva;
    }
    if (isp_debug_apply(isp, v, false))
        log_warn("%s: vcpu%u: KVM_SET_GUEST_DEBUG failed", vm_name(isp->vm), v->index);
}

/* Where a handler's probe goes: after endbr64, on the ftrace NOP.
 * -EAGAIN: the site still calls __fentry__ (e8 rel32) — the kernel turns
 * its ftrace sites into NOPs in ftrace_init(), after the first LSTAR
 * write, and refuses (disabling ftrace) to convert a site that holds
 * anything else. */
static int isp_probe_site(const struct ptw *w, uint64_t sym, uint64_t *site, uint8_t bytes[5])
{
    uint8_t head[4 + ISP_PROBE_LEN];

    if (ptw_read(w, sym, head, sizeof(head)))
        return -EFAULT;
    *site = sym + (memcmp(head, isp_endbr64, 4) ? 0 : 4);
    memcpy(bytes, head + (*site - sym), ISP_PROBE_LEN);
    if (bytes[0] == 0xe8)
        return -EAGAIN;
    return memcmp(bytes, isp_nop5, ISP_PROBE_LEN) ? -ENOEXEC : 0;
}

/* Under lock: false while a handler's ftrace site is not converted yet. */
static bool isp_probe_sites_ready(struct introspect *isp, const struct ptw *w)
{
    uint64_t addr, site;
    uint8_t bytes[ISP_PROBE_LEN];

    for (unsigned i = 0; i < ARRAY_SIZE(isp_handlers); i++)
        if (isp_profile_lookup(&isp->cfg.profile, isp_handlers[i].sym, &addr) &&
            isp_probe_site(w, addr + (uint64_t)isp->slide, &site, bytes) == -EAGAIN)
            return false;
    return true;
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
void isp_probes_place(struct introspect *isp, struct vcpu *v)
{
    struct ptw w;
    cJSON *rec, *arr;

    if (isp->probes_placed || isp->cfg.mode != ISP_MODE_TARGETED)
        return;
    if (isp_ptw_get(isp, v, &w))
        return;
    if (!isp_probe_sites_ready(isp, &w)) {
        /* early boot: try again at later exits (introspect_handle_io) */
        atomic_store(&isp->probes_pending, true);
        return;
    }
    atomic_store(&isp->probes_pending, false);
    isp->probes_placed = true;
    atomic_fetch_add(&isp->bp_gen, 1);      /* other vCPUs arm breakpoints */
    /* All of them, whatever the policy audits now: it may change. */
    for (unsigned i = 0; i < ARRAY_SIZE(isp_handlers) && isp->nprobes < ISP_MAX_PROBES; i++)
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

/* ---- traps -------------------------------------------------------------- */

/* A trap at a syscall handler's entry (probe or breakpoint).  RDI holds
 * the struct pt_regs of the call; deny returns from the handler at once
 * with -EPERM, as its `ret` would. */
static void isp_handler_hit(struct introspect *isp, struct vcpu *v, struct kvm_regs *r,
                            const struct isp_probe *p)
{
    /* pt_regs offsets of di, si, dx, r10, r8, r9 */
    static const unsigned off[6] = { 112, 104, 96, 56, 72, 64 };
    uint64_t args[6] = { 0 }, ret_addr;
    struct ptw w;
    bool audits;

    atomic_fetch_add(&isp->probe_hits, 1);
    if (isp_ptw_get(isp, v, &w))
        return;
    pthread_mutex_lock(&isp->lock);
    isp_text_measure(isp, v, &w);
    /* In full mode (switched to at run time) the entry saw the call. */
    audits = isp->cfg.mode == ISP_MODE_TARGETED &&
             isp_policy_audits(isp->policy, (uint64_t)p->nr);
    pthread_mutex_unlock(&isp->lock);
    if (!audits)
        return;
    for (unsigned i = 0; i < 6; i++)
        if (ptw_read_u64(&w, r->rdi + off[i], &args[i]))
            args[i] = 0;
    if (isp_event_syscall(isp, v, &w, (uint64_t)p->nr, args, ISP_VIA_HANDLER) != ISP_DENY)
        return;
    if (ptw_read_u64(&w, r->rsp, &ret_addr)) {
        log_warn("%s: vcpu%u: cannot deny: stack unreadable", vm_name(isp->vm), v->index);
        return;
    }
    r->rax = (uint64_t)-ISP_EPERM;
    r->rip = ret_addr;
    r->rsp += 8;
}

/* A trap at the syscall entry (full mode): number in RAX, arguments in
 * RDI, RSI, RDX, R10, R8, R9.  Deny turns the number into -1, which the
 * kernel skips (the call then fails with -ENOSYS). */
static void isp_entry_hit(struct introspect *isp, struct vcpu *v, struct kvm_regs *r)
{
    uint64_t args[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
    struct ptw w;
    bool audits;

    atomic_fetch_add(&isp->syscalls, 1);
    if (isp_ptw_get(isp, v, &w))
        return;
    pthread_mutex_lock(&isp->lock);
    isp_text_measure(isp, v, &w);
    audits = isp_policy_audits(isp->policy, r->rax);
    pthread_mutex_unlock(&isp->lock);
    if (audits && isp_event_syscall(isp, v, &w, r->rax, args, ISP_VIA_ENTRY) == ISP_DENY)
        r->rax = (uint64_t)-1;
}

/* Length of the NOP at rip (endbr64, the 5-byte NOP, 0x90), else 0. */
static unsigned isp_nop_len(struct introspect *isp, struct vcpu *v, uint64_t rip)
{
    uint8_t code[ISP_PROBE_LEN];
    struct ptw w;

    if (isp_ptw_get(isp, v, &w) || ptw_read(&w, rip, code, sizeof(code)))
        return 0;
    if (!memcmp(code, isp_endbr64, sizeof(isp_endbr64)))
        return sizeof(isp_endbr64);
    if (!memcmp(code, isp_nop5, ISP_PROBE_LEN))
        return ISP_PROBE_LEN;
    return code[0] == 0x90;
}

bool introspect_handle_debug(struct vcpu *v)
{
    struct introspect *isp = isp_of(v);
    struct kvm_debug_exit_arch *d = &v->run->debug.arch;
    const struct isp_probe *p = NULL;
    struct kvm_regs r;
    bool entry;

    if (!isp)
        return false;
    if (isp->vcpus[v->index].stepping && (d->dr6 & DR6_BS)) {
        /* stepped over the instruction under the breakpoint: re-arm */
        if (isp_debug_apply(isp, v, false))
            log_warn("%s: vcpu%u: cannot re-arm breakpoints", vm_name(isp->vm), v->index);
        return true;
    }
    if (!(d->dr6 & DR6_B_MASK))
        return false;
    atomic_fetch_add(&isp->traps, 1);
    if (isp_regs_get(isp, v, &r))
        return false;
    pthread_mutex_lock(&isp->lock);
    entry = isp->cfg.mode == ISP_MODE_FULL && d->pc == isp->vcpus[v->index].msr[0];
    if (!entry)
        p = isp_probe_at(isp, d->pc, false);
    pthread_mutex_unlock(&isp->lock);
    if (entry)
        isp_entry_hit(isp, v, &r);
    else if (p)
        isp_handler_hit(isp, v, &r, p);
    else
        return false;
    /* Still at the breakpoint (not a denied handler that returned): get
     * past its instruction, by skipping it when it is a NOP, else by a
     * single step. */
    if (r.rip == d->pc)
        r.rip += isp_nop_len(isp, v, r.rip);
    if (isp_regs_put(isp, v, &r))
        log_warn("%s: vcpu%u: cannot write registers", vm_name(isp->vm), v->index);
    if (r.rip == d->pc && isp_debug_apply(isp, v, true))
        log_warn("%s: vcpu%u: cannot single-step", vm_name(isp->vm), v->index);
    return true;
}

/* Work left for a later exit, on any port I/O exit: probes the kernel's
 * early boot kept from being placed (every 64th exit, until placed), and
 * breakpoints other vCPUs placed since this one armed its own. */
static void isp_exit_work(struct introspect *isp, struct vcpu *v)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];

    if (atomic_load(&isp->probes_pending) && !(++iv->retries % 64)) {
        pthread_mutex_lock(&isp->lock);
        isp_probes_place(isp, v);
        pthread_mutex_unlock(&isp->lock);
    }
    if (atomic_load(&isp->bp_gen) != iv->bp_gen && (iv->learned & 1)) {
        pthread_mutex_lock(&isp->lock);
        isp_arm_breakpoints(isp, v);
        pthread_mutex_unlock(&isp->lock);
    }
}

bool introspect_handle_io(struct vcpu *v)
{
    struct introspect *isp = isp_of(v);
    struct kvm_run *run = v->run;
    const struct isp_probe *p;
    struct kvm_regs r;

    if (!isp)
        return false;
    isp_exit_work(isp, v);
    if (run->io.port != ISP_PORT || run->io.direction != KVM_EXIT_IO_OUT)
        return false;
    atomic_fetch_add(&isp->traps, 1);
    if (isp_regs_get(isp, v, &r))
        return false;
    /* KVM exits with RIP still at the out and skips it on re-entry unless
     * RIP was changed meanwhile (a deny); kvm_pvm exits with RIP past it.
     * Either way the 3-byte NOP follows. */
    pthread_mutex_lock(&isp->lock);
    p = isp_probe_at(isp, r.rip, true);
    if (!p)
        p = isp_probe_at(isp, r.rip - 2, true);
    pthread_mutex_unlock(&isp->lock);
    if (!p)
        return false;
    isp_handler_hit(isp, v, &r, p);
    if (isp_regs_put(isp, v, &r))
        log_warn("%s: vcpu%u: cannot write registers", vm_name(isp->vm), v->index);
    return true;
}

/* ---- MSR writes --------------------------------------------------------- */

static int isp_msr_index(uint32_t msr)
{
    for (int i = 0; i < ISP_NMSRS; i++)
        if (isp_msrs[i] == msr)
            return i;
    return -1;
}

static int isp_msr_write(struct vcpu *v, uint32_t index, uint64_t data)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = { .hdr.nmsrs = 1, .e = { .index = index, .data = data } };

    return kvm_ioctl(v->fd, KVM_SET_MSRS, &m) == 1 ? 0 : -EIO;
}

static void isp_msr_record(struct introspect *isp, struct vcpu *v, const char *event, int i,
                           uint64_t old, uint64_t val, bool notify)
{
    cJSON *rec = cJSON_CreateObject();
    char a[24], b[24];

    snprintf(a, sizeof(a), "0x%llx", (unsigned long long)old);
    snprintf(b, sizeof(b), "0x%llx", (unsigned long long)val);
    cJSON_AddStringToObject(rec, "msr", isp_msr_names[i]);
    if (notify)
        cJSON_AddStringToObject(rec, "old", a);
    cJSON_AddStringToObject(rec, "value", b);
    if (notify)
        cJSON_AddStringToObject(rec, "action",
                                isp->cfg.tamper == ISP_TAMPER_BLOCK ? "block" :
                                isp->cfg.tamper == ISP_TAMPER_PAUSE ? "pause" : "log");
    isp_audit(isp, v, event, rec, notify);
}

/* Under lock: the first write of LSTAR on this vCPU. */
static void isp_entry_learned(struct introspect *isp, struct vcpu *v, uint64_t lstar)
{
    uint64_t linked;

    if (!isp->slide_known && isp_profile_lookup(&isp->cfg.profile, ISP_SYM_ENTRY, &linked)) {
        isp->slide = (int64_t)(lstar - linked);
        isp->slide_known = true;
    } else if (!isp->slide_known && isp->cfg.mode == ISP_MODE_FULL) {
        isp->slide_known = !isp->cfg.has_profile;   /* no profile: nothing to slide */
    }
    isp_probes_place(isp, v);
    isp_arm_breakpoints(isp, v);
}

/* Returns false when the write must not reach the vCPU (blocked). */
static bool isp_msr_written(struct introspect *isp, struct vcpu *v, int i, uint64_t val)
{
    struct isp_vcpu *iv = &isp->vcpus[v->index];
    uint64_t old = iv->msr[i];

    if (!(iv->learned & (1u << i))) {
        iv->learned |= 1u << i;
        iv->msr[i] = val;
        isp_msr_record(isp, v, "msr_learned", i, 0, val, false);
        if (i == 0)
            isp_entry_learned(isp, v, val);
        return true;
    }
    if (val == old)
        return true;
    atomic_fetch_add(&isp->tamper, 1);
    isp_msr_record(isp, v, "msr_tamper", i, old, val, true);
    isp_text_recheck(isp, v);
    if (isp->cfg.tamper == ISP_TAMPER_BLOCK)
        return false;
    if (isp->cfg.tamper == ISP_TAMPER_PAUSE)
        isp_request_pause(isp, "system call entry changed");
    iv->msr[i] = val;
    if (i == 0 && isp->cfg.mode == ISP_MODE_FULL)
        isp_arm_breakpoints(isp, v);    /* follow the entry: keep seeing calls */
    return true;
}

bool introspect_handle_msr(struct vcpu *v)
{
    struct introspect *isp = isp_of(v);
    struct kvm_run *run = v->run;
    int i;
    bool apply;

    if (!isp || run->exit_reason != KVM_EXIT_X86_WRMSR ||
        !(run->msr.reason & KVM_MSR_EXIT_REASON_FILTER))
        return false;
    i = isp_msr_index(run->msr.index);
    if (i < 0)
        return false;
    atomic_fetch_add(&isp->msr_writes, 1);
    pthread_mutex_lock(&isp->lock);
    apply = isp_msr_written(isp, v, i, run->msr.data);
    pthread_mutex_unlock(&isp->lock);
    /* The filter kept the write from KVM: make it ourselves. */
    run->msr.error = 0;
    if (apply && isp_msr_write(v, run->msr.index, run->msr.data)) {
        log_warn("%s: vcpu%u: MSR 0x%x: cannot write", vm_name(isp->vm), v->index,
                 run->msr.index);
        run->msr.error = 1;
    }
    return true;
}

/* ---- set-up ------------------------------------------------------------- */

static int isp_msr_filter(struct introspect *isp)
{
    static uint8_t deny[1];     /* all bits clear: every MSR of a range exits */
    struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR,
                                  .args[0] = KVM_MSR_EXIT_REASON_FILTER };
    struct kvm_msr_filter f = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
    int fd = vm_fd(isp->vm);

    if (kvm_check_extension(fd, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
        kvm_check_extension(fd, KVM_CAP_X86_MSR_FILTER) <= 0)
        return -ENOTSUP;
    f.ranges[0] = (struct kvm_msr_filter_range){ KVM_MSR_FILTER_WRITE, 2, MSR_LSTAR, deny };
    f.ranges[1] = (struct kvm_msr_filter_range){ KVM_MSR_FILTER_WRITE, 3,
                                                 MSR_IA32_SYSENTER_CS, deny };
    if (kvm_ioctl(fd, KVM_ENABLE_CAP, &cap) < 0 || kvm_ioctl(fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
        return -EIO;
    return 0;
}

static int isp_setup_kvm(struct introspect *isp, char *err, size_t errlen)
{
    int mask = kvm_check_extension(vm_fd(isp->vm), KVM_CAP_SYNC_REGS);
    int want = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    int ret;

    isp->sync_regs = mask > 0 && (mask & want) == want;
    for (unsigned i = 0; isp->sync_regs && i < vm_ncpus(isp->vm); i++)
        vm_vcpu(isp->vm, i)->run->kvm_valid_regs = want;
    ret = isp_msr_filter(isp);
    isp->msr_filter = !ret;
    if (ret) {
        snprintf(err, errlen, "introspect: this host's KVM has no usable MSR filter (%s); "
                 "it is how kvmm learns the system call entry", strerror(-ret));
        return ret;
    }
    return 0;
}

static void isp_free(struct introspect *isp)
{
    if (!isp)
        return;
    if (isp->pause_started)
        pthread_join(isp->pause_thread, NULL);
    pthread_mutex_destroy(&isp->pause_lock);
    audit_close(isp->audit);
    isp_image_close(isp->image);
    isp_policy_free(isp->policy);
    isp_config_free(&isp->cfg);
    free(isp->vcpus);
    pthread_mutex_destroy(&isp->lock);
    free(isp);
}

static int isp_create(struct vm *vm, void **state)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct introspect *isp;
    char err[512];
    int ret;

    if (!spec->introspect)
        return 1;
    isp = calloc(1, sizeof(*isp));
    if (!isp)
        return -ENOMEM;
    pthread_mutex_init(&isp->lock, NULL);
    pthread_mutex_init(&isp->pause_lock, NULL);
    isp->vm = vm;
    isp->vcpus = calloc(vm_ncpus(vm), sizeof(*isp->vcpus));
    ret = isp->vcpus ? isp_config_parse_string(spec->introspect, "introspect", &isp->cfg, err,
                                               sizeof(err)) : -ENOMEM;
    if (!ret) {
        isp->policy = isp->cfg.policy;     /* ours now: set_policy replaces it */
        isp->cfg.policy = NULL;
        ret = audit_open(&isp->audit, isp->cfg.audit_log, isp->cfg.audit_rate,
                         isp->cfg.audit_burst);
        if (ret)
            snprintf(err, sizeof(err), "introspect.audit_log: %s", strerror(-ret));
    }
    if (!ret && isp->cfg.image)
        ret = isp_image_open(isp->cfg.image, &isp->image, err, sizeof(err));
    if (!ret)
        isp_layout_init(isp);
    if (!ret)
        ret = isp_setup_kvm(isp, err, sizeof(err));
    if (ret) {
        if (ret != -ENOMEM)
            log_err("%s: %s", vm_name(vm), err);
        isp_free(isp);
        return ret;
    }
    vm_introspect_set(vm, isp);
    log_info("%s: introspection on (%s mode, msr filter %s, sync regs %s, task %s)",
             vm_name(vm), isp->cfg.mode == ISP_MODE_FULL ? "full" : "targeted",
             isp->msr_filter ? "on" : "off", isp->sync_regs ? "on" : "off",
             isp->layout.task ? "named" : "unknown (profile without BTF offsets)");
    *state = isp;
    return 0;
}

static void isp_destroy(void *state)
{
    struct introspect *isp = state;

    vm_introspect_set(isp->vm, NULL);
    isp_free(isp);
}

static void isp_counters(void *state, device_counter_fn emit, void *ctx)
{
    struct introspect *isp = state;

    emit(ctx, "traps", atomic_load(&isp->traps));
    emit(ctx, "syscalls", atomic_load(&isp->syscalls));
    emit(ctx, "probe_hits", atomic_load(&isp->probe_hits));
    emit(ctx, "audited", atomic_load(&isp->audited));
    emit(ctx, "denied", atomic_load(&isp->denied));
    emit(ctx, "paused", atomic_load(&isp->paused));
    emit(ctx, "tamper", atomic_load(&isp->tamper));
    emit(ctx, "msr_writes", atomic_load(&isp->msr_writes));
    emit(ctx, "records", audit_written(isp->audit));
    emit(ctx, "dropped", audit_dropped(isp->audit));
}

int introspect_set_policy(struct vm *vm, const char *json, char *err, size_t errlen)
{
    struct introspect *isp = vm_introspect(vm);
    struct isp_policy *p, *old;
    int ret;

    if (!isp) {
        snprintf(err, errlen, "introspection is off for this VM");
        return -ENODEV;
    }
    ret = isp_policy_parse_string(json, &p, err, errlen);
    if (ret)
        return ret;
    pthread_mutex_lock(&isp->lock);
    old = isp->policy;
    isp->policy = p;
    pthread_mutex_unlock(&isp->lock);
    isp_policy_free(old);
    isp_audit(isp, NULL, "policy_replaced", cJSON_CreateObject(), false);
    return 0;
}

static const struct device_desc isp_desc = {
    .name = "introspect",
    .create = isp_create,
    .destroy = isp_destroy,
    .counters = isp_counters,
};
DEVICE_REGISTER(isp_desc);
