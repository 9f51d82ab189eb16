/* Unit tests for the guest page-table walker: synthetic 4- and 5-level
 * tables over fake guest memory, large pages, rights, hostile entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "introspect/ptwalk.h"
#include "mem/guest_mem.h"

#define RAM (4u << 20)      /* 4 MiB of fake guest RAM */
#define P   1ULL
#define RW  2ULL
#define US  4ULL
#define PS  0x80ULL
#define NX  (1ULL << 63)

static uint8_t *ram;
static struct guest_mem mem;
static uint64_t next_table;

static int setup(void **state)
{
    (void)state;
    ram = aligned_alloc(4096, RAM);
    if (!ram)
        return -1;
    memset(ram, 0, RAM);
    guest_mem_init_fake(&mem, ram, RAM);
    next_table = 0x1000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static uint64_t table_new(void)
{
    uint64_t t = next_table;

    next_table += 0x1000;
    assert_true(next_table <= 0x100000);
    return t;
}

static void pte_set(uint64_t table, unsigned idx, uint64_t val)
{
    memcpy(ram + table + idx * 8, &val, 8);
}

static unsigned idx(uint64_t va, unsigned level)
{
    return (va >> (12 + 9 * (level - 1))) & 0x1ff;
}

/* Map va -> pa with a page of `size` in a 4-level (or 5-level) table set
 * rooted at root; intermediate entries get `upper` rights. */
static void map(uint64_t root, unsigned levels, uint64_t va, uint64_t pa, uint64_t size,
                uint64_t flags, uint64_t upper)
{
    uint64_t t = root;
    unsigned stop = size == PTW_PAGE_1G ? 3 : size == PTW_PAGE_2M ? 2 : 1;

    for (unsigned l = levels; l > stop; l--) {
        uint64_t e;

        memcpy(&e, ram + t + idx(va, l) * 8, 8);
        if (!(e & P)) {
            e = table_new() | upper;
            pte_set(t, idx(va, l), e);
        }
        t = e & 0x000ffffffffff000ULL;
    }
    pte_set(t, idx(va, stop), pa | flags | (stop > 1 ? PS : 0));
}

static struct ptw walker(uint64_t cr3, bool la57, bool nxe)
{
    struct ptw w;

    ptw_init(&w, &mem, cr3, la57 ? PTW_CR4_LA57 : 0, nxe ? PTW_EFER_NXE : 0);
    return w;
}

static void test_4k_translate(void **state)
{
    uint64_t root = table_new(), va = 0xffffffff81000123ULL;
    struct ptw w = walker(root, false, true);
    struct ptw_info info;
    gpa_t gpa;

    (void)state;
    map(root, 4, va & ~0xfffULL, 0x200000, PTW_PAGE_4K, P | RW, P | RW);
    assert_int_equal(ptw_translate(&w, va, &gpa, &info), 0);
    assert_int_equal(gpa, 0x200123);
    assert_int_equal(info.page_size, PTW_PAGE_4K);
    assert_true(info.writable);
    assert_false(info.user);
    assert_true(info.exec);
}

static void test_large_pages(void **state)
{
    uint64_t root = table_new();
    struct ptw w = walker(root, false, true);
    struct ptw_info info;
    gpa_t gpa;

    (void)state;
    map(root, 4, 0x40000000, 0x200000, PTW_PAGE_2M, P | RW | US | NX, P | RW | US);
    assert_int_equal(ptw_translate(&w, 0x40012345, &gpa, &info), 0);
    assert_int_equal(gpa, 0x212345);
    assert_int_equal(info.page_size, PTW_PAGE_2M);
    assert_true(info.user);
    assert_false(info.exec);
    /* a 1 GiB page maps GPA 0..1G: only the first 4 MiB is RAM */
    map(root, 4, 0x7f8000000000ULL, 0, PTW_PAGE_1G, P, P | RW);
    assert_int_equal(ptw_translate(&w, 0x7f8000300010ULL, &gpa, &info), 0);
    assert_int_equal(gpa, 0x300010);
    assert_int_equal(info.page_size, PTW_PAGE_1G);
    assert_false(info.writable);
}

static void test_nx_needs_nxe(void **state)
{
    uint64_t root = table_new();
    struct ptw on = walker(root, false, true), off = walker(root, false, false);
    struct ptw_info info;
    gpa_t gpa;

    (void)state;
    map(root, 4, 0x1000, 0x3000, PTW_PAGE_4K, P | NX, P | RW);
    assert_int_equal(ptw_translate(&on, 0x1000, &gpa, &info), 0);
    assert_false(info.exec);
    assert_int_equal(ptw_translate(&off, 0x1000, &gpa, &info), 0);
    assert_true(info.exec);
}

static void test_five_level(void **state)
{
    uint64_t root = table_new(), va = 0xff11223344556000ULL;
    struct ptw w5 = walker(root, true, true), w4 = walker(root, false, true);
    gpa_t gpa;

    (void)state;
    map(root, 5, va, 0x180000, PTW_PAGE_4K, P | RW, P | RW);
    assert_int_equal(ptw_translate(&w5, va + 7, &gpa, NULL), 0);
    assert_int_equal(gpa, 0x180007);
    /* not canonical with 48 bits */
    assert_int_equal(ptw_translate(&w4, va, &gpa, NULL), -EINVAL);
}

static void test_faults(void **state)
{
    uint64_t root = table_new();
    struct ptw w = walker(root, false, true);
    gpa_t gpa;

    (void)state;
    assert_int_equal(ptw_translate(&w, 0x5000, &gpa, NULL), -EFAULT);     /* not present */
    assert_int_equal(ptw_translate(&w, 0x0000800000000000ULL, &gpa, NULL), -EINVAL);
    /* a table pointer outside guest RAM */
    pte_set(root, 1, 0x7fff000000ULL | P | RW);
    assert_int_equal(ptw_translate(&w, 1ULL << 39, &gpa, NULL), -EFAULT);
    /* PS in a PML4 entry is reserved */
    pte_set(root, 2, 0x1000 | P | PS);
    assert_int_equal(ptw_translate(&w, 2ULL << 39, &gpa, NULL), -EFAULT);
    /* CR3 itself outside RAM */
    w = walker(0x7fff000000ULL, false, true);
    assert_int_equal(ptw_translate(&w, 0, &gpa, NULL), -EFAULT);
}

static void test_read_across_pages(void **state)
{
    uint64_t root = table_new();
    struct ptw w = walker(root, false, true);
    char buf[16];

    (void)state;
    /* virtually contiguous, physically apart */
    map(root, 4, 0x10000, 0x300000, PTW_PAGE_4K, P, P | RW);
    map(root, 4, 0x11000, 0x280000, PTW_PAGE_4K, P, P | RW);
    memcpy(ram + 0x300ff8, "abcdefgh", 8);
    memcpy(ram + 0x280000, "ijklmnop", 8);
    assert_int_equal(ptw_read(&w, 0x10ff8, buf, 16), 0);
    assert_memory_equal(buf, "abcdefghijklmnop", 16);
    /* the second page missing: an error, not a partial read */
    assert_int_equal(ptw_read(&w, 0x11ff8, buf, 16), -EFAULT);
}

static void test_read_str(void **state)
{
    uint64_t root = table_new();
    struct ptw w = walker(root, false, true);
    char buf[8];

    (void)state;
    map(root, 4, 0x20000, 0x300000, PTW_PAGE_4K, P, P | RW);
    map(root, 4, 0x21000, 0x301000, PTW_PAGE_4K, P, P | RW);
    memcpy(ram + 0x300ffc, "/bin", 4);
    memcpy(ram + 0x301000, "/ls", 4);       /* with its NUL */
    char big[32];

    assert_int_equal(ptw_read_str(&w, 0x20ffc, big, sizeof(big)), 0);
    assert_string_equal(big, "/bin/ls");
    /* too long for the buffer: truncated and terminated */
    assert_int_equal(ptw_read_str(&w, 0x20ffc, buf, 5), -ENAMETOOLONG);
    assert_string_equal(buf, "/bin");
    /* no NUL before an unmapped page */
    memset(ram + 0x301000, 'x', 4096);
    assert_int_equal(ptw_read_str(&w, 0x20ffc, big, sizeof(big)), -ENAMETOOLONG);
    assert_int_equal(big[31], '\0');
    map(root, 4, 0x22000, 0x302000, PTW_PAGE_4K, P, P | RW);
    memset(ram + 0x302000, 'y', 4096);
    char huge[9000];

    assert_int_equal(ptw_read_str(&w, 0x21000, huge, sizeof(huge)), -EFAULT);
    assert_int_equal(ptw_read_str(&w, 0x20000, buf, 0), -ENAMETOOLONG);
}

static void test_write(void **state)
{
    uint64_t root = table_new();
    struct ptw w = walker(root, false, true);
    uint64_t v = 0;

    (void)state;
    /* read-only to the guest; kvmm still writes (probe patching) */
    map(root, 4, 0x30000, 0x310000, PTW_PAGE_4K, P, P);
    assert_int_equal(ptw_write(&w, 0x30ffc, "\x01\x02\x03\x04", 4), 0);
    assert_int_equal(ptw_read(&w, 0x30ffc, &v, 4), 0);
    assert_int_equal(v, 0x04030201);
    assert_int_equal(ptw_write(&w, 0x30ffe, "abcd", 4), -EFAULT);
    assert_int_equal(ptw_read_u64(&w, 0x30ff8, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_4k_translate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nx_needs_nxe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_five_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_across_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
