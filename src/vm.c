#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "boot/layout.h"
#include "boot/loader.h"
#include "devices/bus.h"
#include "devices/console.h"
#include "devices/device.h"
#include "devices/pci.h"
#include "kvm.h"
#include "mem/guest_mem.h"
#include "sched/sched.h"
#include "spec.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vcpu/vcpu.h"

#define VM_MAX_DEVICES 32
#define VM_TSS_ADDR 0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

struct vm_device {
    const struct device_desc *desc;
    void *state;
};

struct vm {
    const struct vm_spec *spec;
    const struct kvm_host *host;
    int fd;
    struct guest_mem mem;
    struct bus pio, mmio;
    struct pci_bus *pci;
    struct vcpu *vcpus;
    unsigned ncpus, ncreated;
    struct vm_device devices[VM_MAX_DEVICES];
    unsigned ndevices;
    struct evloop *loop;
    pthread_t io_thread;
    bool io_started;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stopping;
    enum vm_stop_reason reason;
    int exit_code;
    char stop_msg[256];
    atomic_bool paused;     /* under lock; vCPUs park while it is set */
    unsigned nparked;

    pthread_mutex_t console_lock;
    atomic_int console_log_fd;

    struct introspect *_Atomic introspect;
    char device_err[256];   /* from the device being created */
};

const struct vm_spec *vm_spec(const struct vm *vm) { return vm->spec; }
struct guest_mem *vm_mem(struct vm *vm) { return &vm->mem; }
struct bus *vm_pio_bus(struct vm *vm) { return &vm->pio; }
struct bus *vm_mmio_bus(struct vm *vm) { return &vm->mmio; }
struct pci_bus *vm_pci(struct vm *vm) { return vm->pci; }
unsigned vm_ncpus(const struct vm *vm) { return vm->ncpus; }
int vm_fd(const struct vm *vm) { return vm->fd; }
const char *vm_name(const struct vm *vm) { return vm->spec->name; }
struct evloop *vm_evloop(struct vm *vm) { return vm->loop; }
struct vcpu *vm_vcpu(struct vm *vm, unsigned index) { return index < vm->ncpus ? &vm->vcpus[index] : NULL; }
const struct kvm_host *vm_host(const struct vm *vm) { return vm->host; }
struct introspect *vm_introspect(const struct vm *vm) { return atomic_load(&vm->introspect); }
void vm_introspect_set(struct vm *vm, struct introspect *isp) { atomic_store(&vm->introspect, isp); }
int vm_exit_code(const struct vm *vm) { return vm->exit_code; }
const char *vm_stop_message(const struct vm *vm) { return vm->stop_msg; }
bool vm_stopping(const struct vm *vm) { return atomic_load(&vm->stopping); }
bool vm_paused(const struct vm *vm) { return atomic_load(&vm->paused); }

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
    struct kvm_irq_level irq = { .irq = gsi, .level = level };

    return kvm_ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_code, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&vm->lock);
    if (vm->reason == VM_STOP_NONE) {
        vm->reason = reason;
        vm->exit_code = exit_code;
        va_start(ap, fmt);
        vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
        va_end(ap);
    }
    atomic_store(&vm->stopping, true);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->ncreated; i++)
        vcpu_kick(&vm->vcpus[i]);
}

bool vm_pause_point(struct vm *vm, struct vcpu *vcpu)
{
    if (!atomic_load(&vm->paused))
        return false;
    pthread_mutex_lock(&vm->lock);
    if (!atomic_load(&vm->paused)) {
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    vcpu->stats.pauses++;
    atomic_store(&vcpu->state, VCPU_PAUSED);
    vm->nparked++;
    pthread_cond_broadcast(&vm->cond);
    while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm->nparked--;
    atomic_store(&vcpu->state, VCPU_RUNNING);
    pthread_mutex_unlock(&vm->lock);
    return true;
}

#define VM_PAUSE_TIMEOUT_S 5

/* Under vm->lock: wait until every vCPU has parked. */
static int vm_wait_parked(struct vm *vm)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += VM_PAUSE_TIMEOUT_S;
    while (vm->nparked < vm->ncpus && !atomic_load(&vm->stopping)) {
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
            return -ETIMEDOUT;
    }
    return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
}

int vm_pause(struct vm *vm)
{
    int ret;

    pthread_mutex_lock(&vm->lock);
    if (atomic_load(&vm->stopping)) {
        pthread_mutex_unlock(&vm->lock);
        return -ESHUTDOWN;
    }
    if (atomic_load(&vm->paused)) {
        pthread_mutex_unlock(&vm->lock);
        return 0;
    }
    atomic_store(&vm->paused, true);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->ncreated; i++)
        vcpu_kick(&vm->vcpus[i]);
    pthread_mutex_lock(&vm->lock);
    ret = vm_wait_parked(vm);
    pthread_mutex_unlock(&vm->lock);
    if (ret) {
        if (vm_resume(vm))
            log_debug("%s: resume after a failed pause", vm_name(vm));
        return ret;
    }
    if (vm->io_started)
        evloop_pause(vm->loop);
    return 0;
}

