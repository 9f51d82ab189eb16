/* Unit tests for src/sched: weight conversion, the classifier and weight
 * steps on synthetic traces, the co-scheduler with simulated clocks, the
 * cgroup file layout over fake v1 and v2 trees, and the "sched" spec key. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/adaptive.h"
#include "sched/cgroup.h"
#include "sched/cosched.h"
#include "sched/weight.h"
#include "spec.h"

#define MS 1000000ull

/* One controller tick in a model where a vCPU the controller holds stops
 * at once (the caller reports the stop, as the vCPU thread would). */
static unsigned step(struct cosched *c, const uint64_t *p, const bool *waiting, uint64_t now)
{
	unsigned held = cosched_step(c, p, waiting, now);

	for (unsigned i = 0; i < c->n; i++)
		if (c->held[i])
			cosched_hold_entered(c, i, now);
	return held;
}

/* ---- weight <-> shares ---------------------------------------------------- */

static void test_weight_anchors(void **state)
{
	(void)state;
	assert_int_equal(sched_weight_to_shares(1), 2);
	assert_int_equal(sched_weight_to_shares(100), 1024);
	assert_int_equal(sched_weight_to_shares(10000), 262144);
	assert_int_equal(sched_shares_to_weight(2), 1);
	assert_int_equal(sched_shares_to_weight(1024), 100);
	assert_int_equal(sched_shares_to_weight(262144), 10000);
	/* out of range: clamped */
	assert_int_equal(sched_weight_to_shares(0), 2);
	assert_int_equal(sched_weight_to_shares(20000), 262144);
	assert_int_equal(sched_shares_to_weight(0), 1);
	assert_int_equal(sched_shares_to_weight(1u << 30), 10000);
}

static void test_weight_monotonic_inverse(void **state)
{
	unsigned prev = 0;

	(void)state;
	for (unsigned w = 1; w <= 10000; w++) {
		unsigned s = sched_weight_to_shares(w);

		assert_true(s > prev);     /* strictly: every weight its own shares */
		assert_int_equal(sched_shares_to_weight(s), w);
		prev = s;
	}
	/* the other way the weight scale is coarser; still close above 1024 */
	for (unsigned s = 1024; s <= 262144; s += 7) {
		unsigned back = sched_weight_to_shares(sched_shares_to_weight(s));
		unsigned d = back > s ? back - s : s - back;

		assert_true(d * 50 <= s);
	}
}

/* ---- classifier --------------------------------------------------------------- */

#define PERIOD (100 * MS)

static const struct sched_sample cpu_period = { .exits = 30, .run_ns = 95 * MS };
static const struct sched_sample io_period = { .exits = 900, .io_exits = 800,
					       .run_ns = 90 * MS };
/* dd iflag=direct from virtio-blk, as measured in the emulated test host:
 * notifications go through ioeventfd (no port or MMIO exits), the vCPU
 * runs 75 % of the period and halts 150 times a second, once per request
 * the disk completes. */
static const struct sched_sample dd_period = { .exits = 400, .halt_exits = 15,
					       .halt_wait_ns = 24 * MS, .run_ns = 75 * MS,
					       .dev_requests = 15, .io_run_ns = 2 * MS };
/* the same on hardware virtualisation: mostly halted, many requests */
static const struct sched_sample blk_period = { .exits = 4000, .halt_exits = 1800,
						.halt_wait_ns = 70 * MS, .run_ns = 25 * MS,
						.dev_requests = 2000, .io_run_ns = 12 * MS };
/* a device without counters: only its busy I/O thread shows the I/O */
static const struct sched_sample iothr_period = { .exits = 300, .halt_exits = 20,
						  .halt_wait_ns = 40 * MS, .run_ns = 50 * MS,
						  .io_run_ns = 30 * MS };
/* a vCPU computing while a sibling vCPU of its VM reads the disk */
static const struct sched_sample sibling_period = { .exits = 40, .run_ns = 95 * MS,
						    .dev_requests = 200, .io_run_ns = 5 * MS };
/* halts without device work: a timer-heavy idle guest is not I/O-bound */
static const struct sched_sample timer_period = { .exits = 400, .halt_exits = 200,
						  .halt_wait_ns = 90 * MS, .run_ns = 8 * MS };
/* CPU-bound under contention: gets 30 ms, waits 60 ms for the CPU */
static const struct sched_sample starved_period = { .exits = 20, .run_ns = 30 * MS,
						    .delay_ns = 60 * MS };
static const struct sched_sample idle_period = { .exits = 10, .halt_exits = 5,
						 .halt_wait_ns = 98 * MS, .run_ns = 1 * MS };
/* fio on a vCPU sharing its host CPU with a busy loop: each completion
 * wakes it, but it then waits for the CPU (40 ms) more than it stays
 * halted (3 ms); still I/O-bound */
static const struct sched_sample contended_io_period = { .exits = 500, .halt_exits = 12,
							 .halt_wait_ns = 3 * MS, .run_ns = 45 * MS,
							 .delay_ns = 40 * MS, .dev_requests = 90,
							 .io_run_ns = 20 * MS };
/* the busy loop next to it: waits as long for the CPU, never halts */
static const struct sched_sample contended_cpu_period = { .exits = 30, .run_ns = 55 * MS,
							  .delay_ns = 45 * MS };
/* dd from a disk that completes fast, as measured in the test host: one
 * halt per request, 900 a second, each too short to add up to 10 % */
static const struct sched_sample fast_dd_period = { .exits = 900, .halt_exits = 90,
						    .halt_wait_ns = 5 * MS, .delay_ns = 1 * MS,
						    .run_ns = 90 * MS, .dev_requests = 120,
						    .io_run_ns = 15 * MS };
/* as many halts with the devices idle (timer or IPI wake-ups) */
static const struct sched_sample fast_halts_idle_dev_period = { .exits = 900, .halt_exits = 90,
								.halt_wait_ns = 5 * MS,
								.run_ns = 90 * MS };
/* devices busy but this vCPU halts rarely (a wake-up or two) */
static const struct sched_sample few_halts_period = { .exits = 60, .halt_exits = 2,
						      .halt_wait_ns = 40 * MS, .run_ns = 60 * MS,
						      .dev_requests = 300 };

