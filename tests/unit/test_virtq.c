/* Unit tests for the virtqueue walker over malloc-backed guest memory:
 * well-formed chains, and every hostile chain the walker must refuse
 * without touching memory outside guest RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/virtq.h"
#include "mem/guest_mem.h"

#define RAM_SIZE   (1u << 20)
#define QSIZE      16
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define INDIR_GPA  0x8000
#define BUF_GPA    0x10000

static uint8_t *ram;
static struct guest_mem mem;
static struct virtq vq;
static struct iovec iov[64];
static struct virtq_chain chain;

static struct virtq_desc *desc_at(gpa_t table, unsigned i)
{
    return (struct virtq_desc *)(ram + table) + i;
}

static void set_desc(gpa_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    *desc_at(table, i) = (struct virtq_desc){ addr, len, flags, next };
}

static struct virtq_avail *avail(void) { return (struct virtq_avail *)(ram + AVAIL_GPA); }
static struct virtq_used *used(void) { return (struct virtq_used *)(ram + USED_GPA); }

/* Offer the chain starting at `head` to the device. */
static void offer(uint16_t head)
{
    avail()->ring[avail()->idx % QSIZE] = head;
    avail()->idx++;
}

static void queue_setup(bool event_idx, bool indirect)
{
    memset(ram, 0, RAM_SIZE);
    assert_int_equal(virtq_setup(&vq, &mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx,
                                 indirect), 0);
}

static int pop(void)
{
    return virtq_pop(&vq, &chain, iov, 64);
}

static int setup(void **state)
{
    ram = calloc(1, RAM_SIZE);
    assert_non_null(ram);
    guest_mem_init_fake(&mem, ram, RAM_SIZE);
    queue_setup(true, true);
    return 0;
}

static int teardown(void **state)
{
    free(ram);
    return 0;
}

/* ---- well-formed chains --------------------------------------------------- */

static void test_empty_ring(void **state)
{
    assert_int_equal(pop(), 0);
}

