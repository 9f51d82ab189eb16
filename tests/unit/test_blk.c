/* Unit tests for virtio-blk's interrupt coalescing decisions and its wait
 * for in-flight io_uring requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/blk_coalesce.h"
#include "devices/virtio/blk_uring.h"

#define US 1000ULL

/* Off, nothing done or nothing left in flight: publish at once. */
static void test_publish_at_once(void **state)
{
    (void)state;
    assert_false(blk_coalesce_hold(1, 31, 0, 0, false));       /* coalescing off */
    assert_false(blk_coalesce_hold(0, 32, 0, 500 * US, false));
    assert_false(blk_coalesce_hold(1, 0, 0, 500 * US, false)); /* queue depth 1 */
    assert_false(blk_coalesce_hold(32, 0, 0, 500 * US, false));
}

/* Hold until three quarters of the outstanding requests are done. */
static void test_hold_until_three_quarters(void **state)
{
    (void)state;
    assert_true(blk_coalesce_hold(1, 31, 0, 500 * US, false));
    assert_true(blk_coalesce_hold(23, 9, 10 * US, 500 * US, false));
    assert_false(blk_coalesce_hold(24, 8, 10 * US, 500 * US, false));
    assert_false(blk_coalesce_hold(25, 7, 10 * US, 500 * US, false));
    assert_true(blk_coalesce_hold(5, 3, 0, 500 * US, false));  /* 1 MiB at depth 8 */
    assert_false(blk_coalesce_hold(6, 2, 0, 500 * US, false));
    assert_true(blk_coalesce_hold(1, 1, 0, 500 * US, false));
}

/* The bound caps the wait however little is done. */
static void test_bound(void **state)
{
    (void)state;
    assert_true(blk_coalesce_hold(1, 31, 499 * US, 500 * US, false));
    assert_false(blk_coalesce_hold(1, 31, 500 * US, 500 * US, false));
    assert_false(blk_coalesce_hold(1, 31, UINT64_MAX, 500 * US, false));
    assert_false(blk_coalesce_hold(UINT32_MAX, UINT32_MAX, 0, 500 * US, false) &&
                 blk_coalesce_hold(UINT32_MAX, 0, 0, 500 * US, false));
}

/* A submitting guest: hold even with nothing in flight, but never past
 * the bound, and never with nothing done. */
static void test_hold_while_streaming(void **state)
{
    (void)state;
    assert_true(blk_coalesce_hold(1, 0, 0, 500 * US, true));
    assert_true(blk_coalesce_hold(32, 0, 499 * US, 500 * US, true));
    assert_false(blk_coalesce_hold(32, 0, 500 * US, 500 * US, true));
    assert_false(blk_coalesce_hold(0, 0, 0, 500 * US, true));
    assert_false(blk_coalesce_hold(1, 0, 0, 0, true));          /* coalescing off */
}

#define NOH BLK_PACE_NO_HALTS

/* Without halt counts, the pace comes from requests that arrive with
 * nothing published in between; the first after a publication only
 * restarts the clock. */
static void test_pace_learns_gaps(void **state)
{
    struct blk_pace p = { 0 };
    uint64_t t = 1000 * US, g;

    (void)state;
    blk_pace_arrival(&p, 1, t, 1000 * US, NOH);
    assert_int_equal(p.gap_ns, 0);                      /* no interval yet */
    blk_pace_arrival(&p, 1, t + 100 * US, 1000 * US, NOH);
    assert_int_equal(p.gap_ns, 100 * US);
    blk_pace_arrival(&p, 4, t + 300 * US, 1000 * US, NOH);  /* 4 in 200 us: 50 each */
    g = (3 * 100 * US + 50 * US) / 4;
    assert_int_equal(p.gap_ns, g);
    blk_pace_published(&p, 4);
    blk_pace_arrival(&p, 1, t + 900 * US, 1000 * US, NOH);  /* after a publication */
    assert_int_equal(p.gap_ns, g);
    blk_pace_arrival(&p, 1, t + 5000 * US, 1000 * US, NOH); /* an idle spell */
    assert_int_equal(p.gap_ns, g);
    blk_pace_arrival(&p, 0, t + 5001 * US, 1000 * US, NOH); /* nothing found */
    assert_int_equal(p.last_ns, t + 5000 * US);
}

/* With halt counts, an interval counts when the vCPU did not halt in it,
 * published or not. */
static void test_pace_gaps_from_halts(void **state)
{
    struct blk_pace p = { 0 };
    uint64_t t = 1000 * US;

    (void)state;
    blk_pace_arrival(&p, 1, t, 1000 * US, 7);
    blk_pace_published(&p, 1);
    blk_pace_arrival(&p, 1, t + 100 * US, 1000 * US, 7);
    assert_int_equal(p.gap_ns, 100 * US);
    blk_pace_arrival(&p, 1, t + 400 * US, 1000 * US, 8);    /* it halted: waited for us */
    assert_int_equal(p.gap_ns, 100 * US);
    assert_int_equal(p.halts, 8);
}