static void test_classify_raw(void **state)
{
	(void)state;
	assert_int_equal(sched_classify(&cpu_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&io_period, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify(&dd_period, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify(&blk_period, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify(&iothr_period, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify(&sibling_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&timer_period, PERIOD), SCHED_CLASS_IDLE);
	assert_int_equal(sched_classify(&idle_period, PERIOD), SCHED_CLASS_IDLE);
	assert_int_equal(sched_classify(&few_halts_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&starved_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&contended_io_period, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify(&fast_dd_period, PERIOD), SCHED_CLASS_IO);
	assert_true(sched_sample_decisive(&fast_dd_period, PERIOD, SCHED_CLASS_IO));
	assert_true(sched_sample_decisive(&io_period, PERIOD, SCHED_CLASS_IO));
	assert_false(sched_sample_decisive(&dd_period, PERIOD, SCHED_CLASS_IO));
	assert_false(sched_sample_decisive(&contended_io_period, PERIOD, SCHED_CLASS_IO));
	assert_true(sched_sample_decisive(&cpu_period, PERIOD, SCHED_CLASS_CPU));
	assert_true(sched_sample_decisive(&contended_cpu_period, PERIOD, SCHED_CLASS_CPU));
	assert_true(sched_sample_decisive(&starved_period, PERIOD, SCHED_CLASS_CPU));
	assert_false(sched_sample_decisive(&few_halts_period, PERIOD, SCHED_CLASS_CPU));
	assert_false(sched_sample_decisive(&idle_period, PERIOD, SCHED_CLASS_IDLE));
	assert_false(sched_sample_decisive(&cpu_period, 0, SCHED_CLASS_CPU));
	assert_int_equal(sched_classify(&fast_halts_idle_dev_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&contended_cpu_period, PERIOD), SCHED_CLASS_CPU);
	assert_int_equal(sched_classify(&cpu_period, 0), SCHED_CLASS_IDLE);
	assert_string_equal(sched_class_name(SCHED_CLASS_IO), "io");
}

/* A trace: CPU phase, one noisy (not decisive) I/O blip, I/O phase,
 * idle.  Decisive periods (cpu_period: no halts, runnable 95 %;
 * io_period: 8000 port exits/s) change the label at once, the others
 * after two periods. */
static void test_classifier_hysteresis(void **state)
{
	const struct sched_sample *trace[] = {
		&cpu_period, &cpu_period, &cpu_period, &cpu_period,  /* 0-3 */
		&dd_period, &cpu_period, &cpu_period,                /* 4: blip */
		&io_period, &blk_period, &io_period, &io_period,     /* 7-10 */
		&idle_period, &idle_period, &idle_period,            /* 11-13 */
	};
	const enum sched_class want[] = {
		SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_IO, SCHED_CLASS_IO, SCHED_CLASS_IO, SCHED_CLASS_IO,
		SCHED_CLASS_IO, SCHED_CLASS_IDLE, SCHED_CLASS_IDLE,
	};
	struct sched_classifier c = { 0 };
	unsigned changes = 0;

	(void)state;
	for (unsigned i = 0; i < sizeof(trace) / sizeof(trace[0]); i++) {
		changes += sched_classifier_feed(&c, trace[i], PERIOD, SCHED_CONFIRM);
		assert_int_equal(c.label, want[i]);
	}
	assert_int_equal(changes, 3);
	/* confirm 1: follows every period */
	memset(&c, 0, sizeof(c));
	assert_true(sched_classifier_feed(&c, &io_period, PERIOD, 1));
	assert_true(sched_classifier_feed(&c, &cpu_period, PERIOD, 1));
}

/* The inference experiment's guest: a CPU phase, then dd from virtio-blk
 * (no port or MMIO exits at all), with a busy period inside the dd phase
 * and a timer-heavy idle stretch at the end: io two periods after dd
 * starts (its periods are not decisive), cpu one after it stops (the
 * busy loop's are), never io while idle. */
static void test_classifier_dd_trace(void **state)
{
	const struct sched_sample *trace[] = {
		&cpu_period, &cpu_period, &cpu_period, &cpu_period,     /* 0-3 */
		&dd_period, &dd_period, &dd_period, &few_halts_period,  /* 4-7 */
		&dd_period, &dd_period,                                 /* 8-9 */
		&cpu_period, &cpu_period, &cpu_period,                  /* 10-12 */
		&timer_period, &timer_period, &timer_period,            /* 13-15 */
	};
	const enum sched_class want[] = {
		SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_CPU, SCHED_CLASS_IO, SCHED_CLASS_IO, SCHED_CLASS_IO,
		SCHED_CLASS_IO, SCHED_CLASS_IO,
		SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_CPU, SCHED_CLASS_IDLE, SCHED_CLASS_IDLE,
	};
	struct sched_classifier c = { 0 };

	(void)state;
	for (unsigned i = 0; i < sizeof(trace) / sizeof(trace[0]); i++) {
		sched_classifier_feed(&c, trace[i], PERIOD, SCHED_CONFIRM);
		assert_int_equal(c.label, want[i]);
	}
}

/* The inference experiment on a faster test host, and fio next to a
 * busy loop: decisive periods (900 halts/s with the disk busy; a busy
 * loop runnable all the time) change the label at once, the contended
 * fio vCPU's (120 halts/s, waiting for the CPU) after two periods. */
static void test_classifier_fast_and_contended(void **state)
{
	const struct sched_sample *trace[] = {
		&cpu_period, &cpu_period, &cpu_period,                   /* 0-2 */
		&fast_dd_period, &fast_dd_period, &fast_dd_period,       /* 3-5 */
		&cpu_period, &cpu_period,                                /* 6-7 */
		&contended_io_period, &contended_io_period,              /* 8-9 */
		&contended_cpu_period, &contended_cpu_period,            /* 10-11 */
	};
	const enum sched_class want[] = {
		SCHED_CLASS_CPU, SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_IO, SCHED_CLASS_IO, SCHED_CLASS_IO,
		SCHED_CLASS_CPU, SCHED_CLASS_CPU,
		SCHED_CLASS_CPU, SCHED_CLASS_IO,
		SCHED_CLASS_CPU, SCHED_CLASS_CPU,
	};
	struct sched_classifier c = { 0 };

	(void)state;
	for (unsigned i = 0; i < sizeof(trace) / sizeof(trace[0]); i++) {
		sched_classifier_feed(&c, trace[i], PERIOD, SCHED_CONFIRM);
		assert_int_equal(c.label, want[i]);
	}
}

static void test_weight_steps(void **state)
{
	struct sched_bounds b = { .min_weight = 12, .max_weight = 800 };
	unsigned w = 100, steps = 0;

	(void)state;
	assert_int_equal(sched_weight_target(100, SCHED_CLASS_IO, &b), 400);
	assert_int_equal(sched_weight_target(100, SCHED_CLASS_CPU, &b), 50);
	assert_int_equal(sched_weight_target(100, SCHED_CLASS_IDLE, &b), 100);
	assert_int_equal(sched_weight_target(300, SCHED_CLASS_IO, &b), 800);   /* max */
	assert_int_equal(sched_weight_target(20, SCHED_CLASS_CPU, &b), 12);    /* floor */
	while (w != 400 && steps < 20) {
		unsigned next = sched_weight_step(w, 400, &b);

		assert_true(next > w && next <= 400);
		w = next;
		steps++;
	}
	assert_int_equal(w, 400);
	assert_true(steps <= 6);
	for (w = 100, steps = 0; w != 50 && steps < 20; steps++)
		w = sched_weight_step(w, 50, &b);
	assert_int_equal(w, 50);
	assert_true(steps <= 4);
	/* never below the floor, never 0, even with bounds of 0 */
	b = (struct sched_bounds){ 0 };
	assert_int_equal(sched_weight_step(1, 0, &b), 1);
	assert_int_equal(sched_classify_io_thread(30 * MS, PERIOD), SCHED_CLASS_IO);
	assert_int_equal(sched_classify_io_thread(5 * MS, PERIOD), SCHED_CLASS_IDLE);
}

/* ---- co-scheduler with simulated clocks ----------------------------------------- */

/* Holds only (no boosts): two unpinned vCPUs on two host CPUs; vCPU 1 is
 * preempted (runnable, waiting) from t=10 ms to t=60 ms, but when vCPU 0
 * is held its CPU is free and the host runs vCPU 1 there.  Progress of a
 * running or halted vCPU follows the clock; a held or waiting one stands
 * still. */
static void test_cosched_useful_hold(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 0, 0 }, tick = 2 * MS, since = 0, longest = 0;
	bool waiting[2] = { false, false };

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	assert_false(c.can_boost);
	assert_int_equal(c.max_hold_ns, 10 * MS);
	for (uint64_t now = 0; now <= 100 * MS; now += tick) {
		bool preempted = now > 10 * MS && now <= 60 * MS;
		bool was_held = c.held[0];

		step(&c, p, waiting, now);
		assert_false(c.held[1]);        /* the laggard is never held */
		assert_false(c.boosted[0] || c.boosted[1]);
		if (c.held[0] && !was_held)
			since = now;
		if (!c.held[0] && was_held && now - since > longest)
			longest = now - since;
		/* the next tick: who runs */
		if (!c.held[0])
			p[0] += tick;
		waiting[1] = preempted && !c.held[0];
		if (!waiting[1])
			p[1] += tick;
		/* the spread stays near the bound */
		assert_true(p[0] - (p[0] > p[1] ? p[1] : p[0]) <= 10 * MS + 2 * tick);
	}
	assert_true(c.costops >= 2);
	assert_int_equal(c.useful, c.costops);  /* every hold let the laggard catch up */
	assert_int_equal(c.timeouts, 0);
	assert_true(longest <= 5 * MS + 2 * tick);     /* back within half the bound */
	assert_int_equal(c.samples, 51);
	/* holds start a tick before the bound: the skew never passes it */
	assert_true(c.max_skew_seen_ns > 7 * MS && c.max_skew_seen_ns <= 10 * MS);
	assert_true(c.skew_hist[0] > 0);
	assert_int_equal(c.boosts, 0);
}

/* vCPU 1 waits for a CPU that a pinned host hog keeps: holding vCPU 0
 * cannot help.  Each hold ends at max_hold (the bound), then vCPU 0 runs
 * for at least a bound: it loses at most half its time, not all of it.
 * With boosts, a boosted laggard that waits is no reason to hold at all:
 * vCPU 0 loses nothing. */
static void timeout_run(bool boost)
{
	struct cosched c;
	uint64_t p[2] = { 50 * MS, 0 }, tick = MS, since = 0, held_ticks = 0;
	bool waiting[2] = { false, true };      /* vCPU 1 never gets a CPU */

	cosched_init(&c, 2, 10 * MS);
	c.can_boost = boost;
	for (uint64_t now = 0; now < 200 * MS; now += tick) {
		bool was_held = c.held[0];

		step(&c, p, waiting, now);
		assert_int_equal(c.boosted[1], boost);
		assert_int_equal(c.boosted[0], boost);
		if (c.held[0] && !was_held)
			since = now;
		if (c.held[0]) {
			assert_true(now - since < 10 * MS);     /* each hold bounded */
			held_ticks++;
		} else {
			p[0] += tick;
		}
	}
	if (boost) {
		assert_int_equal(c.costops, 0);
		assert_int_equal(held_ticks, 0);
		assert_true(c.skipped > 100);
	} else {
		assert_true(c.costops >= 9);
		assert_int_equal(c.timeouts, c.costops - c.held[0]);
		assert_true(held_ticks * tick <= 100 * MS + 10 * MS);
	}
	assert_int_equal(c.useful, 0);
	assert_int_equal(c.boosts, boost ? 1 : 0);
	cosched_release_all(&c, 200 * MS);
	assert_false(c.held[0] || c.boosted[1]);
	assert_int_equal(c.held_ns, held_ticks * tick);
	assert_int_equal(c.boosted_ns, boost ? 200 * MS : 0);
}

static void test_cosched_timeout(void **state)
{
	(void)state;
	timeout_run(false);
	timeout_run(true);
}

/* Without boosts, a laggard that is not waiting for a CPU (it runs, halts
 * or is itself held) is never a reason to hold: holding its sibling
 * would only stop the sibling. */
static void test_cosched_laggard_not_waiting(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 50 * MS, 0 };
	bool waiting[2] = { false, false };

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	assert_int_equal(step(&c, p, waiting, 0), 0);
	assert_int_equal(step(&c, p, waiting, MS), 0);
	assert_int_equal(c.costops, 0);
	assert_int_equal(c.skipped, 2);
	waiting[1] = true;
	assert_int_equal(step(&c, p, waiting, 2 * MS), 1);
	/* the laggard runs on the freed CPU: the hold lasts until the holder
	 * is back within half the bound */
	waiting[1] = false;
	p[1] = 40 * MS;
	assert_int_equal(step(&c, p, waiting, 3 * MS), 1);
	p[1] = 45 * MS;
	assert_int_equal(step(&c, p, waiting, 4 * MS), 0);
	assert_int_equal(c.useful, 1);
	assert_int_equal(c.held_ns, 2 * MS);
	assert_int_equal(c.timeouts, 0);
}

/* Host model for the boost tests: vCPU 0 has a host CPU to itself; vCPU 1
 * shares the other with a hog and gets half of it, or 9/10 while the VM is
 * boosted (weight 1000 against 100).  A held vCPU stands still.  Returns the
 * number of ticks vCPU 0 was held. */
static uint64_t boost_run(struct cosched *c, uint64_t *p, uint64_t tick, uint64_t until,
			  uint64_t *max_spread)
{
	bool waiting[2] = { false, false };
	uint64_t held = 0, share = 0;

	for (uint64_t now = 0; now < until; now += tick) {
		uint64_t spread;

		step(c, p, waiting, now);
		assert_false(c->held[1]);
		assert_int_equal(c->boosted[0], c->boosted[1]);     /* the VM as one */
		held += c->held[0];
		if (!c->held[0])
			p[0] += tick;
		/* vCPU 1: runs `share` tenths of the time, in whole ticks */
		share += c->boosted[1] ? 9 : 5;
		waiting[1] = share < 10;
		if (share >= 10) {
			share -= 10;
			p[1] += tick;
		}
		spread = p[0] > p[1] ? p[0] - p[1] : p[1] - p[0];
		*max_spread = spread > *max_spread ? spread : *max_spread;
	}
	return held;
}

/* A laggard behind a foreign hog: boosted once it is half a bound behind,
 * it keeps up; the leader is held only to take back what the boost
 * cannot (1/10 of the time here), briefly, and the spread stays within
 * the bound plus a tick. */
static void test_cosched_boost_keeps_bound(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 0, 0 }, tick = 2500000ull, spread = 0, held;

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	c.can_boost = true;
	held = boost_run(&c, p, tick, 2000 * MS, &spread);
	assert_true(spread <= 10 * MS + tick);
	assert_int_equal(c.boosts, 1);          /* once boosted, it stays so */
	assert_true(c.boosted[1]);
	assert_true(c.costops > 0);
	assert_int_equal(c.timeouts, 0);
	assert_int_equal(c.useful, c.costops - c.held[0]);
	/* held about a tenth of the time: what the boost leaves to take back */
	assert_true(held * tick <= 2000 * MS / 8);
	assert_true(held * tick >= 2000 * MS / 20);
	assert_true(c.skipped > 0);             /* ticks that found vCPU 1 waiting */
}

/* Without the boost the same laggard falls behind at half speed: the
 * holds bound the skew too, at the price of holding the leader half of
 * the time.  The boost is what makes co-scheduling cheap here. */
static void test_cosched_boost_vs_holds(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 0, 0 }, tick = 2500000ull, spread = 0, held;

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	held = boost_run(&c, p, tick, 2000 * MS, &spread);
	assert_int_equal(c.boosts, 0);
	assert_true(spread <= 10 * MS + 2 * tick);
	assert_true(held * tick >= 2000 * MS * 4 / 10);
}

/* The VM is boosted, all its vCPUs at once, while one lags by more than
 * half the bound, until the skew has stayed within a quarter of it for
 * COSCHED_CALM_BOUNDS bounds; boosts drop when they become impossible. */
static void test_cosched_boost_release(void **state)
{
	struct cosched c;
	uint64_t p[3] = { 7 * MS, 0, 7 * MS };
	bool waiting[3] = { false, false, false };
	uint64_t calm = COSCHED_CALM_BOUNDS * 10 * MS;

	(void)state;
	cosched_init(&c, 3, 10 * MS);
	c.can_boost = true;
	assert_int_equal(step(&c, p, waiting, 0), 0);
	assert_true(c.boosted[0] && c.boosted[1] && c.boosted[2]);      /* 7 ms > 5, < 7.5 */
	p[1] = 3 * MS;                          /* 4 ms behind: still boosted */
	step(&c, p, waiting, MS);
	assert_true(c.boosted[0] && c.boosted[1] && c.boosted[2]);
	p[1] = 5 * MS;                          /* 2 ms behind: calm, but not for long */
	step(&c, p, waiting, 2 * MS);
	step(&c, p, waiting, 2 * MS + calm - 1);
	assert_true(c.boosted[0] && c.boosted[1] && c.boosted[2]);
	step(&c, p, waiting, 2 * MS + calm);
	assert_false(c.boosted[0] || c.boosted[1] || c.boosted[2]);
	assert_int_equal(c.boosted_ns, 2 * MS + calm);
	p[1] = 11 * MS;                         /* 4 ms: not enough to start one */
	step(&c, p, waiting, 3 * MS + calm);
	assert_false(c.boosted[0]);
	p[1] = 14 * MS;                         /* now vCPUs 0 and 2 lag by 7 ms */
	step(&c, p, waiting, 4 * MS + calm);
	assert_true(c.boosted[0] && c.boosted[1] && c.boosted[2]);
	assert_int_equal(c.boosts, 2);
	/* boosts off (no cgroups any more): dropped at the next step */
	c.can_boost = false;
	step(&c, p, waiting, 5 * MS + calm);
	assert_false(c.boosted[0] || c.boosted[1] || c.boosted[2]);
	assert_int_equal(c.boosted_ns, 3 * MS + calm);
	assert_int_equal(c.costops, 0);         /* never more than the bound apart */
	c.can_boost = true;
	p[0] = 0;
	step(&c, p, waiting, 6 * MS + calm);
	assert_true(c.held[1]);
	cosched_release_all(&c, 8 * MS + calm);
	assert_false(c.boosted[0] || c.boosted[1] || c.boosted[2] || c.held[1]);
	assert_int_equal(c.boosted_ns, 5 * MS + calm);
}

/* A held vCPU that leaves the guest late still gets its whole hold:
 * max_hold counts from the stop the caller reports, not from the
 * decision.  One that never stops lapses after the pending window, and
 * is not counted as held. */
static void test_cosched_late_stop(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 50 * MS, 0 };
	bool waiting[2] = { false, true };
	uint64_t pending;

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	pending = cosched_hold_pending_ns(&c);
	assert_true(pending > c.max_hold_ns);
	assert_int_equal(cosched_step(&c, p, waiting, 0), 1);
	/* 15 ms on: past max_hold from the decision, but not stopped yet */
	assert_int_equal(cosched_step(&c, p, waiting, 15 * MS), 1);
	cosched_hold_entered(&c, 0, 16 * MS);
	cosched_hold_entered(&c, 0, 18 * MS);          /* the first stop counts */
	cosched_hold_entered(&c, 1, 18 * MS);          /* not held: ignored */
	assert_false(c.stopped[1]);
	assert_int_equal(c.stopped_at[0], 16 * MS);
	assert_int_equal(cosched_step(&c, p, waiting, 25 * MS), 1);
	assert_int_equal(cosched_step(&c, p, waiting, 26 * MS), 0);
	assert_int_equal(c.timeouts, 1);
	assert_int_equal(c.lapsed, 0);
	assert_int_equal(c.held_ns, 10 * MS);
	/* after its cooldown it is held again, and never stops */
	assert_int_equal(cosched_step(&c, p, waiting, 36 * MS), 1);
	assert_int_equal(cosched_step(&c, p, waiting, 36 * MS + pending - 1), 1);
	assert_int_equal(cosched_step(&c, p, waiting, 36 * MS + pending), 0);
	assert_int_equal(c.lapsed, 1);
	assert_int_equal(c.timeouts, 1);
	assert_int_equal(c.held_ns, 10 * MS);
	assert_int_equal(c.costops, 2);
}

