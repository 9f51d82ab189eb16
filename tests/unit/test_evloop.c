/* Unit tests for the event loop's one-shot deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/evloop.h"

#define MS 1000000ULL

struct probe {
    struct evloop *loop;
    int fired;
    uint64_t at;
    int stop_after;
};

static void on_deadline(void *opaque, uint32_t events)
{
    struct probe *p = opaque;

    assert_int_equal(events, 0);
    p->fired++;
    p->at = evloop_now_ns();
    if (p->fired >= p->stop_after)
        evloop_stop(p->loop);
}

/* An armed deadline ends the wait and runs once, not before its time. */
static void test_deadline_fires_once(void **state)
{
    struct probe p = { .stop_after = 1 };
    uint64_t t0;
    int id;

    (void)state;
    assert_int_equal(evloop_create(&p.loop), 0);
    id = evloop_deadline_add(p.loop, on_deadline, &p);
    assert_true(id >= 0);
    t0 = evloop_now_ns();
    evloop_deadline_arm(p.loop, id, 5 * MS);
    evloop_run(p.loop);
    assert_int_equal(p.fired, 1);
    assert_true(p.at - t0 >= 5 * MS);
    evloop_destroy(p.loop);
}

/* Arming again keeps the earlier expiry; cancel, then arm, moves it. */
static void test_deadline_earlier_wins(void **state)
{
    struct probe p = { .stop_after = 1 };
    uint64_t t0;
    int id;

    (void)state;
    assert_int_equal(evloop_create(&p.loop), 0);
    id = evloop_deadline_add(p.loop, on_deadline, &p);
    t0 = evloop_now_ns();
    evloop_deadline_arm(p.loop, id, 2 * MS);
    evloop_deadline_arm(p.loop, id, 1000 * MS);
    evloop_run(p.loop);
    assert_true(p.at - t0 < 900 * MS);
    evloop_destroy(p.loop);

    p = (struct probe){ .stop_after = 1 };
    assert_int_equal(evloop_create(&p.loop), 0);
    id = evloop_deadline_add(p.loop, on_deadline, &p);
    t0 = evloop_now_ns();
    evloop_deadline_arm(p.loop, id, 1 * MS);
    evloop_deadline_cancel(p.loop, id);
    evloop_deadline_arm(p.loop, id, 20 * MS);
    evloop_run(p.loop);
    assert_true(p.at - t0 >= 20 * MS);
    evloop_destroy(p.loop);
}

/* Two deadlines run in their own order, each once. */
static void test_two_deadlines(void **state)
{
    struct probe a = { .stop_after = 99 }, b = { .stop_after = 1 };
    int ia, ib;

    (void)state;
    assert_int_equal(evloop_create(&a.loop), 0);
    b.loop = a.loop;
    ia = evloop_deadline_add(a.loop, on_deadline, &a);
    ib = evloop_deadline_add(a.loop, on_deadline, &b);
    assert_true(ia != ib);
    evloop_deadline_arm(a.loop, ia, 1 * MS);
    evloop_deadline_arm(a.loop, ib, 10 * MS);
    evloop_run(a.loop);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 1);
    assert_true(a.at < b.at);
    evloop_destroy(a.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_fires_once),
        cmocka_unit_test(test_deadline_earlier_wins),
        cmocka_unit_test(test_two_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
