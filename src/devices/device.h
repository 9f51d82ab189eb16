/* Devices plug in through a static descriptor collected in a linker
 * section; the VM core creates every registered device in order and has
 * no per-device code. */
#ifndef KVMM_DEVICES_DEVICE_H
#define KVMM_DEVICES_DEVICE_H

#include "types.h"

struct vm;

typedef void (*device_counter_fn)(void *ctx, const char *name, uint64_t value);

struct device_desc {
    const char *name;
    /* Create the device for `vm`, register its ranges; *state is passed
     * back to reset and destroy.  Return 0, -errno, or 1 = "not wanted
     * for this VM" (nothing created). */
    int (*create)(struct vm *vm, void **state);
    void (*reset)(void *state);
    void (*destroy)(void *state);
    /* Optional: report each counter through emit (control socket,
     * x-query-stats).  Called from the control thread while the device
     * runs, so read counters atomically.  A counter named "requests" or
     * "<unit>.requests" counts the guest requests the device handled: the
     * scheduler's adaptive weights read it as the VM's I/O rate. */
    void (*counters)(void *state, device_counter_fn emit, void *ctx);
};

#define DEVICE_REGISTER(desc)                                              \
    static const struct device_desc *const devreg_##desc                   \
        __attribute__((used, section("kvmm_devices"), aligned(8))) = &desc

extern const struct device_desc *const __start_kvmm_devices[];
extern const struct device_desc *const __stop_kvmm_devices[];

#define device_for_each(d)                                                 \
    for (const struct device_desc *const *d = __start_kvmm_devices;        \
         d < __stop_kvmm_devices; d++)

#endif