/* A boosted laggard far behind (40 ms) that runs: the leader is held,
 * and the hold is renewed at each max_hold while the laggard closes at
 * least half of it, until the pair is back within half the bound: one
 * hold, no timeouts.  Then one that gets only a quarter of a CPU while
 * its sibling is held (not waiting at the ticks, but slow): its holds
 * time out and are not renewed. */
static void test_cosched_renew_for_running_laggard(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 40 * MS, 0 }, quarter = 0;
	bool waiting[2] = { false, false };

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	c.can_boost = true;
	for (uint64_t now = 0; now < 60 * MS; now += MS) {
		step(&c, p, waiting, now);
		if (!c.held[0])
			p[0] += MS;
		p[1] += MS;
	}
	assert_int_equal(c.costops, 1);
	assert_int_equal(c.useful, 1);
	assert_int_equal(c.timeouts, 0);
	assert_int_equal(c.renewals, 3);
	assert_false(c.held[0]);
	assert_true(p[0] - p[1] <= 5 * MS);

	cosched_init(&c, 2, 10 * MS);
	c.can_boost = true;
	p[0] = 40 * MS;
	p[1] = 0;
	for (uint64_t now = 0; now < 60 * MS; now += MS) {
		step(&c, p, waiting, now);
		if (!c.held[0])
			p[0] += MS;
		if (++quarter % 4 == 0)
			p[1] += MS;
	}
	assert_int_equal(c.renewals, 0);
	assert_true(c.timeouts >= 2);
	assert_int_equal(c.useful, 0);
}

