/* Unit tests for the guest e820 map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot/e820.h"
#include "boot/layout.h"

/* The region layout guest_mem_init() produces, without allocating RAM. */
static void mem_layout(struct guest_mem *mem, uint64_t ram)
{
    uint64_t low = ram < LAYOUT_PCI_HOLE ? ram : LAYOUT_PCI_HOLE;

    memset(mem, 0, sizeof(*mem));
    mem->ram_size = ram;
    mem->regions[0].gpa = 0;
    mem->regions[0].size = low;
    mem->nregions = 1;
    if (ram > low) {
        mem->regions[1].gpa = LAYOUT_HIGH_RAM;
        mem->regions[1].size = ram - low;
        mem->nregions = 2;
    }
}

static void check_entry(const struct boot_e820_entry *e, uint64_t addr,
                        uint64_t size, uint32_t type)
{
    assert_int_equal(e->addr, addr);
    assert_int_equal(e->size, size);
    assert_int_equal(e->type, type);
}

/* Sorted, non-overlapping, and the RAM adds up to what the guest has
 * minus the legacy hole. */
static void check_sane(const struct boot_e820_entry *e, unsigned n, uint64_t ram)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < n; i++) {
        assert_true(e[i].size > 0);
        if (i)
            assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
        if (e[i].type == E820_TYPE_RAM)
            total += e[i].size;
    }
    assert_int_equal(total, ram - (LAYOUT_KERNEL - LAYOUT_EBDA_START));
}

static void check_low(const struct boot_e820_entry *e, uint64_t low_top)
{
    check_entry(&e[0], 0, LAYOUT_EBDA_START, E820_TYPE_RAM);
    check_entry(&e[1], LAYOUT_EBDA_START, LAYOUT_KERNEL - LAYOUT_EBDA_START,
                E820_TYPE_RESERVED);
    check_entry(&e[2], LAYOUT_KERNEL, low_top - LAYOUT_KERNEL, E820_TYPE_RAM);
    check_entry(&e[3], LAYOUT_ECAM, LAYOUT_ECAM_SIZE, E820_TYPE_RESERVED);
}

static void test_256m(void **state)
{
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n = 0;

    (void)state;
    mem_layout(&mem, 256 * MiB);
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), 0);
    assert_int_equal(n, 4);
    check_low(e, 256 * MiB);
    check_sane(e, n, 256 * MiB);
}

static void test_3g(void **state)
{
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n = 0;

    (void)state;
    mem_layout(&mem, 3 * GiB);
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), 0);
    assert_int_equal(n, 4);
    check_low(e, 3 * GiB);
    assert_int_equal(e[2].addr + e[2].size, LAYOUT_PCI_HOLE);
    check_sane(e, n, 3 * GiB);
}

static void test_5g(void **state)
{
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n = 0;

    (void)state;
    mem_layout(&mem, 5 * GiB);
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), 0);
    assert_int_equal(n, 5);
    check_low(e, LAYOUT_PCI_HOLE);
    check_entry(&e[4], LAYOUT_HIGH_RAM, 2 * GiB, E820_TYPE_RAM);
    check_sane(e, n, 5 * GiB);
}

/* The fake memory used by other unit tests maps the same way. */
static void test_fake_mem(void **state)
{
    static uint8_t ram[2 * MiB];
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n = 0;

    (void)state;
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), 0);
    assert_int_equal(n, 4);
    check_low(e, sizeof(ram));
}

static void test_too_few_slots(void **state)
{
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n = 77;

    (void)state;
    mem_layout(&mem, 5 * GiB);
    for (unsigned max = 0; max < 5; max++)
        assert_int_equal(e820_build(&mem, e, max, &n), -ENOSPC);
    assert_int_equal(n, 77);
    assert_int_equal(e820_build(&mem, e, 5, &n), 0);
    assert_int_equal(n, 5);
}

static void test_bad_layout(void **state)
{
    struct boot_e820_entry e[E820_MAX_BUILT];
    struct guest_mem mem;
    unsigned n;

    (void)state;
    mem_layout(&mem, 512 * KiB);            /* no RAM above 1 MiB */
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), -EINVAL);
    mem_layout(&mem, 5 * GiB);
    mem.regions[1].gpa = LAYOUT_ECAM;       /* high RAM inside the hole */
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), -EINVAL);
    mem_layout(&mem, 5 * GiB);
    mem.regions[0].size = LAYOUT_PCI_HOLE + MiB;  /* low RAM over the hole */
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), -EINVAL);
    memset(&mem, 0, sizeof(mem));
    assert_int_equal(e820_build(&mem, e, ARRAY_SIZE(e), &n), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_256m),
        cmocka_unit_test(test_3g),
        cmocka_unit_test(test_5g),
        cmocka_unit_test(test_fake_mem),
        cmocka_unit_test(test_too_few_slots),
        cmocka_unit_test(test_bad_layout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
