/* Unit tests for the PIO/MMIO bus and the checked guest-memory door. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "mem/guest_mem.h"

struct recorder {
    uint64_t last_off;
    unsigned last_len;
    uint8_t last_val;
    int writes, reads;
};

static void rec_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct recorder *r = opaque;

    r->reads++;
    r->last_off = off;
    r->last_len = len;
    memset(data, 0xab, len);
}

static void rec_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct recorder *r = opaque;

    r->writes++;
    r->last_off = off;
    r->last_len = len;
    r->last_val = data[0];
}

static const struct bus_ops rec_ops = { .read = rec_read, .write = rec_write };

static void test_dispatch_sees_offsets(void **state)
{
    struct bus bus;
    struct recorder a = { 0 }, b = { 0 };
    uint8_t data[4] = { 0x5a };

    bus_init(&bus, "t");
    assert_int_equal(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "a"), 0);
    assert_int_equal(bus_register(&bus, 0x70, 2, &rec_ops, &b, "b"), 0);
    assert_true(bus_access(&bus, 0x3fd, data, 1, true));
    assert_int_equal(a.writes, 1);
    assert_int_equal(a.last_off, 5);
    assert_int_equal(a.last_val, 0x5a);
    assert_true(bus_access(&bus, 0x71, data, 2, false));
    assert_int_equal(b.reads, 1);
    assert_int_equal(b.last_off, 1);
    assert_int_equal(data[0], 0xab);
    assert_int_equal(data[1], 0xab);
    /* edges: one past the end and one before the start miss */
    assert_false(bus_access(&bus, 0x400, data, 1, false));
    assert_false(bus_access(&bus, 0x3f7, data, 1, false));
    assert_false(bus_access(&bus, 0x72, data, 1, true));
    assert_int_equal(a.reads + b.writes, 0);
    bus_destroy(&bus);
}

static void test_overlap_rejected(void **state)
{
    struct bus bus;
    struct recorder r = { 0 };

    bus_init(&bus, "t");
    assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &r, "x"), 0);
    assert_int_equal(bus_register(&bus, 0x10f, 1, &rec_ops, &r, "y"), -EEXIST);
    assert_int_equal(bus_register(&bus, 0xf0, 0x11, &rec_ops, &r, "y"), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x0, 0x1000, &rec_ops, &r, "y"), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x110, 1, &rec_ops, &r, "y"), 0);
    assert_int_equal(bus_register(&bus, 0xff, 1, &rec_ops, &r, "y"), 0);
    assert_int_equal(bus_register(&bus, 0x200, 0, &rec_ops, &r, "empty"), -EINVAL);
    assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 4, &rec_ops, &r, "wrap"), -EINVAL);
    bus_destroy(&bus);
}

/* Many ranges registered out of order still dispatch by binary search. */
static void test_many_ranges(void **state)
{
    struct bus bus;
    struct recorder r[64] = { 0 };
    uint8_t v = 1;

    bus_init(&bus, "t");
    for (int i = 63; i >= 0; i--)
        assert_int_equal(bus_register(&bus, 0x1000 + i * 0x10, 8, &rec_ops, &r[i], "r"), 0);
    for (int i = 0; i < 64; i++) {
        assert_true(bus_access(&bus, 0x1000 + i * 0x10 + 7, &v, 1, true));
        assert_false(bus_access(&bus, 0x1000 + i * 0x10 + 8, &v, 1, true));
        assert_int_equal(r[i].writes, 1);
        assert_int_equal(r[i].last_off, 7);
    }
    bus_destroy(&bus);
}

static void test_guest_mem_bounds(void **state)
{
    struct guest_mem mem;
    uint8_t *buf = calloc(1, 4096);

    guest_mem_init_fake(&mem, buf, 4096);
    assert_ptr_equal(guest_mem_ptr(&mem, 0, 4096), buf);
    assert_ptr_equal(guest_mem_ptr(&mem, 4095, 1), buf + 4095);
    assert_ptr_equal(guest_mem_ptr(&mem, 4096, 0), buf + 4096);
    assert_null(guest_mem_ptr(&mem, 4095, 2));
    assert_null(guest_mem_ptr(&mem, 4097, 0));
    assert_null(guest_mem_ptr(&mem, 1, UINT64_MAX));
    assert_null(guest_mem_ptr(&mem, UINT64_MAX, 2));
    assert_null(guest_mem_ptr(&mem, 0, 4097));
    assert_int_equal(guest_mem_write(&mem, 4090, "0123456789", 10), -EFAULT);
    assert_int_equal(guest_mem_write(&mem, 4086, "0123456789", 10), 0);
    free(buf);
}

/* Real RAM above 3 GiB continues at 4 GiB; the hole is not RAM. */
static void test_guest_mem_hole(void **state)
{
    struct guest_mem mem;

    assert_int_equal(guest_mem_init(&mem, LAYOUT_PCI_HOLE + 64 * MiB), 0);
    assert_int_equal(mem.nregions, 2);
    assert_int_equal(guest_mem_low_top(&mem), LAYOUT_PCI_HOLE);
    assert_non_null(guest_mem_ptr(&mem, LAYOUT_PCI_HOLE - 8, 8));
    assert_null(guest_mem_ptr(&mem, LAYOUT_PCI_HOLE - 8, 16));
    assert_null(guest_mem_ptr(&mem, LAYOUT_PCI_HOLE, 1));
    assert_non_null(guest_mem_ptr(&mem, LAYOUT_HIGH_RAM, 64 * MiB));
    assert_null(guest_mem_ptr(&mem, LAYOUT_HIGH_RAM + 64 * MiB, 1));
    /* the two regions are one host mapping, back to back */
    assert_ptr_equal((uint8_t *)guest_mem_ptr(&mem, LAYOUT_HIGH_RAM, 1),
                     (uint8_t *)guest_mem_ptr(&mem, 0, 1) + LAYOUT_PCI_HOLE);
    guest_mem_destroy(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_sees_offsets),
        cmocka_unit_test(test_overlap_rejected),
        cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_guest_mem_bounds),
        cmocka_unit_test(test_guest_mem_hole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