static void test_cosched_single_and_bound(void **state)
{
	struct cosched c;
	uint64_t p[3] = { 150 * MS, 0, 3 * MS };
	bool waiting[3] = { false, true, false };

	(void)state;
	cosched_init(&c, 1, 10 * MS);
	assert_int_equal(step(&c, p, waiting, 0), 0);
	assert_int_equal(cosched_skew(1, p), 0);
	assert_int_equal(cosched_skew(3, p), 150 * MS);
	cosched_init(&c, 3, 10 * MS);
	assert_int_equal(step(&c, p, waiting, 0), 1);   /* only vCPU 0 */
	assert_true(c.held[0]);
	cosched_set_bound(&c, 200 * MS);
	assert_int_equal(c.max_hold_ns, 200 * MS);
	assert_int_equal(step(&c, p, waiting, 150 * MS), 1);    /* longer now */
	assert_int_equal(step(&c, p, waiting, 200 * MS), 0);
	assert_int_equal(c.timeouts, 1);
	assert_int_equal(cosched_hist_bound_ms(0), 1);
	assert_int_equal(cosched_hist_bound_ms(COSCHED_HIST_BUCKETS - 1), 0);
}

/* Spread: a vCPU more than half the bound behind that is on its
 * sibling's CPU is moved off that CPU, once per move, and the move is
 * re-aimed when the host puts the pair together again elsewhere. */
