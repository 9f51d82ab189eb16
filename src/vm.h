/* One virtual machine: memory, buses, vCPUs and devices.  Devices reach
 * the VM only through these accessors. */
#ifndef KVMM_VM_H
#define KVMM_VM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include "types.h"

struct vm;
struct vm_spec;
struct guest_mem;
struct bus;
struct pci_bus;
struct evloop;
struct vcpu;
struct kvm_host;

enum vm_stop_reason {
    VM_STOP_NONE = 0,
    VM_STOP_POWEROFF,      /* guest powered off: exit 0 */
    VM_STOP_REBOOT,        /* guest asked for a reset */
    VM_STOP_TEST_RESULT,   /* firmware test port reported OK or FAIL */
    VM_STOP_TRIPLE_FAULT,
    VM_STOP_INTERNAL_ERROR,/* emulation failure, bad exit, host error */
    VM_STOP_GUEST_FAULT,   /* guest touched what it must not (outside RAM) */
    VM_STOP_PANIC,         /* guest kernel panic (pvpanic) */
    VM_STOP_SIGNAL,        /* host asked us to stop */
    VM_STOP_QUIT,          /* control command quit: exit 0 */
    VM_STOP_HOST_RESET,    /* control command system_reset: always restarts */
};

const struct vm_spec *vm_spec(const struct vm *vm);
struct guest_mem *vm_mem(struct vm *vm);
struct bus *vm_pio_bus(struct vm *vm);
struct bus *vm_mmio_bus(struct vm *vm);
struct pci_bus *vm_pci(struct vm *vm);
unsigned vm_ncpus(const struct vm *vm);
int vm_fd(const struct vm *vm);
const char *vm_name(const struct vm *vm);
struct evloop *vm_evloop(struct vm *vm);
struct vcpu *vm_vcpu(struct vm *vm, unsigned index);
const struct kvm_host *vm_host(const struct vm *vm);
/* The VM's introspection engine, NULL when off (src/introspect/). */
struct introspect *vm_introspect(const struct vm *vm);
void vm_introspect_set(struct vm *vm, struct introspect *isp);

/* Build the VM described by spec (memory, irqchip, devices, vCPUs) and
 * load its kernel.  On failure err holds a one-line reason. */
int vm_create(const struct kvm_host *host, const struct vm_spec *spec, struct vm **out,
              char *err, size_t errlen) WUR;
/* For a device's create hook that fails: the one-line reason vm_create
 * reports, in place of "device NAME: <errno text>". */
void vm_device_error(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start the I/O thread and every vCPU thread. */
int vm_start(struct vm *vm) WUR;
/* Block until the VM stops, then join its threads. */
enum vm_stop_reason vm_wait(struct vm *vm);
int vm_exit_code(const struct vm *vm);
const char *vm_stop_message(const struct vm *vm);
void vm_destroy(struct vm *vm);

/* Drive an interrupt line of the in-kernel PIC/IOAPIC. */
int vm_irq_line(struct vm *vm, unsigned gsi, int level) WUR;

/* Ask every vCPU of the VM to stop; the first reason wins.  Safe from any
 * thread.  exit_code is what kvmm exits with if this VM decides it. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_code,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool vm_stopping(const struct vm *vm);

/* Pause: every vCPU parks at a clean point (between two KVM_RUN calls,
 * state VCPU_PAUSED) and the I/O thread stops running callbacks, so
 * nothing touches guest memory.  Returns once all are parked; 0 also when
 * already paused, -ESHUTDOWN when the VM is stopping, -ETIMEDOUT when a
 * vCPU does not park within a few seconds (the VM is resumed then).  From
 * a thread that is neither a vCPU nor the VM's I/O thread. */
int vm_pause(struct vm *vm) WUR;
/* Resume a paused VM; 0 also when it was running. */
int vm_resume(struct vm *vm) WUR;
bool vm_paused(const struct vm *vm);
/* For vCPU threads: park here while the VM is paused; true when the vCPU
 * parked (the caller re-checks whether to stop). */
bool vm_pause_point(struct vm *vm, struct vcpu *vcpu);

/* A copy of the guest's serial console output: appended to path, or no
 * copy when path is NULL.  Safe from any thread.  On failure err holds a
 * one-line reason naming path (console_file_open). */
int vm_console_log_set(struct vm *vm, const char *path, char *err, size_t errlen) WUR;
/* Devices that produce console output call this with every chunk. */
void vm_console_copy(struct vm *vm, const void *buf, size_t len);

/* Every counter of every device that has some (device.h, counters). */
typedef void (*vm_counter_fn)(void *ctx, const char *device, const char *name, uint64_t value);
void vm_device_counters(struct vm *vm, vm_counter_fn fn, void *ctx);

#endif
