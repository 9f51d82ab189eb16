#include "vcpu/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "introspect/introspect.h"
#include "kvm.h"
#include "sched/sched.h"
#include "util/log.h"
#include "vm.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
    (void)sig;  /* only there to interrupt KVM_RUN */
}

int vcpu_signals_init(void)
{
    struct sigaction sa = { .sa_handler = kick_handler };

    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: KVM_RUN must return EINTR */
    return sigaction(KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, const struct kvm_host *host, unsigned index)
{
    int ret;

    memset(vcpu, 0, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->index = index;
    vcpu->stats_fd = -1;
    vcpu->halt_stat = -1;
    vcpu->fd = kvm_ioctl(vm_fd(vm), KVM_CREATE_VCPU, (void *)(uintptr_t)index);
    if (vcpu->fd < 0)
        return vcpu->fd;
    /* Now, not on demand: the ioctl waits for KVM_RUN to return. */
    if (kvm_check_extension(vm_fd(vm), KVM_CAP_BINARY_STATS_FD) > 0)
        vcpu->stats_fd = kvm_ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
    if (vcpu->stats_fd < 0)
        vcpu->stats_fd = -1;
    if (vcpu->stats_fd < 0 || vcpu_kvm_stat_find(vcpu, "halt_exits", &vcpu->halt_stat))
        vcpu->halt_stat = -1;
    vcpu->run_size = host->run_size;
    vcpu->run = mmap(NULL, host->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
    if (vcpu->run == MAP_FAILED) {
        ret = -errno;
        close(vcpu->fd);
        vcpu->fd = -1;
        return ret;
    }
    atomic_store(&vcpu->state, VCPU_CREATED);
    return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
    if (vcpu->run && vcpu->run != MAP_FAILED)
        munmap(vcpu->run, vcpu->run_size);
    if (vcpu->fd >= 0)
        close(vcpu->fd);
    if (vcpu->stats_fd >= 0)
        close(vcpu->stats_fd);
    vcpu->run = NULL;
    vcpu->fd = -1;
    vcpu->stats_fd = -1;
}

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;

    while ((1u << b) < n)
        b++;
    return b;
}

static void cpuid_fix_entry(struct kvm_cpuid_entry2 *e, unsigned index, unsigned ncpus)
{
    switch (e->function) {
    case 1:
        e->ebx = (e->ebx & 0x0000ffff) | (index << 24) | ((ncpus & 0xff) << 16);
        e->edx |= ncpus > 1 ? (1u << 28) : 0;   /* HTT: more than one logical CPU */
        e->ecx |= 1u << 31;                     /* running under a hypervisor */
        break;
    case 0xd:
        /* XSAVE area size for the features the guest will enable (all of
         * them): the guest checks it against its own sum of the parts. */
        if (e->index == 0)
            e->ebx = e->ecx;
        break;
    case 0xa:   /* no architectural PMU: guests must not poke PMU MSRs */
        e->eax = e->ebx = e->ecx = e->edx = 0;
        break;
    case 0xb:
    case 0x1f:  /* x2APIC topology: one package, ncpus cores, no SMT */
        if (e->index == 0) {
            e->eax = 0;
            e->ebx = 1;
            e->ecx = (1u << 8);
        } else if (e->index == 1) {
            e->eax = bits_for(ncpus);
            e->ebx = ncpus;
            e->ecx = (2u << 8) | 1;
        } else {
            e->eax = e->ebx = 0;
            e->ecx = e->index;
        }
        e->edx = index;
        break;
    case 0x80000001:
        if (ncpus > 1)
            e->ecx |= 1u << 1;                  /* CmpLegacy */
        break;
    case 0x80000008:
        e->ecx = (e->ecx & ~0xf0ffu) | (ncpus > 1 ? ncpus - 1 : 0) | (bits_for(ncpus) << 12);
        break;
    case 0x8000001e:
        e->eax = index;
        e->ebx = (e->ebx & ~0xffu) | index;
        break;
    default:
        break;
    }
}

int vcpu_setup_cpuid(struct vcpu *vcpu, const struct kvm_host *host, unsigned ncpus)
{
    size_t sz = sizeof(*host->cpuid) + host->cpuid->nent * sizeof(host->cpuid->entries[0]);
    struct kvm_cpuid2 *c = malloc(sz);
    int ret;

    if (!c)
        return -ENOMEM;
    memcpy(c, host->cpuid, sz);
    for (unsigned i = 0; i < c->nent; i++)
        cpuid_fix_entry(&c->entries[i], vcpu->index, ncpus);
    ret = kvm_ioctl(vcpu->fd, KVM_SET_CPUID2, c);
    free(c);
    return ret < 0 ? ret : 0;
}

#define MSR_IA32_SYSENTER_CS   0x174
#define MSR_IA32_SYSENTER_ESP  0x175
#define MSR_IA32_SYSENTER_EIP  0x176
#define MSR_IA32_MISC_ENABLE   0x1a0
#define MSR_MTRR_DEF_TYPE      0x2ff
#define MSR_STAR               0xc0000081
#define MSR_LSTAR              0xc0000082
#define MSR_CSTAR              0xc0000083
#define MSR_SYSCALL_MASK       0xc0000084
#define MSR_KERNEL_GS_BASE     0xc0000102

int vcpu_setup_msrs(struct vcpu *vcpu)
{
    static const struct { uint32_t index; uint64_t value; } init[] = {
        { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
        { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
        { MSR_IA32_MISC_ENABLE, 1 },            /* fast strings */
        /* MTRRs enabled, default write-back: without this the guest maps
         * all of RAM uncached and runs many times slower. */
        { MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
    };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry entry;
    } m;

    /* One at a time: a host that refuses one MSR should not lose the rest. */
    for (unsigned i = 0; i < ARRAY_SIZE(init); i++) {
        memset(&m, 0, sizeof(m));
        m.hdr.nmsrs = 1;
        m.entry.index = init[i].index;
        m.entry.data = init[i].value;
        if (kvm_ioctl(vcpu->fd, KVM_SET_MSRS, &m) != 1)
            log_debug("vcpu%u: MSR 0x%x not settable", vcpu->index, init[i].index);
    }
    return 0;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->s = 1;
    s->l = code64;
    s->db = !code64;
    s->g = 1;
}

#define CR0_PE (1u << 0)
#define CR0_ET (1u << 4)
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)

static void sregs_common(struct kvm_sregs *s, bool long_mode)
{
    seg_flat(&s->cs, 0x10, 0xb, long_mode);
    seg_flat(&s->ds, 0x18, 0x3, false);
    s->es = s->fs = s->gs = s->ss = s->ds;
    s->gdt.base = LAYOUT_GDT;
    s->gdt.limit = 4 * 8 - 1;
    s->cr0 = CR0_PE | CR0_ET;
    s->cr4 = 0;
    s->efer = 0;
    if (long_mode) {
        s->cr3 = LAYOUT_PML4;
        s->cr4 = CR4_PAE;
        s->cr0 |= CR0_PG;
        s->efer = EFER_LME | EFER_LMA;
    }
    /* an empty TSS keeps VMX entry checks happy */
    memset(&s->tr, 0, sizeof(s->tr));
    s->tr.type = 0xb;
    s->tr.present = 1;
    s->tr.limit = 0x67;
    s->tr.selector = 0;
}

static int vcpu_set_state(struct vcpu *vcpu, bool long_mode, const struct kvm_regs *regs)
{
    struct kvm_sregs s;
    int ret;

    ret = kvm_ioctl(vcpu->fd, KVM_GET_SREGS, &s);
    if (ret < 0)
        return ret;
    sregs_common(&s, long_mode);
    ret = kvm_ioctl(vcpu->fd, KVM_SET_SREGS, &s);
    if (ret < 0)
        return ret;
    ret = kvm_ioctl(vcpu->fd, KVM_SET_REGS, (void *)regs);
    return ret < 0 ? ret : 0;
}

int vcpu_set_long_mode(struct vcpu *vcpu, uint64_t rip, uint64_t rsi, uint64_t rdi, uint64_t rsp)
{
    struct kvm_regs r = { .rip = rip, .rsi = rsi, .rdi = rdi, .rsp = rsp, .rflags = 2 };

    return vcpu_set_state(vcpu, true, &r);
}

int vcpu_set_pvh_mode(struct vcpu *vcpu, uint32_t eip, uint32_t ebx)
{
    struct kvm_regs r = { .rip = eip, .rbx = ebx, .rflags = 2 };

    return vcpu_set_state(vcpu, false, &r);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    struct bus *bus = vm_pio_bus(vcpu->vm);

    vcpu->stats.io_exits++;
    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        if (!bus_access(bus, run->io.port, data, run->io.size, is_write) && !is_write)
            memset(data, 0xff, run->io.size);
    }
}

static bool mmio_in_hole(uint64_t addr)
{
    return addr >= LAYOUT_PCI_HOLE && addr < LAYOUT_HIGH_RAM;
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint64_t addr = run->mmio.phys_addr;
    unsigned len = run->mmio.len;

    vcpu->stats.mmio_exits++;
    if (len > sizeof(run->mmio.data))
        len = sizeof(run->mmio.data);
    if (bus_access(vm_mmio_bus(vcpu->vm), addr, run->mmio.data, len, run->mmio.is_write))
        return;
    if (!mmio_in_hole(addr)) {
        /* Not RAM (RAM never exits) and not a device window. */
        vm_request_stop(vcpu->vm, VM_STOP_GUEST_FAULT, 3,
                        "vcpu%u: %s of %u bytes outside guest RAM at 0x%llx",
                        vcpu->index, run->mmio.is_write ? "write" : "read", len,
                        (unsigned long long)addr);
        return;
    }
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, len);
}

static void vcpu_handle_system_event(struct vcpu *vcpu)
{
    switch (vcpu->run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_request_stop(vcpu->vm, VM_STOP_POWEROFF, 0, "guest powered off");
        break;
    case KVM_SYSTEM_EVENT_RESET:
        vm_request_stop(vcpu->vm, VM_STOP_REBOOT, 0, "guest requested a reset");
        break;
    case KVM_SYSTEM_EVENT_CRASH:
        vm_request_stop(vcpu->vm, VM_STOP_PANIC, 4, "guest crashed");
        break;
    default:
        vm_request_stop(vcpu->vm, VM_STOP_INTERNAL_ERROR, 1, "vcpu%u: unknown system event %u",
                        vcpu->index, vcpu->run->system_event.type);
    }
}

static void vcpu_fatal(struct vcpu *vcpu, enum vm_stop_reason reason, const char *what)
{
    vcpu_dump(vcpu, what);
    vm_request_stop(vcpu->vm, reason, 1, "vcpu%u: %s", vcpu->index, what);
}

/* Returns false when the vCPU must stop running. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    char why[96];

    vcpu->stats.exits++;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        if (!introspect_handle_io(vcpu))
            vcpu_handle_io(vcpu);
        return true;
    case KVM_EXIT_MMIO:
        vcpu_handle_mmio(vcpu);
        return true;
    case KVM_EXIT_DEBUG:
        introspect_handle_debug(vcpu);  /* anything else: ignored */
        return true;
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return true;
    case KVM_EXIT_SYSTEM_EVENT:
        vcpu_handle_system_event(vcpu);
        return false;
    case KVM_EXIT_SHUTDOWN:
        vcpu_fatal(vcpu, VM_STOP_TRIPLE_FAULT, "triple fault (shutdown)");
        return false;
    case KVM_EXIT_HLT:
        vcpu_fatal(vcpu, VM_STOP_INTERNAL_ERROR, "halted with nothing to wake it");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(why, sizeof(why), "VM entry failed (hardware reason 0x%llx)",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        vcpu_fatal(vcpu, VM_STOP_INTERNAL_ERROR, why);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        snprintf(why, sizeof(why), "KVM internal error (suberror %u%s)", run->internal.suberror,
                 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": emulation failure" : "");
        vcpu_fatal(vcpu, VM_STOP_INTERNAL_ERROR, why);
        return false;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
        if (introspect_handle_msr(vcpu))
            return true;
        /* fall through */
    default:
        vcpu->stats.other_exits++;
        snprintf(why, sizeof(why), "unhandled exit reason %u", run->exit_reason);
        vcpu_fatal(vcpu, VM_STOP_INTERNAL_ERROR, why);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    char name[16];

    atomic_store(&vcpu->tid, gettid());
    snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
    pthread_setname_np(pthread_self(), name);
    sched_vcpu_thread_start(vcpu);
    atomic_store(&vcpu->state, VCPU_RUNNING);
    while (!vm_stopping(vcpu->vm)) {
        int ret;

        /* A clean point: no exit half-handled, guest state all in KVM. */
        if (vm_pause_point(vcpu->vm, vcpu))
            continue;
        sched_vcpu_hold_point(vcpu);
        ret = ioctl(vcpu->fd, KVM_RUN, 0);

        if (ret < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                vcpu->run->immediate_exit = 0;
                continue;
            }
            vm_request_stop(vcpu->vm, VM_STOP_INTERNAL_ERROR, 1, "vcpu%u: KVM_RUN: %s",
                            vcpu->index, strerror(errno));
            break;
        }
        if (!vcpu_handle_exit(vcpu))
            break;
    }
    atomic_store(&vcpu->state, VCPU_STOPPED);
    return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
    int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

    if (ret)
        return -ret;
    vcpu->thread_started = true;
    /* Wait until the thread has published its TID, so whoever sees a
     * started VM (control socket, scheduler) sees real thread ids. */
    while (!atomic_load(&vcpu->tid))
        usleep(20);
    return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
    if (!vcpu->thread_started || atomic_load(&vcpu->state) == VCPU_STOPPED)
        return;
    vcpu->run->immediate_exit = 1;
    pthread_kill(vcpu->thread, KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
    if (vcpu->thread_started)
        pthread_join(vcpu->thread, NULL);
    vcpu->thread_started = false;
}

static void seg_line(char *buf, size_t len, const char *name, const struct kvm_segment *s)
{
    snprintf(buf, len, "%s=%04x base=%016llx limit=%08x type=%x dpl=%u l=%u db=%u",
             name, s->selector, (unsigned long long)s->base, s->limit, s->type,
             s->dpl, s->l, s->db);
}

void vcpu_dump(struct vcpu *vcpu, const char *why)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    char cs[128], ss[128];

    log_err("vcpu%u stopped: %s", vcpu->index, why);
    if (kvm_ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || kvm_ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
        log_err("  (registers unavailable: %s)", strerror(errno));
        return;
    }
    log_err("  rip=%016llx rsp=%016llx rflags=%016llx",
            r.rip, r.rsp, r.rflags);
    log_err("  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", r.rax, r.rbx, r.rcx, r.rdx);
    log_err("  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx", r.rsi, r.rdi, r.rbp, r.r8);
    log_err("  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx", r.r9, r.r10, r.r11, r.r12);
    log_err("  r13=%016llx r14=%016llx r15=%016llx", r.r13, r.r14, r.r15);
    log_err("  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx",
            s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
    seg_line(cs, sizeof(cs), "cs", &s.cs);
    seg_line(ss, sizeof(ss), "ss", &s.ss);
    log_err("  %s", cs);
    log_err("  %s", ss);
    log_err("  gdt=%016llx/%x idt=%016llx/%x", s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
    if (vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR && vcpu->run->internal.ndata) {
        char d[160];
        int n = 0;

        for (unsigned i = 0; i < vcpu->run->internal.ndata && i < 4; i++)
            n += snprintf(d + n, sizeof(d) - n, " %llx",
                          (unsigned long long)vcpu->run->internal.data[i]);
        log_err("  internal error data:%s", d);
    }
}