static void test_cosched_spread_same_cpu(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 8 * MS, 0 };
	bool waiting[2] = { false, false };
	int cpu[2] = { 3, 3 };
	unsigned ncpus[2] = { 4, 4 };

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	assert_int_equal(c.spread_from[0], -1);
	assert_int_equal(c.spread_from[1], -1);
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 1);
	assert_int_equal(c.spread_from[0], -1);         /* the leader stays */
	assert_int_equal(c.spread_from[1], 3);          /* the laggard leaves CPU 3 */
	assert_int_equal(c.spreads, 1);
	/* still seen on CPU 3 (it has not run since): no second move */
	step(&c, p, waiting, MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, MS), 0);
	assert_int_equal(c.spreads, 1);
	/* on CPU 2 alone: the move stands */
	cpu[1] = 2;
	waiting[1] = false;
	step(&c, p, waiting, 2 * MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 2 * MS), 0);
	assert_int_equal(c.spread_from[1], 3);
	/* the host moves the leader onto CPU 2 too: the laggard leaves that */
	cpu[0] = 2;
	step(&c, p, waiting, 3 * MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 3 * MS), 1);
	assert_int_equal(c.spread_from[1], 2);
	assert_int_equal(c.spread_from[0], -1);
	assert_int_equal(c.spreads, 2);
	/* a new mask (x-set-vcpu-affinity) replaces the move */
	cosched_unspread(&c, 1);
	assert_int_equal(c.spread_from[1], -1);
	cosched_release_all(&c, 4 * MS);
	assert_int_equal(c.spread_from[1], -1);
}

/* No move: vCPUs on different CPUs, a laggard pinned to one CPU, a CPU
 * not known, a lag within half the bound, a single vCPU. */
static void test_cosched_spread_none(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 8 * MS, 0 };
	bool waiting[2] = { false, false };
	int cpu[2] = { 0, 1 };
	unsigned ncpus[2] = { 2, 2 };

	(void)state;
	cosched_init(&c, 2, 10 * MS);
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 0);      /* apart */
	cpu[1] = 0;
	ncpus[1] = 1;
	step(&c, p, waiting, MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, MS), 0);     /* pinned */
	ncpus[1] = 2;
	cpu[1] = -1;
	step(&c, p, waiting, 2 * MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 2 * MS), 0); /* unknown */
	cpu[1] = 0;
	p[1] = 3 * MS;                                                  /* 5 ms: not more */
	step(&c, p, waiting, 3 * MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 3 * MS), 0);
	assert_int_equal(c.spreads, 0);
	assert_int_equal(c.spread_from[0], -1);
	assert_int_equal(c.spread_from[1], -1);
	p[1] = 0;                                                       /* now it is */
	step(&c, p, waiting, 4 * MS);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 4 * MS), 1);
	cosched_init(&c, 1, 10 * MS);
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 0);
}

/* Three vCPUs: both laggards leave the leader's CPU; two laggards that
 * share one CPU without the leader are parted by moving one. */
static void test_cosched_spread_three(void **state)
{
	struct cosched c;
	uint64_t p[3] = { 0, 1 * MS, 9 * MS };
	bool waiting[3] = { false, false, false };
	int cpu[3] = { 5, 5, 5 };
	unsigned ncpus[3] = { 8, 8, 8 };

	(void)state;
	cosched_init(&c, 3, 10 * MS);
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 2);
	assert_int_equal(c.spread_from[0], 5);
	assert_int_equal(c.spread_from[1], 5);
	assert_int_equal(c.spread_from[2], -1);
	cosched_init(&c, 3, 10 * MS);
	cpu[2] = 6;
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 1);
	assert_int_equal(c.spread_from[0], 5);
	assert_int_equal(c.spread_from[1], -1);
	assert_int_equal(c.spreads, 1);
}

