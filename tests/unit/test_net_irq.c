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
    assert_int_equal(net_irq_published(&m, false, 7, T0, 0), NET_IRQ_NONE);
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_int_equal(net_irq_published(&m, true, 7, T0, 0), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 200 * US);
    /* More completions before the deadline join it; it does not move. */
    assert_int_equal(net_irq_published(&m, false, 9, T0 + 100 * US, 0), NET_IRQ_LATER);
    assert_int_equal(net_irq_published(&m, true, 9, T0 + 150 * US, 0), NET_IRQ_LATER);
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
    assert_int_equal(net_irq_published(&m, true, 0, T0, 0), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, true, 1, T0 + 300 * US, 0), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 350 * US);
    assert_true(net_irq_due(&m, T0 + 360 * US, false, &since));
    assert_int_equal(since, 1);
    /* Still busy: the owed one counted as wanted. */
    assert_int_equal(net_irq_published(&m, true, 3, T0 + 1200 * US, 0), NET_IRQ_LATER);
    assert_true(net_irq_due(&m, T0 + 1250 * US, false, &since));
    /* Quiet for longer than the busy window: at once again. */
    assert_int_equal(net_irq_published(&m, true, 4, T0 + 5000 * US, 0), NET_IRQ_NOW);
    /* Not wanted does not make the queue busy. */
    assert_int_equal(net_irq_published(&m, false, 5, T0 + 9000 * US, 0), NET_IRQ_NONE);
    assert_int_equal(net_irq_published(&m, true, 5, T0 + 9100 * US, 0), NET_IRQ_NOW);
}

/* A driver out of buffers must hear now: flush settles an owed interrupt
 * before its deadline; nothing owed, nothing to flush. */
static void test_flush_and_cancel(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 200 * US, 0);
    assert_false(net_irq_due(&m, T0, true, &since));
    assert_int_equal(net_irq_published(&m, true, 4, T0, 0), NET_IRQ_LATER);
    assert_true(net_irq_due(&m, T0 + 1 * US, true, &since));
    assert_int_equal(since, 4);
    assert_int_equal(net_irq_published(&m, true, 6, T0, 0), NET_IRQ_LATER);
    net_irq_cancel(&m);                     /* device reset */
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_false(net_irq_due(&m, T0 + 500 * US, false, &since));
}

/* Moderation off: every wanted interrupt at once. */
static void test_no_delay(void **state)
{
    struct net_irq m;

    net_irq_init(&m, 0, 0);
    assert_int_equal(net_irq_published(&m, true, 0, T0, 0), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, true, 1, T0 + 1, 0), NET_IRQ_NOW);
    assert_int_equal(net_irq_published(&m, false, 2, T0 + 2, 0), NET_IRQ_NONE);
}

/* Entries the caller lets wait longer (a bulk sender's ACKs) hold the
 * interrupt for hold_ns even on a quiet queue; entries that may not wait as
 * long bring the deadline in, or raise it at once. */
static void test_hold_and_pull_in(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 50 * US, 1000 * US);
    assert_int_equal(net_irq_published(&m, true, 10, T0, 500 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 500 * US);
    /* More ACKs: they join, the deadline stays. */
    assert_int_equal(net_irq_published(&m, true, 12, T0 + 100 * US, 500 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 500 * US);
    /* A data frame on a busy queue: 50 us from now, covering from 10. */
    assert_int_equal(net_irq_published(&m, true, 13, T0 + 200 * US, 0), NET_IRQ_LATER);
    assert_int_equal(net_irq_deadline(&m), T0 + 250 * US);
    assert_true(net_irq_due(&m, T0 + 250 * US, false, &since));
    assert_int_equal(since, 10);

    /* After a quiet spell a data frame may not wait at all: at once, and
     * nothing stays owed. */
    assert_int_equal(net_irq_published(&m, true, 20, T0 + 9000 * US, 500 * US), NET_IRQ_LATER);
    assert_int_equal(net_irq_published(&m, false, 21, T0 + 9010 * US, 0), NET_IRQ_LATER);
    net_irq_init(&m, 50 * US, 1000 * US);
    assert_int_equal(net_irq_published(&m, true, 30, T0, 500 * US), NET_IRQ_LATER);
    m.last_ns = 0;  /* as if the hold had been the first want in a long time */
    assert_int_equal(net_irq_published(&m, true, 31, T0 + 10 * US, 0), NET_IRQ_NOW);
    assert_int_equal(net_irq_deadline(&m), 0);
    assert_false(net_irq_due(&m, T0 + 600 * US, false, &since));
}

/* An owed interrupt can be put off once, never earlier than its deadline;
 * a new one can be put off again. */
static void test_defer_once(void **state)
{
    struct net_irq m;
    uint16_t since = 0;

    net_irq_init(&m, 200 * US, 0);
    assert_false(net_irq_defer(&m, T0 + 400 * US));     /* nothing owed */
    assert_int_equal(net_irq_published(&m, true, 3, T0, 0), NET_IRQ_LATER);
    assert_true(net_irq_defer(&m, T0 + 400 * US));
    assert_int_equal(net_irq_deadline(&m), T0 + 400 * US);
    assert_false(net_irq_defer(&m, T0 + 600 * US));
    assert_int_equal(net_irq_deadline(&m), T0 + 400 * US);
    assert_false(net_irq_due(&m, T0 + 399 * US, false, &since));
    assert_true(net_irq_due(&m, T0 + 400 * US, false, &since));
    assert_int_equal(since, 3);
    assert_int_equal(net_irq_published(&m, true, 5, T0 + 500 * US, 0), NET_IRQ_LATER);
    assert_true(net_irq_defer(&m, T0 + 600 * US));      /* earlier than due: kept */
    assert_int_equal(net_irq_deadline(&m), T0 + 700 * US);
}

/* Only small frames to a driver that has just sent full-sized ones. */
static void test_acks_to_sender(void **state)
{
    assert_true(net_irq_acks_to_sender(66, T0, T0 + 10 * US));
    assert_true(net_irq_acks_to_sender(NET_ACK_FRAME, T0, T0 + NET_TX_BULK_NS));
    /* A data frame in the batch, a sender gone quiet, one that never sent. */
    assert_false(net_irq_acks_to_sender(NET_ACK_FRAME + 1, T0, T0 + 10 * US));
    assert_false(net_irq_acks_to_sender(66, T0, T0 + NET_TX_BULK_NS + 1));
    assert_false(net_irq_acks_to_sender(66, 0, T0));
    assert_false(net_irq_acks_to_sender(66, T0 + 1, T0));     /* clock order */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_waits_and_batches),
        cmocka_unit_test(test_rx_busy_only),
        cmocka_unit_test(test_flush_and_cancel),
        cmocka_unit_test(test_no_delay),
        cmocka_unit_test(test_hold_and_pull_in),
        cmocka_unit_test(test_defer_once),
        cmocka_unit_test(test_acks_to_sender),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