static void test_simple_chain(void **state)
{
    set_desc(DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 3);
    set_desc(DESC_GPA, 3, BUF_GPA + 0x100, 512, VIRTQ_DESC_F_NEXT, 5);
    set_desc(DESC_GPA, 5, BUF_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    assert_int_equal(pop(), 1);
    assert_int_equal(chain.head, 0);
    assert_int_equal(chain.n, 3);
    assert_int_equal(chain.nread, 2);
    assert_int_equal(chain.read_len, 528);
    assert_int_equal(chain.write_len, 1);
    assert_ptr_equal(iov[1].iov_base, ram + BUF_GPA + 0x100);
    assert_int_equal(pop(), 0);
}

static void test_indirect_chain(void **state)
{
    set_desc(INDIR_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(INDIR_GPA, 1, BUF_GPA + 0x1000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(INDIR_GPA, 2, BUF_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(DESC_GPA, 7, INDIR_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(7);
    assert_int_equal(pop(), 1);
    assert_int_equal(chain.head, 7);
    assert_int_equal(chain.n, 3);
    assert_int_equal(chain.nread, 1);
    assert_int_equal(chain.write_len, 4097);
}

static void test_chain_copy_helpers(void **state)
{
    uint8_t hdr[6], out[3] = { 7, 8, 9 };

    memcpy(ram + BUF_GPA, "abc", 3);
    memcpy(ram + BUF_GPA + 0x100, "defg", 4);
    set_desc(DESC_GPA, 0, BUF_GPA, 3, VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC_GPA, 1, BUF_GPA + 0x100, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(DESC_GPA, 2, BUF_GPA + 0x200, 2, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
    set_desc(DESC_GPA, 3, BUF_GPA + 0x300, 2, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    assert_int_equal(pop(), 1);
    assert_int_equal(virtq_chain_read(&chain, 1, hdr, sizeof(hdr)), 6);
    assert_memory_equal(hdr, "bcdefg", 6);
    assert_int_equal(virtq_chain_write(&chain, 1, out, 3), 3);
    assert_int_equal(ram[BUF_GPA + 0x201], 7);
    assert_int_equal(ram[BUF_GPA + 0x300], 8);
    assert_int_equal(ram[BUF_GPA + 0x301], 9);
}

/* ---- hostile chains ---------------------------------------------------------- */

static void expect_reject(int err)
{
    uint16_t before = vq.last_avail;

    assert_int_equal(pop(), err);
    assert_int_equal(vq.last_avail, before);    /* nothing consumed */
}

static void test_loop(void **state)
{
    set_desc(DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC_GPA, 1, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_self_loop(void **state)
{
    set_desc(DESC_GPA, 4, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 4);
    offer(4);
    expect_reject(-EINVAL);
}

static void test_head_out_of_range(void **state)
{
    offer(QSIZE);
    expect_reject(-EINVAL);
}

static void test_next_out_of_range(void **state)
{
    set_desc(DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 0xffff);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_avail_idx_jump(void **state)
{
    avail()->idx = QSIZE + 1;   /* more entries than the ring holds */
    expect_reject(-EINVAL);
}

static void test_buffer_outside_ram(void **state)
{
    set_desc(DESC_GPA, 0, RAM_SIZE, 16, 0, 0);
    offer(0);
    expect_reject(-EFAULT);
}

static void test_buffer_straddles_end(void **state)
{
    set_desc(DESC_GPA, 0, RAM_SIZE - 8, 16, 0, 0);
    offer(0);
    expect_reject(-EFAULT);
}

static void test_buffer_address_wraps(void **state)
{
    set_desc(DESC_GPA, 0, UINT64_MAX - 4, 16, 0, 0);
    offer(0);
    expect_reject(-EFAULT);
}

static void test_length_sum_overflow(void **state)
{
    /* the second length alone fits 32 bits; the sum does not */
    set_desc(DESC_GPA, 0, BUF_GPA, 0x80000, VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC_GPA, 1, BUF_GPA, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_readable_after_writable(void **state)
{
    set_desc(DESC_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC_GPA, 1, BUF_GPA, 16, 0, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_too_many_buffers(void **state)
{
    for (unsigned i = 0; i < 4; i++)
        set_desc(DESC_GPA, i, BUF_GPA, 16, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(0);
    assert_int_equal(virtq_pop(&vq, &chain, iov, 3), -E2BIG);
    assert_int_equal(virtq_pop(&vq, &chain, iov, 4), 1);
}

static void test_nested_indirect(void **state)
{
    set_desc(INDIR_GPA, 0, INDIR_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(DESC_GPA, 0, INDIR_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_bad_length(void **state)
{
    set_desc(DESC_GPA, 0, INDIR_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_empty(void **state)
{
    set_desc(DESC_GPA, 0, INDIR_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_too_long(void **state)
{
    set_desc(DESC_GPA, 0, INDIR_GPA, (QSIZE + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_with_next(void **state)
{
    set_desc(INDIR_GPA, 0, BUF_GPA, 16, 0, 0);
    set_desc(DESC_GPA, 0, INDIR_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_not_negotiated(void **state)
{
    queue_setup(true, false);
    set_desc(INDIR_GPA, 0, BUF_GPA, 16, 0, 0);
    set_desc(DESC_GPA, 0, INDIR_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_table_outside_ram(void **state)
{
    set_desc(DESC_GPA, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EFAULT);
}

static void test_indirect_loop(void **state)
{
    set_desc(INDIR_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(INDIR_GPA, 1, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    set_desc(DESC_GPA, 0, INDIR_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

static void test_indirect_next_beyond_table(void **state)
{
    set_desc(INDIR_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 2);  /* table has 2 */
    set_desc(INDIR_GPA, 1, BUF_GPA, 16, 0, 0);
    set_desc(DESC_GPA, 0, INDIR_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_reject(-EINVAL);
}

/* ---- ring placement ---------------------------------------------------------- */

static void test_setup_rejects_bad_rings(void **state)
{
    struct virtq q;

    assert_int_equal(virtq_setup(&q, &mem, 12, DESC_GPA, AVAIL_GPA, USED_GPA, false, false),
                     -EINVAL);
    assert_int_equal(virtq_setup(&q, &mem, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, false,
                                 false), -EINVAL);
    assert_int_equal(virtq_setup(&q, &mem, QSIZE, DESC_GPA, AVAIL_GPA, RAM_SIZE - 8, false,
                                 false), -EFAULT);
    assert_int_equal(virtq_setup(&q, &mem, QSIZE, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, false,
                                 false), -EFAULT);
    assert_false(q.ready);
    assert_int_equal(virtq_pop(&q, &chain, iov, 64), 0);
}

/* ---- used ring and notification suppression -------------------------------- */

static void complete_one(uint16_t head)
{
    set_desc(DESC_GPA, head, BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(head);
    assert_int_equal(pop(), 1);
    virtq_push(&vq, head, 1);
}

static void test_event_idx_interrupts(void **state)
{
    uint16_t *used_event = &avail()->ring[QSIZE];

    *used_event = 0;            /* interrupt when used idx passes 0 */
    complete_one(0);
    complete_one(1);
    assert_true(virtq_publish(&vq));        /* one interrupt for a batch of 2 */
    assert_int_equal(used()->idx, 2);
    assert_int_equal(used()->ring[1].id, 1);
    complete_one(2);
    assert_false(virtq_publish(&vq));       /* the driver has not re-armed */
    *used_event = 3;
    complete_one(3);
    assert_true(virtq_publish(&vq));
    assert_false(virtq_publish(&vq));       /* nothing new */
}

static void test_no_interrupt_flag(void **state)
{
    queue_setup(false, true);
    avail()->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    complete_one(0);
    assert_false(virtq_publish(&vq));
    avail()->flags = 0;
    complete_one(1);
    assert_true(virtq_publish(&vq));
}

/* A device that waited before interrupting reads the driver's wish again:
 * none when the driver took the entries and moved its event index past them
 * (Linux does on its own transmit and receive polls). */
static void test_interrupt_wanted_later(void **state)
{
    uint16_t *used_event = &avail()->ring[QSIZE];
    uint16_t since = vq.signalled;

    *used_event = 0;
    complete_one(0);
    complete_one(1);
    assert_true(virtq_publish(&vq));
    assert_true(virtq_interrupt_wanted(&vq, since));    /* untouched: still wanted */
    complete_one(2);
    virtq_publish(&vq);                     /* joins the one owed */
    assert_true(virtq_interrupt_wanted(&vq, since));
    *used_event = 3;                        /* took 0..2, wants one after the next */
    assert_false(virtq_interrupt_wanted(&vq, since));
    *used_event = 2;                        /* took 0..1 only: entry 2 still owed */
    assert_true(virtq_interrupt_wanted(&vq, since));
    assert_false(virtq_interrupt_wanted(&vq, vq.used_idx));   /* nothing since */
    queue_setup(false, false);              /* no event index: the flag says */
    since = vq.signalled;
    complete_one(0);
    assert_true(virtq_publish(&vq));
    avail()->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    assert_false(virtq_interrupt_wanted(&vq, since));
    avail()->flags = 0;
    assert_true(virtq_interrupt_wanted(&vq, since));
}

static void test_kick_enable(void **state)
{
    uint16_t *avail_event = (uint16_t *)&used()->ring[QSIZE];

    complete_one(0);
    assert_false(virtq_kick_enable(&vq));
    assert_int_equal(*avail_event, 1);
    offer(1);                               /* arrived meanwhile */
    assert_true(virtq_kick_enable(&vq));
    assert_int_equal(virtq_pending(&vq), 1);
}

/* Without event index, kicks are suppressed with the used ring's flag. */
static void test_kick_disable_flag(void **state)
{
    queue_setup(false, false);
    virtq_kick_disable(&vq);
    assert_int_equal(used()->flags, VIRTQ_USED_F_NO_NOTIFY);
    assert_false(virtq_kick_enable(&vq));
    assert_int_equal(used()->flags, 0);
    queue_setup(true, false);               /* event index: the flag stays clear */
    virtq_kick_disable(&vq);
    assert_int_equal(used()->flags, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_ring), T(test_simple_chain), T(test_indirect_chain),
        T(test_chain_copy_helpers), T(test_loop), T(test_self_loop),
        T(test_head_out_of_range), T(test_next_out_of_range), T(test_avail_idx_jump),
        T(test_buffer_outside_ram), T(test_buffer_straddles_end), T(test_buffer_address_wraps),
        T(test_length_sum_overflow), T(test_readable_after_writable), T(test_too_many_buffers),
        T(test_nested_indirect), T(test_indirect_bad_length), T(test_indirect_empty),
        T(test_indirect_too_long), T(test_indirect_with_next), T(test_indirect_not_negotiated),
        T(test_indirect_table_outside_ram), T(test_indirect_loop),
        T(test_indirect_next_beyond_table), T(test_setup_rejects_bad_rings),
        T(test_event_idx_interrupts), T(test_no_interrupt_flag), T(test_interrupt_wanted_later),
        T(test_kick_enable),
        T(test_kick_disable_flag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
