/* Unit tests for virtio-net interrupt moderation (net_irq.c): when an
 * interrupt the driver asked for is raised at once, when it waits, how long
 * at most, and what it covers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devices/virtio/net_irq.h"

#define US 1000ULL
#define T0 (1000000 * US)

/* Transmit side: no "busy" condition, every wanted interrupt waits. */
static void test_tx_waits_and_batches(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 200 * US, 0);
    assert_int_equal(net_irq_published(&m, false, 7, T0), NET_IRQ_NONE);
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_int_equal(net_irq_published(&m, true, 7, T0), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 200 * US);
    /* More completions before the deadline join it; it does not move. */
    assert_int_equal(net_irq_published(&m, false, 9, T0 + 100 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_published(&m, true, 9, T0 + 150 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 200 * US);
    assert_false(net_irq_due(&m, T0 + 199 * US, false, &since));
    assert_true(net_irq_due(&m, T0 + 200 * US, false, &since));
    assert_int_equal(since, 7);             /* from the first entry it covers */
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_false(net_irq_due(&m, T0 + 300 * US, false, &since));
}

/* Receive side: a frame after a quiet spell interrupts at once; while
 * frames keep coming one interrupt waits for those behind it. */
static void test_rx_busy_only(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 50 * US, 1000 * US);
    assert_int_equal(net_irq_published(&m, true, 0, T0), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, true, 1, T0 + 300 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 350 * US);
    assert_true(net_irq_due(&m, T0 + 360 * US, false, &since));
    assert_int_equal(since, 1);
    /* Still busy: the owed one counted as wanted. */
    assert_int_equal(net_irq_published(&m, true, 3, T0 + 1200 * US), NET_IRQ_LATER);
    assert_true(net_irq_due(&m, T0 + 1250 * US, false, &since));
    /* Quiet for longer than the busy window: at once again. */
    assert_int_equal(net_irq_published(&m, true, 4, T0 + 5000 * US), NET_IRQ_NOW);
    /* Not wanted does not make the queue busy. */
    assert_int_equal(net_irq_published(&m, false, 5, T0 + 9000 * US), NET_IRQ_NONE);
    assert_int_equal(net_irq_published(&m, true, 5, T0 + 9100 * US), NET_IRQ_NOW);
}

/* A driver out of buffers must hear now: flush settles an owed interrupt
 * before its deadline; nothing owed, nothing to flush. */
static void test_flush_and_cancel(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 200 * US, 0);
    assert_false(net_irq_due(&m, T0, true, &since));
    assert_int_equal(net_irq_published(&m, true, 4, T0), NET_IRQ_LATER);
    assert_true(net_irq_due(&m, T0 + 1 * US, true, &since));
    assert_int_equal(since, 4);
    assert_int_equal(net_irq_published(&m, true, 6, T0), NET_IRQ_LATER);
    net_irq_cancel(&m);                     /* device reset */
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_false(net_irq_due(&m, T0 + 500 * US, false, &since));
}

/* Moderation off: every wanted interrupt at once. */
static void test_no_delay(void **state)
{
    struct net_irq m;

    net_irq_init(&m, 0, 0);
    assert_int_equal(net_irq_published(&m, true, 0, T0), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, true, 1, T0 + 1), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, false, 2, T0 + 2), NET_IRQ_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_waits_and_batches),
        cmocka_unit_test(test_rx_busy_only),
        cmocka_unit_test(test_flush_and_cancel),
        cmocka_unit_test(test_no_delay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
