/* Test port for firmware payloads.
 *
 * Eight I/O ports at PORT_TESTDEV (0x440), all little-endian:
 *
 *   offset 0, 32-bit write  RESULT.  0 = the test passed: log "testdev: OK"
 *                           and stop the VM (VM_STOP_TEST_RESULT, exit 0).
 *                           0x80000000 | line = the test failed at `line`:
 *                           log "testdev: FAIL(line)" and stop with exit 1.
 *                           Any other value breaks the protocol: logged as
 *                           a bad result and the VM stops with exit 1.
 *   offset 0, 32-bit read   SIGNATURE 0x4d4d564b ("KVMM"), so a payload can
 *                           tell the device is there (unmapped ports read
 *                           all ones).
 *   offset 0, 8-bit write   PING: no effect but a counter; lets a payload
 *                           time or stress port round trips.
 *   offset 4, 32-bit write  PRINT: log "testdev: value 0x...".
 *   offset 4, 32-bit read   the last value printed (0 before any).
 *
 * Every other access is ignored (reads return all ones) and counted.
 * The device is always present; nothing but a payload touches it. */
#include "devices/testdev.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "vm.h"

struct testdev {
    struct vm *vm;
    uint32_t last_print;
    /* counters, updated from vCPU threads */
    uint64_t results, prints, pings, reads, ignored;
};

static void count(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Results and printed values are what the person running a payload waits
 * for, so they bypass the log level: one line, CR LF on a terminal (the
 * console may have put it in raw mode). */
static void testdev_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void testdev_say(const char *fmt, ...)
{
    char msg[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "kvmm: testdev: %s%s\n", msg,
            isatty(STDERR_FILENO) ? "\r" : "");
}

static void testdev_result(struct testdev *td, uint32_t val)
{
    count(&td->results);
    if (val == TESTDEV_PASS) {
        testdev_say("OK");
        vm_request_stop(td->vm, VM_STOP_TEST_RESULT, 0, "test passed");
    } else if (val & TESTDEV_FAIL_BIT) {
        uint32_t line = val & ~TESTDEV_FAIL_BIT;

        testdev_say("FAIL(%" PRIu32 ")", line);
        vm_request_stop(td->vm, VM_STOP_TEST_RESULT, 1,
                        "test failed at line %" PRIu32, line);
    } else {
        testdev_say("bad result 0x%" PRIx32, val);
        vm_request_stop(td->vm, VM_STOP_TEST_RESULT, 1,
                        "test port: bad result value 0x%" PRIx32, val);
    }
}

static void testdev_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct testdev *td = opaque;

    if (off == TESTDEV_REG_RESULT && len == 4) {
        testdev_result(td, le32_get(data));
    } else if (off == TESTDEV_REG_PRINT && len == 4) {
        uint32_t val = le32_get(data);

        count(&td->prints);
        __atomic_store_n(&td->last_print, val, __ATOMIC_RELAXED);
        testdev_say("value 0x%" PRIx32, val);
    } else if (off == TESTDEV_REG_RESULT && len == 1) {
        count(&td->pings);
    } else {
        count(&td->ignored);
    }
}

static void testdev_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct testdev *td = opaque;

    memset(data, 0xff, len);
    if (len != 4 || (off != TESTDEV_REG_RESULT && off != TESTDEV_REG_PRINT)) {
        count(&td->ignored);
        return;
    }
    count(&td->reads);
    if (off == TESTDEV_REG_RESULT)
        le32_put(data, TESTDEV_SIGNATURE);
    else
        le32_put(data, __atomic_load_n(&td->last_print, __ATOMIC_RELAXED));
}

static const struct bus_ops testdev_ops = {
    .read = testdev_read,
    .write = testdev_write,
};

static int testdev_create(struct vm *vm, void **state)
{
    struct testdev *td = calloc(1, sizeof(*td));
    int err;

    if (!td)
        return -ENOMEM;
    td->vm = vm;
    err = bus_register(vm_pio_bus(vm), PORT_TESTDEV, TESTDEV_LEN,
                       &testdev_ops, td, "testdev");
    if (err)
        goto out_free;
    *state = td;
    return 0;

out_free:
    free(td);
    return err;
}

static void testdev_reset(void *state)
{
    struct testdev *td = state;

    __atomic_store_n(&td->last_print, 0, __ATOMIC_RELAXED);
}

static void testdev_destroy(void *state)
{
    free(state);
}

static void testdev_counters(void *state, device_counter_fn emit, void *ctx)
{
    struct testdev *td = state;

    emit(ctx, "results", __atomic_load_n(&td->results, __ATOMIC_RELAXED));
    emit(ctx, "prints", __atomic_load_n(&td->prints, __ATOMIC_RELAXED));
    emit(ctx, "pings", __atomic_load_n(&td->pings, __ATOMIC_RELAXED));
    emit(ctx, "reads", __atomic_load_n(&td->reads, __ATOMIC_RELAXED));
    emit(ctx, "ignored", __atomic_load_n(&td->ignored, __ATOMIC_RELAXED));
    emit(ctx, "last_print", __atomic_load_n(&td->last_print, __ATOMIC_RELAXED));
}

static const struct device_desc testdev_desc = {
    .name = "testdev",
    .create = testdev_create,
    .reset = testdev_reset,
    .destroy = testdev_destroy,
    .counters = testdev_counters,
};
DEVICE_REGISTER(testdev_desc);