/* Moves end when the VM is calm again: the skew within a quarter of the
 * bound for COSCHED_CALM_BOUNDS bounds, the moment the boost ends (and
 * the same without boosts). */
static void spread_release_run(bool boost)
{
	struct cosched c;
	uint64_t p[2] = { 7 * MS, 0 };   /* behind, not yet held for */
	bool waiting[2] = { false, false };
	int cpu[2] = { 1, 1 };
	unsigned ncpus[2] = { 2, 2 };
	uint64_t calm = COSCHED_CALM_BOUNDS * 10 * MS;

	cosched_init(&c, 2, 10 * MS);
	c.can_boost = boost;
	step(&c, p, waiting, 0);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 0), 1);
	assert_int_equal(c.boosted[1], boost);
	cpu[1] = 0;
	p[1] = 3 * MS;                          /* 4 ms behind: not calm yet */
	step(&c, p, waiting, MS);
	cosched_spread(&c, p, cpu, ncpus, MS);
	assert_int_equal(c.spread_from[1], 1);
	p[1] = 6 * MS;                          /* 1 ms: calm from here */
	waiting[1] = false;
	step(&c, p, waiting, 2 * MS);
	cosched_spread(&c, p, cpu, ncpus, 2 * MS);
	step(&c, p, waiting, 2 * MS + calm - 1);
	cosched_spread(&c, p, cpu, ncpus, 2 * MS + calm - 1);
	assert_int_equal(c.spread_from[1], 1);
	assert_int_equal(c.boosted[1], boost);
	step(&c, p, waiting, 2 * MS + calm);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 2 * MS + calm), 0);
	assert_int_equal(c.spread_from[0], -1);
	assert_int_equal(c.spread_from[1], -1);
	assert_false(c.boosted[1]);
	assert_int_equal(c.spreads, 1);
	/* behind and together again: a new move */
	p[1] = 0;
	cpu[1] = 1;
	step(&c, p, waiting, 3 * MS + calm);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, 3 * MS + calm), 1);
	assert_int_equal(c.spreads, 2);
	/* co-scheduling off or the VM gone: every move released */
	cosched_release_all(&c, 4 * MS + calm);
	assert_int_equal(c.spread_from[1], -1);
}

/* Boosts on, vCPU 1 7 ms behind vCPU 0 on its CPU (1), not yet held for:
 * the first tick moves vCPU 1 off CPU 1. */
static void spread_pair(struct cosched *c, uint64_t *p, bool *waiting, int *cpu,
			unsigned *ncpus)
{
	cosched_init(c, 2, 10 * MS);
	c->can_boost = true;
	step(c, p, waiting, 0);
	assert_int_equal(cosched_spread(c, p, cpu, ncpus, 0), 1);
	assert_int_equal(c->spread_from[1], 1);
}

/* While a vCPU is held its CPU is free: no vCPU is kept off a CPU, so
 * a laggard moved away from its sibling can take the held one's CPU. */
static void test_cosched_spread_lifted_while_held(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 7 * MS, 0 };
	bool waiting[2] = { false, false };
	int cpu[2] = { 1, 1 };
	unsigned ncpus[2] = { 2, 2 };

	(void)state;
	spread_pair(&c, p, waiting, cpu, ncpus);
	p[0] = 9 * MS;                          /* past the hold point: held */
	cpu[0] = -1;
	step(&c, p, waiting, MS);
	assert_true(c.held[0]);
	assert_int_equal(cosched_spread(&c, p, cpu, ncpus, MS), 0);
	assert_int_equal(c.spread_from[1], -1);
	assert_int_equal(c.spreads, 1);
}

/* A vCPU moved off its sibling's CPU that then waits for a CPU for half
 * a bound where it went is let go (the host places it again), once. */
static void test_cosched_unspread_waiting(void **state)
{
	struct cosched c;
	uint64_t p[2] = { 7 * MS, 0 };
	bool waiting[2] = { false, false };
	int cpu[2] = { 1, 1 };
	unsigned ncpus[2] = { 2, 2 };

	(void)state;
	spread_pair(&c, p, waiting, cpu, ncpus);
	/* it went to CPU 0 and waits there; the leader runs on CPU 1 */
	waiting[1] = true;
	cpu[1] = 0;
	for (uint64_t t = MS; t < 6 * MS; t += MS) {
		p[0] += MS;
		p[0] = p[0] > 7 * MS ? 7 * MS : p[0];	/* held back below the hold point */
		step(&c, p, waiting, t);
		cosched_spread(&c, p, cpu, ncpus, t);
		assert_int_equal(c.spread_from[1], 1);  /* 4 ms of waiting: stays */
	}
	step(&c, p, waiting, 6 * MS);
	cosched_spread(&c, p, cpu, ncpus, 6 * MS);
	assert_int_equal(c.spread_from[1], -1);     /* 5 ms: let go */
	assert_int_equal(c.unspreads, 1);
	step(&c, p, waiting, 7 * MS);
	cosched_spread(&c, p, cpu, ncpus, 7 * MS);
	assert_int_equal(c.unspreads, 1);
	assert_int_equal(c.spreads, 1);
}

static void test_cosched_spread_release(void **state)
{
	(void)state;
	spread_release_run(true);
	spread_release_run(false);
}

/* ---- cgroup layout over fake trees --------------------------------------------- */