int vm_resume(struct vm *vm)
{
    if (!atomic_load(&vm->paused))
        return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
    if (vm->io_started)
        evloop_resume(vm->loop);
    pthread_mutex_lock(&vm->lock);
    atomic_store(&vm->paused, false);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

int vm_console_log_set(struct vm *vm, const char *path, char *err, size_t errlen)
{
    int fd = -1, old;

    if (path) {
        fd = console_file_open(path, O_APPEND, 0600, err, errlen);
        if (fd < 0)
            return fd;
    }
    pthread_mutex_lock(&vm->console_lock);
    old = atomic_exchange(&vm->console_log_fd, fd);
    pthread_mutex_unlock(&vm->console_lock);
    if (old >= 0)
        close(old);
    return 0;
}

void vm_console_copy(struct vm *vm, const void *buf, size_t len)
{
    if (atomic_load(&vm->console_log_fd) < 0)
        return;
    pthread_mutex_lock(&vm->console_lock);
    if (atomic_load(&vm->console_log_fd) >= 0 &&
        write(atomic_load(&vm->console_log_fd), buf, len) < 0)
        log_debug("%s: console log write failed", vm_name(vm));
    pthread_mutex_unlock(&vm->console_lock);
}

struct vm_counter_ctx {
    vm_counter_fn fn;
    void *ctx;
    const char *device;
};

static void vm_counter_emit(void *arg, const char *name, uint64_t value)
{
    struct vm_counter_ctx *c = arg;

    c->fn(c->ctx, c->device, name, value);
}

void vm_device_counters(struct vm *vm, vm_counter_fn fn, void *ctx)
{
    for (unsigned i = 0; i < vm->ndevices; i++) {
        const struct vm_device *d = &vm->devices[i];
        struct vm_counter_ctx c = { fn, ctx, d->desc->name };

        if (d->desc->counters)
            d->desc->counters(d->state, vm_counter_emit, &c);
    }
}

static void vm_counter_log(void *ctx, const char *device, const char *name, uint64_t value)
{
    struct vm *vm = ctx;

    log_info("%s: %s %s %llu", vm_name(vm), device, name, (unsigned long long)value);
}

static int vm_setup_memory(struct vm *vm, char *err, size_t errlen)
{
    int ret = guest_mem_init(&vm->mem, vm->spec->memory_mib * MiB);

    if (ret) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
                 (unsigned long long)vm->spec->memory_mib, strerror(-ret));
        return ret;
    }
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        const struct guest_region *r = &vm->mem.regions[i];
        struct kvm_userspace_memory_region slot = {
            .slot = i, .guest_phys_addr = r->gpa, .memory_size = r->size,
            .userspace_addr = (uintptr_t)r->hva,
        };

        ret = kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot);
        if (ret < 0) {
            snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
            return ret;
        }
    }
    return 0;
}

static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen)
{
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    uint64_t idmap = VM_IDENTITY_MAP_ADDR;
    int ret;

    /* Intel needs these two pages below 4 GiB; AMD ignores them. */
    if (kvm_check_extension(vm->fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
        kvm_ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        log_debug("KVM_SET_IDENTITY_MAP_ADDR failed");
    if (kvm_ioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)VM_TSS_ADDR) < 0)
        log_debug("KVM_SET_TSS_ADDR failed");
    ret = kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
    if (ret < 0) {
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(-ret));
        return ret;
    }
    ret = kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit);
    if (ret < 0) {
        snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(-ret));
        return ret;
    }
    return 0;
}

void vm_device_error(struct vm *vm, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(vm->device_err, sizeof(vm->device_err), fmt, ap);
    va_end(ap);
}

static int vm_create_devices(struct vm *vm, char *err, size_t errlen)
{
    device_for_each(d) {
        void *state = NULL;
        int ret;

        if (vm->ndevices == VM_MAX_DEVICES) {
            snprintf(err, errlen, "too many devices");
            return -ENOSPC;
        }
        vm->device_err[0] = '\0';
        ret = (*d)->create(vm, &state);
        if (ret == 1)
            continue;
        if (ret < 0) {
            if (vm->device_err[0])
                snprintf(err, errlen, "%s", vm->device_err);
            else
                snprintf(err, errlen, "device %s: %s", (*d)->name, strerror(-ret));
            return ret;
        }
        vm->devices[vm->ndevices++] = (struct vm_device){ *d, state };
    }
    return 0;
}

