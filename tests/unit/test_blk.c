/* Unit tests for virtio-blk's interrupt coalescing decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devices/virtio/blk_coalesce.h"

#define US 1000ULL

/* Off, nothing done or nothing left in flight: publish at once. */
static void test_publish_at_once(void **state)
{
    (void)state;
    assert_false(blk_coalesce_hold(1, 31, 0, 0));       /* coalescing off */
    assert_false(blk_coalesce_hold(0, 32, 0, 500 * US));
    assert_false(blk_coalesce_hold(1, 0, 0, 500 * US)); /* queue depth 1 */
    assert_false(blk_coalesce_hold(32, 0, 0, 500 * US));
}

/* Hold until three quarters of the outstanding requests are done. */
static void test_hold_until_three_quarters(void **state)
{
    (void)state;
    assert_true(blk_coalesce_hold(1, 31, 0, 500 * US));
    assert_true(blk_coalesce_hold(23, 9, 10 * US, 500 * US));
    assert_false(blk_coalesce_hold(24, 8, 10 * US, 500 * US));
    assert_false(blk_coalesce_hold(25, 7, 10 * US, 500 * US));
    assert_true(blk_coalesce_hold(5, 3, 0, 500 * US));  /* 1 MiB at depth 8 */
    assert_false(blk_coalesce_hold(6, 2, 0, 500 * US));
    assert_true(blk_coalesce_hold(1, 1, 0, 500 * US));
}

/* The bound caps the wait however little is done. */
static void test_bound(void **state)
{
    (void)state;
    assert_true(blk_coalesce_hold(1, 31, 499 * US, 500 * US));
    assert_false(blk_coalesce_hold(1, 31, 500 * US, 500 * US));
    assert_false(blk_coalesce_hold(1, 31, UINT64_MAX, 500 * US));
    assert_false(blk_coalesce_hold(UINT32_MAX, UINT32_MAX, 0, 500 * US) &&
                 blk_coalesce_hold(UINT32_MAX, 0, 0, 500 * US));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_at_once),
        cmocka_unit_test(test_hold_until_three_quarters),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
