/* pvpanic, ISA flavour: one I/O port at PORT_PVPANIC (announced in the
 * DSDT as QEMU0001).  Reads return the events the device understands;
 * the guest writes PANICKED when its kernel panics (the VM then stops with
 * VM_STOP_PANIC and the control socket reports GUEST_PANICKED) and
 * CRASH_LOADED when a kdump kernel took over (counted and logged). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "util/log.h"
#include "vm.h"

#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)
#define PVPANIC_EXIT_CODE    4      /* as a KVM crash system event */

struct pvpanic {
    struct vm *vm;
    uint64_t panics, crash_loaded, reads;
};

static void pvpanic_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct pvpanic *p = opaque;

    __atomic_fetch_add(&p->reads, 1, __ATOMIC_RELAXED);
    memset(data, 0, len);
    data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

static void pvpanic_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct pvpanic *p = opaque;

    if (data[0] & PVPANIC_PANICKED) {
        __atomic_fetch_add(&p->panics, 1, __ATOMIC_RELAXED);
        vm_request_stop(p->vm, VM_STOP_PANIC, PVPANIC_EXIT_CODE, "guest panicked (pvpanic)");
    } else if (data[0] & PVPANIC_CRASH_LOADED) {
        __atomic_fetch_add(&p->crash_loaded, 1, __ATOMIC_RELAXED);
        log_warn("%s: guest crashed, crash kernel loaded (pvpanic)", vm_name(p->vm));
    }
}

static const struct bus_ops pvpanic_ops = { .read = pvpanic_read, .write = pvpanic_write };

static int pvpanic_create(struct vm *vm, void **state)
{
    struct pvpanic *p = calloc(1, sizeof(*p));
    int ret;

    if (!p)
        return -ENOMEM;
    p->vm = vm;
    ret = bus_register(vm_pio_bus(vm), PORT_PVPANIC, 1, &pvpanic_ops, p, "pvpanic");
    if (ret) {
        free(p);
        return ret;
    }
    *state = p;
    return 0;
}

static void pvpanic_destroy(void *state)
{
    free(state);
}

static void pvpanic_counters(void *state, device_counter_fn emit, void *ctx)
{
    struct pvpanic *p = state;

    emit(ctx, "panics", __atomic_load_n(&p->panics, __ATOMIC_RELAXED));
    emit(ctx, "crash_loaded", __atomic_load_n(&p->crash_loaded, __ATOMIC_RELAXED));
    emit(ctx, "reads", __atomic_load_n(&p->reads, __ATOMIC_RELAXED));
}

static const struct device_desc pvpanic_device = {
    .name = "pvpanic",
    .create = pvpanic_create,
    .destroy = pvpanic_destroy,
    .counters = pvpanic_counters,
};
DEVICE_REGISTER(pvpanic_device);