static char root[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void mkd(const char *rel)
{
	char path[PATH_MAX + 256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* The whole content of a file of the fake tree, "" when missing. */
static const char *get(const char *fmt, ...)
{
	static char buf[512];
	char rel[PATH_MAX], path[2 * PATH_MAX + 8];
	va_list ap;
	size_t n = 0;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static bool exists(const char *fmt, ...)
{
	char rel[PATH_MAX], path[2 * PATH_MAX + 8];
	struct stat st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return !stat(path, &st);
}

static int tree_setup(void **state)
{
	char tmpl[] = "/tmp/kvmm-cg-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(root, sizeof(root), "%s", tmpl);
	return 0;
}

static int tree_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) ? -1 : 0;
}

/* A pid that is surely not running: past pid_max. */
#define DEAD_PID 4194305

static void test_cgroup_v1_layout(void **state)
{
	char err[512], tid[32];
	struct cg cg;
	pid_t pid = getpid();

	(void)state;
	mkd("cpu");
	put("cpu/cpu.shares", "1024\n");
	mkd("cpu/parent");
	mkd("cpuset");
	put("cpuset/cpuset.cpus", "0-3\n");
	mkd("cpuset/parent");
	put("cpuset/parent/cpuset.cpus", "0-1\n");
	put("cpuset/parent/cpuset.mems", "0\n");
	/* a crashed run's groups; kvmm-1: pid 1 lives but is not kvmm (a
	 * reused pid), so that one goes too */
	mkd("cpu/parent/kvmm-4194305");
	mkd("cpu/parent/kvmm-4194305/vm");
	put("cpu/parent/kvmm-4194305/vm/tasks", "123\n");
	mkd("cpuset/parent/kvmm-4194305");
	mkd("cpu/parent/kvmm-1");

	assert_int_equal(cg_open(&cg, root, "parent", err, sizeof(err)), 0);
	assert_int_equal(cg.layout, CG_V1);
	assert_true(cg.fake);
	assert_int_equal(cg_clean_stale(&cg), 3);
	assert_false(exists("cpu/parent/kvmm-%d", DEAD_PID));
	assert_false(exists("cpuset/parent/kvmm-%d", DEAD_PID));
	assert_false(exists("cpu/parent/kvmm-1"));

	assert_int_equal(cg_proc_create(&cg, pid, err, sizeof(err)), 0);
	assert_int_equal(cg_group_create(&cg, "a", err, sizeof(err)), 0);
	assert_int_equal(cg_group_create(&cg, "a/vcpu0", err, sizeof(err)), 0);
	/* cpuset.cpus/mems inherited at every level, before any thread joins */
	assert_string_equal(get("cpuset/parent/kvmm-%d/a/vcpu0/cpuset.cpus", pid), "0-1\n");
	assert_string_equal(get("cpuset/parent/kvmm-%d/a/vcpu0/cpuset.mems", pid), "0\n");
	assert_int_equal(cg_weight_set(&cg, "a/vcpu0", 100), 0);
	assert_string_equal(get("cpu/parent/kvmm-%d/a/vcpu0/cpu.shares", pid), "1024\n");
	assert_int_equal(cg_weight_set(&cg, "a/vcpu0", 10000), 0);
	assert_string_equal(get("cpu/parent/kvmm-%d/a/vcpu0/cpu.shares", pid), "262144\n");
	assert_int_equal(cg_cpus_set(&cg, "a/vcpu0", "1"), 0);
	assert_string_equal(get("cpuset/parent/kvmm-%d/a/vcpu0/cpuset.cpus", pid), "1\n");
	assert_int_equal(cg_thread_attach(&cg, "a/vcpu0", 4242), 0);
	assert_int_equal(cg_thread_attach(&cg, "a/vcpu0", 4243), 0);
	assert_string_equal(get("cpu/parent/kvmm-%d/a/vcpu0/tasks", pid), "4242\n4243\n");
	snprintf(tid, sizeof(tid), "4242\n4243\n");
	assert_string_equal(get("cpuset/parent/kvmm-%d/a/vcpu0/tasks", pid), tid);

	cg_proc_destroy(&cg);
	assert_false(exists("cpu/parent/kvmm-%d", pid));
	assert_false(exists("cpuset/parent/kvmm-%d", pid));
	assert_true(exists("cpu/parent"));
}

static void test_cgroup_v2_layout(void **state)
{
	char err[512];
	struct cg cg;
	pid_t pid = getpid();

	(void)state;
	put("cgroup.controllers", "cpuset cpu io memory pids\n");
	mkd("p");
	assert_int_equal(cg_open(&cg, root, "p", err, sizeof(err)), 0);
	assert_int_equal(cg.layout, CG_V2);
	assert_int_equal(cg_proc_create(&cg, pid, err, sizeof(err)), 0);
	assert_string_equal(get("p/cgroup.subtree_control"), "+cpu\n");
	assert_int_equal(cg_group_create(&cg, "a", err, sizeof(err)), 0);
	assert_int_equal(cg_group_create(&cg, "a/vcpu0", err, sizeof(err)), 0);
	assert_int_equal(cg_group_create(&cg, "a/io", err, sizeof(err)), 0);
	/* a threaded subtree, the process in its domain */
	assert_string_equal(get("p/kvmm-%d/a/cgroup.type", pid), "threaded\n");
	assert_string_equal(get("p/kvmm-%d/a/vcpu0/cgroup.type", pid), "threaded\n");
	assert_string_equal(get("p/kvmm-%d/cgroup.subtree_control", pid), "+cpu\n");
	assert_string_equal(get("p/kvmm-%d/a/cgroup.subtree_control", pid), "+cpu\n");
	assert_true(atoi(get("p/kvmm-%d/cgroup.procs", pid)) == pid);
	assert_int_equal(cg_weight_set(&cg, "a/vcpu0", 400), 0);
	assert_string_equal(get("p/kvmm-%d/a/vcpu0/cpu.weight", pid), "400\n");
	assert_int_equal(cg_thread_attach(&cg, "a/io", 777), 0);
	assert_string_equal(get("p/kvmm-%d/a/io/cgroup.threads", pid), "777\n");
	assert_int_equal(cg_cpus_set(&cg, "a/io", "0"), 0);   /* affinity alone in v2 */
	cg_proc_destroy(&cg);
	assert_false(exists("p/kvmm-%d", pid));
}

static void test_cgroup_errors(void **state)
{
	char err[512], name[64];
	struct cg cg;

	(void)state;
	assert_int_equal(cg_open(&cg, root, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no cgroup cpu controller"));
	put("cgroup.controllers", "memory pids\n");
	assert_int_equal(cg_open(&cg, root, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "has no cpu controller"));
	put("cgroup.controllers", "cpu\n");
	assert_int_equal(cg_open(&cg, root, "missing", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "missing does not exist"));
	/* kvmm-<pid> cannot be a directory: the write under it fails */
	assert_int_equal(cg_open(&cg, root, NULL, err, sizeof(err)), 0);
	snprintf(name, sizeof(name), "kvmm-%d", (int)getpid());
	put(name, "");
	assert_int_equal(cg_proc_create(&cg, getpid(), err, sizeof(err)), 0);
	assert_int_not_equal(cg_group_create(&cg, "a", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot create cgroup"));
	assert_string_equal(cg_layout_name(CG_V1), "v1");
}

/* ---- the "sched" spec key --------------------------------------------------------- */

static void test_spec_sched_keys(void **state)
{
	struct kvmm_spec spec;
	char err[512];
	const struct spec_sched *s;

	(void)state;
	assert_int_equal(spec_load_string(
		"{\"vms\": [{\"name\": \"a\", \"kernel\": \"/proc/self/exe\", \"vcpus\": 2,"
		" \"sched\": {\"cgroup_parent\": \"k\", \"weight\": 200, \"io_weight\": 300,"
		" \"vcpu_weights\": [100, 400], \"vcpu_affinity\": [[0], [0, 1]],"
		" \"io_affinity\": [1], \"adaptive\": {\"enabled\": true, \"period_ms\": 50,"
		" \"min_weight\": 20, \"max_weight\": 900},"
		" \"coschedule\": {\"enabled\": true, \"max_skew_ms\": 5, \"boost_weight\": 0}}}]}",
		NULL, &spec, err, sizeof(err)), 0);
	s = &spec.vms[0].sched;
	assert_string_equal(s->cgroup_parent, "k");
	assert_int_equal(s->weight, 200);
	assert_int_equal(s->io_weight, 300);
	assert_int_equal(s->nvcpu_weights, 2);
	assert_int_equal(s->vcpu_weights[1], 400);
	assert_int_equal(s->nvcpu_affinity, 2);
	assert_int_equal(s->vcpu_affinity[0][0], 1);
	assert_int_equal(s->vcpu_affinity[1][0], 3);
	assert_int_equal(s->io_affinity[0], 2);
	assert_true(s->adaptive);
	assert_int_equal(s->period_ms, 50);
	assert_int_equal(s->min_weight, 20);
	assert_int_equal(s->max_weight, 900);
	assert_true(s->coschedule);
	assert_int_equal(s->max_skew_ms, 5);
	assert_int_equal(s->boost_weight, 0);
	spec_free(&spec);
	/* defaults */
	assert_int_equal(spec_load_string("{\"kernel\": \"/proc/self/exe\"}", NULL, &spec,
					  err, sizeof(err)), 0);
	assert_int_equal(spec.vms[0].sched.period_ms, 100);
	assert_int_equal(spec.vms[0].sched.max_skew_ms, 10);
	assert_int_equal(spec.vms[0].sched.boost_weight, 1000);
	assert_false(spec.vms[0].sched.adaptive);
	spec_free(&spec);
	/* a parent may be nested, and its names may hold dots */
	assert_int_equal(spec_load_string("{\"kernel\": \"/proc/self/exe\", \"sched\": "
					  "{\"cgroup_parent\": \"kvmm/..a/b.\"}}", NULL, &spec,
					  err, sizeof(err)), 0);
	assert_string_equal(spec.vms[0].sched.cgroup_parent, "kvmm/..a/b.");
	spec_free(&spec);
}

static void expect_error(const char *json, const char *msg)
{
	struct kvmm_spec spec;
	char err[512];

	assert_int_equal(spec_load_string(json, NULL, &spec, err, sizeof(err)), -EINVAL);
	if (strcmp(err, msg))
		fail_msg("got \"%s\", expected \"%s\"", err, msg);
}

static void test_spec_sched_errors(void **state)
{
	(void)state;
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"weight\": 0}}",
		     "sched.weight: expected an integer 1..10000, got 0");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"cgroup_parent\": "
		     "\"../../..\"}}",
		     "sched.cgroup_parent: expected a group path below the hierarchy's top (names "
		     "joined by \"/\", none empty, \".\" or \"..\"), got \"../../..\"");
	expect_error("{\"vms\": [{\"kernel\": \"/proc/self/exe\", \"sched\": {\"cgroup_parent\": "
		     "\"k/./x\"}}]}",
		     "vms[0].sched.cgroup_parent: expected a group path below the hierarchy's top "
		     "(names joined by \"/\", none empty, \".\" or \"..\"), got \"k/./x\"");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"cgroup_parent\": "
		     "\"/k\"}}",
		     "sched.cgroup_parent: expected a group path below the hierarchy's top (names "
		     "joined by \"/\", none empty, \".\" or \"..\"), got \"/k\"");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"cgroup_parent\": "
		     "\"\"}}",
		     "sched.cgroup_parent: expected a group path below the hierarchy's top (names "
		     "joined by \"/\", none empty, \".\" or \"..\"), got \"\"");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"wieght\": 5}}",
		     "sched.wieght: unknown key (expected one of: cgroup_root, cgroup_parent, "
		     "weight, io_weight, vcpu_weights, vcpu_affinity, io_affinity, adaptive, "
		     "coschedule)");
	expect_error("{\"vms\": [{\"kernel\": \"/proc/self/exe\", \"sched\": "
		     "{\"vcpu_affinity\": [[0], [\"x\"]]}}]}",
		     "vms[0].sched.vcpu_affinity[1][0]: expected an integer 0..1023, got \"x\"");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"vcpu_weights\": [1, 2]}}",
		     "sched: vcpu_weights has 2 entries for 1 vCPUs");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"io_affinity\": [1023]}}",
		     "sched.io_affinity: CPU 1023: this host has 2 CPUs");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"adaptive\": "
		     "{\"enabled\": 1}}}",
		     "sched.adaptive.enabled: expected true or false, got 1");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"coschedule\": "
		     "{\"max_skew_ms\": 0}}}",
		     "sched.coschedule.max_skew_ms: expected an integer 1..1000, got 0");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"coschedule\": "
		     "{\"boost_weight\": 10001}}}",
		     "sched.coschedule.boost_weight: expected an integer 0..10000, got 10001");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": {\"adaptive\": "
		     "{\"min_weight\": 50, \"max_weight\": 10}}}",
		     "sched: adaptive.min_weight 50 is above adaptive.max_weight 10");
	expect_error("{\"kernel\": \"/proc/self/exe\", \"sched\": []}",
		     "sched: expected an object, got an empty array");
}