static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen)
{
    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus)
        return -ENOMEM;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        int ret = vcpu_create(v, vm, vm->host, i);

        if (ret) {
            snprintf(err, errlen, "cannot create vCPU %u: %s", i, strerror(-ret));
            return ret;
        }
        vm->ncreated++;
        ret = vcpu_setup_cpuid(v, vm->host, vm->ncpus);
        if (ret) {
            snprintf(err, errlen, "vCPU %u: KVM_SET_CPUID2: %s", i, strerror(-ret));
            return ret;
        }
        ret = vcpu_setup_msrs(v);
        if (ret) {
            snprintf(err, errlen, "vCPU %u: MSR set-up: %s", i, strerror(-ret));
            return ret;
        }
    }
    return 0;
}

int vm_create(const struct kvm_host *host, const struct vm_spec *spec, struct vm **out,
              char *err, size_t errlen)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    int ret;

    if (!vm)
        return -ENOMEM;
    vm->spec = spec;
    vm->host = host;
    vm->ncpus = spec->vcpus;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    pthread_mutex_init(&vm->console_lock, NULL);
    atomic_store(&vm->console_log_fd, -1);
    bus_init(&vm->pio, "pio");
    bus_init(&vm->mmio, "mmio");
    vm->fd = kvm_ioctl(host->fd, KVM_CREATE_VM, NULL);
    if (vm->fd < 0) {
        ret = vm->fd;
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(-ret));
        goto out_destroy;
    }
    ret = evloop_create(&vm->loop);
    if (ret) {
        snprintf(err, errlen, "event loop: %s", strerror(-ret));
        goto out_destroy;
    }
    ret = vm_setup_memory(vm, err, errlen);
    if (ret)
        goto out_destroy;
    ret = vm_setup_irqchip(vm, err, errlen);
    if (ret)
        goto out_destroy;
    ret = vm_create_vcpus(vm, err, errlen);
    if (ret)
        goto out_destroy;
    ret = pci_bus_create(vm, &vm->pci);
    if (ret) {
        snprintf(err, errlen, "PCI bus: %s", strerror(-ret));
        goto out_destroy;
    }
    ret = vm_create_devices(vm, err, errlen);
    if (ret)
        goto out_destroy;
    ret = boot_load(vm, err, errlen);
    if (ret)
        goto out_destroy;
    sched_vm_attach(vm);
    *out = vm;
    return 0;

out_destroy:
    vm_destroy(vm);
    return ret;
}

static void *vm_io_thread(void *arg)
{
    struct vm *vm = arg;
    char name[16];

    snprintf(name, sizeof(name), "io-%.12s", vm->spec->name);
    pthread_setname_np(pthread_self(), name);
    sched_io_thread_start(vm);
    evloop_run(vm->loop);
    return NULL;
}

int vm_start(struct vm *vm)
{
    int ret = pthread_create(&vm->io_thread, NULL, vm_io_thread, vm);

    if (ret)
        return -ret;
    vm->io_started = true;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        ret = vcpu_start(&vm->vcpus[i]);
        if (ret) {
            vm_request_stop(vm, VM_STOP_INTERNAL_ERROR, 1, "cannot start vCPU %u thread", i);
            return ret;
        }
    }
    return 0;
}

enum vm_stop_reason vm_wait(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    while (!atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->ncreated; i++) {
        vcpu_kick(&vm->vcpus[i]);
        vcpu_join(&vm->vcpus[i]);
    }
    if (vm->io_started) {
        evloop_stop(vm->loop);
        pthread_join(vm->io_thread, NULL);
        vm->io_started = false;
    }
    return vm->reason;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    sched_vm_detach(vm);
    if (vm->io_started || vm->ncreated)
        vm_request_stop(vm, VM_STOP_SIGNAL, 1, "VM destroyed");
    vm_wait(vm);
    if (log_enabled(LOG_INFO))
        vm_device_counters(vm, vm_counter_log, vm);
    while (vm->ndevices--) {
        struct vm_device *d = &vm->devices[vm->ndevices];

        if (d->desc->destroy)
            d->desc->destroy(d->state);
    }
    pci_bus_destroy(vm->pci);
    for (unsigned i = 0; i < vm->ncreated; i++)
        vcpu_destroy(&vm->vcpus[i]);
    free(vm->vcpus);
    evloop_destroy(vm->loop);
    if (vm->fd >= 0)
        close(vm->fd);
    guest_mem_destroy(&vm->mem);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    if (vm_console_log_set(vm, NULL, NULL, 0))
        log_debug("console log close failed");
    pthread_mutex_destroy(&vm->console_lock);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    free(vm);
}