/* Without halt counts: the guest took a batch last time, has added
 * requests since, and the last came less than BLK_PACE_GAPS gaps ago. */
static void test_pace_streaming(void **state)
{
    struct blk_pace p = { .gap_ns = 100 * US, .last_batch = 8, .last_ns = 1000 * US,
                          .halts = NOH };

    (void)state;
    assert_true(blk_pace_streaming(&p, 1000 * US, 1000 * US, NOH));
    assert_true(blk_pace_streaming(&p, 1299 * US, 1000 * US, NOH));
    assert_false(blk_pace_streaming(&p, 1300 * US, 1000 * US, NOH));
    assert_false(blk_pace_streaming(&p, 1000 * US, 0, NOH));        /* coalescing off */
    /* The window never passes half the bound. */
    assert_int_equal(blk_pace_window(&p, 400 * US), 200 * US);
    assert_false(blk_pace_streaming(&p, 1200 * US, 400 * US, NOH));
    /* One completion at a time last time: a guest that waits for each. */
    p.last_batch = 1;
    assert_false(blk_pace_streaming(&p, 1000 * US, 1000 * US, NOH));
    /* Published since its last request: it has not submitted since. */
    p.last_batch = 8;
    blk_pace_published(&p, 8);
    assert_false(blk_pace_streaming(&p, 1000 * US, 1000 * US, NOH));
    /* No pace known. */
    p = (struct blk_pace){ .last_batch = 8, .last_ns = 1000 * US, .halts = NOH };
    assert_false(blk_pace_streaming(&p, 1000 * US, 1000 * US, NOH));
}

/* With halt counts: submitting while its vCPU has not halted since the
 * last request, whatever the last batch; a halt ends it at once. */
static void test_pace_streaming_halts(void **state)
{
    struct blk_pace p = { .gap_ns = 100 * US, .last_batch = 1, .last_ns = 1000 * US,
                          .halts = 5, .published = true };

    (void)state;
    assert_true(blk_pace_streaming(&p, 1100 * US, 1000 * US, 5));
    assert_false(blk_pace_streaming(&p, 1100 * US, 1000 * US, 6));     /* halted */
    assert_false(blk_pace_streaming(&p, 1300 * US, 1000 * US, 5));     /* past the window */
}

/* A request in flight is waited for through any number of signals: the
 * vCPU kick is installed without SA_RESTART, and a device reset that gave
 * up on the first one would let the request write memory the guest has
 * taken back. */
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void *write_late(void *arg)
{
    int fd = *(int *)arg;
    struct timespec ts = { .tv_nsec = 150 * 1000 * 1000 };

    nanosleep(&ts, NULL);
    if (write(fd, "done", 4) != 4)
        return (void *)1;
    return NULL;
}

static void test_wait_through_signals(void **state)
{
    struct sigaction sa = { .sa_handler = on_alarm }, old;   /* no SA_RESTART */
    struct itimerval every = { { 0, 10000 }, { 0, 10000 } }, off = { { 0, 0 }, { 0, 0 } };
    struct io_uring ring;
    struct io_uring_cqe *cqe;
    struct io_uring_sqe *sqe;
    char buf[8];
    pthread_t writer;
    sigset_t mask;
    void *wret;
    int fds[2];

    (void)state;
    if (io_uring_queue_init(4, &ring, 0) < 0)
        skip();     /* io_uring disabled here: the synchronous path has no wait */
    assert_int_equal(pipe(fds), 0);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, fds[0], buf, sizeof(buf), 0);
    assert_int_equal(io_uring_submit(&ring), 1);
    /* The writer never takes the alarm: it goes to this thread. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGALRM);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &mask, NULL), 0);
    assert_int_equal(pthread_create(&writer, NULL, write_late, &fds[1]), 0);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &mask, NULL), 0);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &every, NULL), 0);

    /* A bare wait ends at the first signal with the read still pending. */
    assert_int_equal(io_uring_wait_cqe(&ring, &cqe), -EINTR);
    assert_int_equal(blk_uring_wait(&ring, &cqe), 0);
    assert_int_equal(cqe->res, 4);
    assert_memory_equal(buf, "done", 4);
    assert_true(alarms >= 2);
    io_uring_cqe_seen(&ring, cqe);

    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_int_equal(pthread_join(writer, &wret), 0);
    assert_null(wret);
    sigaction(SIGALRM, &old, NULL);
    close(fds[0]);
    close(fds[1]);
    io_uring_queue_exit(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_at_once),
        cmocka_unit_test(test_hold_until_three_quarters),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_hold_while_streaming),
        cmocka_unit_test(test_pace_learns_gaps),
        cmocka_unit_test(test_pace_gaps_from_halts),
        cmocka_unit_test(test_pace_streaming),
        cmocka_unit_test(test_pace_streaming_halts),
        cmocka_unit_test(test_wait_through_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