#define TREE(fn) cmocka_unit_test_setup_teardown(fn, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weight_anchors),
		cmocka_unit_test(test_weight_monotonic_inverse),
		cmocka_unit_test(test_classify_raw),
		cmocka_unit_test(test_classifier_hysteresis),
		cmocka_unit_test(test_classifier_dd_trace),
		cmocka_unit_test(test_classifier_fast_and_contended),
		cmocka_unit_test(test_weight_steps),
		cmocka_unit_test(test_cosched_useful_hold),
		cmocka_unit_test(test_cosched_timeout),
		cmocka_unit_test(test_cosched_laggard_not_waiting),
		cmocka_unit_test(test_cosched_boost_keeps_bound),
		cmocka_unit_test(test_cosched_boost_vs_holds),
		cmocka_unit_test(test_cosched_boost_release),
		cmocka_unit_test(test_cosched_late_stop),
		cmocka_unit_test(test_cosched_renew_for_running_laggard),
		cmocka_unit_test(test_cosched_single_and_bound),
		cmocka_unit_test(test_cosched_spread_same_cpu),
		cmocka_unit_test(test_cosched_spread_none),
		cmocka_unit_test(test_cosched_spread_three),
		cmocka_unit_test(test_cosched_spread_release),
		cmocka_unit_test(test_cosched_spread_lifted_while_held),
		cmocka_unit_test(test_cosched_unspread_waiting),
		TREE(test_cgroup_v1_layout),
		TREE(test_cgroup_v2_layout),
		TREE(test_cgroup_errors),
		cmocka_unit_test(test_spec_sched_keys),
		cmocka_unit_test(test_spec_sched_errors),
	};

	spec_set_host_mem_mib(4096);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
