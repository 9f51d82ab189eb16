/* Adaptive weights: the classifier and the weight update (adaptive.h). */
#include "sched/adaptive.h"

#include "sched/weight.h"

static const char *const class_names[] = {
    [SCHED_CLASS_IDLE] = "idle", [SCHED_CLASS_CPU] = "cpu", [SCHED_CLASS_IO] = "io",
};

const char *sched_class_name(enum sched_class c)
{
    return (unsigned)c < 3 ? class_names[c] : "unknown";
}

/* count per second over period_ns, saturating */
static uint64_t per_second(uint64_t count, uint64_t period_ns)
{
    if (!period_ns)
        return 0;
    if (count > UINT64_MAX / 1000000000ull)
        return UINT64_MAX;
    return count * 1000000000ull / period_ns;
}

/* The VM's devices are busy: they handled requests at a steady rate, or
 * its I/O thread worked a good share of the period (a device without
 * counters, or requests that take long). */
static bool vm_devices_busy(const struct sched_sample *d, uint64_t period_ns)
{
    return per_second(d->dev_requests, period_ns) >= SCHED_DEV_REQ_RATE ||
           d->io_run_ns * 100 >= (uint64_t)SCHED_IO_THREAD_PCT * period_ns;
}

/* A vCPU waiting on device completions halts often and spends a share of
 * the period waiting, while its VM's devices work.  Halts alone are not
 * I/O (an idle guest's timer wakes it up too), nor is device work alone
 * (a sibling vCPU may be the one doing it, while this one computes).
 * Waiting is halted time plus time runnable without a host CPU: under
 * contention the completion interrupt wakes the vCPU but another thread
 * holds the CPU, so the wait for the device turns into a wait for the
 * CPU, and the more the vCPU is starved the less it shows as halted.
 * A vCPU that halts hundreds of times a second while its devices work
 * waits on them however short each wait is: a fast device completes a
 * request in less time than the guest spends issuing it. */
static bool vcpu_waits_on_devices(const struct sched_sample *d, uint64_t period_ns)
{
    uint64_t halts = per_second(d->halt_exits, period_ns);
    bool waits = (d->halt_wait_ns + d->delay_ns) * 100 >= (uint64_t)SCHED_HALT_WAIT_PCT * period_ns;

    return halts >= SCHED_HALT_RATE && (waits || halts >= SCHED_HALT_RATE_FAST) &&
           vm_devices_busy(d, period_ns);
}

/* Exits that wait on a device (port I/O, MMIO), or halts that wait on
 * device completions, mark an I/O-bound vCPU, however busy it is: it
 * gives the CPU back quickly when it runs.  Otherwise a vCPU that was
 * runnable (running, or waiting for a host CPU: under contention it gets
 * less than it asks for) for most of the period is CPU-bound, and one
 * that was not is idle. */
enum sched_class sched_classify(const struct sched_sample *d, uint64_t period_ns)
{
    uint64_t io_rate = per_second(d->io_exits + d->mmio_exits, period_ns);

    if (!period_ns)
        return SCHED_CLASS_IDLE;
    if (io_rate >= SCHED_IO_EXIT_RATE || vcpu_waits_on_devices(d, period_ns))
        return SCHED_CLASS_IO;
    if ((d->run_ns + d->delay_ns) * 100 >= (uint64_t)SCHED_CPU_UTIL_PCT * period_ns)
        return SCHED_CLASS_CPU;
    return SCHED_CLASS_IDLE;
}

bool sched_sample_decisive(const struct sched_sample *d, uint64_t period_ns, enum sched_class c)
{
    if (!period_ns)
        return false;
    switch (c) {
    case SCHED_CLASS_IO:
        return per_second(d->io_exits + d->mmio_exits, period_ns) >= SCHED_IO_EXIT_RATE ||
               (per_second(d->halt_exits, period_ns) >= SCHED_HALT_RATE_FAST && vm_devices_busy(d, period_ns));
    case SCHED_CLASS_CPU:
        return !d->halt_exits &&
               (d->run_ns + d->delay_ns) * 100 >= (uint64_t)SCHED_CPU_DECISIVE_PCT * period_ns;
    default:
        return false;
    }
}

/* Hysteresis: a class that differs from the label must persist `confirm`
 * periods, so one noisy period changes nothing; a decisive period is no
 * noise and changes the label at once, so a phase change shows in the
 * label within two periods even when the first, partial one is mixed. */
bool sched_classifier_feed(struct sched_classifier *c, const struct sched_sample *d,
                           uint64_t period_ns, unsigned confirm)
{
    enum sched_class now = sched_classify(d, period_ns);

    if (now == c->label) {
        c->candidate = now;
        c->streak = 0;
        return false;
    }
    if (now == c->candidate) {
        c->streak++;
    } else {
        c->candidate = now;
        c->streak = 1;
    }
    if (c->streak < (confirm ? confirm : 1) && !sched_sample_decisive(d, period_ns, now))
        return false;
    c->label = now;
    c->streak = 0;
    return true;
}

static unsigned clamp_bounds(unsigned v, const struct sched_bounds *b)
{
    unsigned lo = b->min_weight ? b->min_weight : SCHED_WEIGHT_MIN;
    unsigned hi = b->max_weight >= lo ? b->max_weight : lo;

    return v < lo ? lo : v > hi ? hi : v;
}

unsigned sched_weight_target(unsigned base, enum sched_class c, const struct sched_bounds *b)
{
    switch (c) {
    case SCHED_CLASS_IO:
        return clamp_bounds(base > SCHED_WEIGHT_MAX / 4 ? SCHED_WEIGHT_MAX : base * 4, b);
    case SCHED_CLASS_CPU:
        return clamp_bounds(base / 2, b);
    default:
        return clamp_bounds(base, b);
    }
}

unsigned sched_weight_step(unsigned cur, unsigned target, const struct sched_bounds *b)
{
    unsigned next;

    if (cur > target)
        next = cur - target <= 1 ? target : cur - (cur - target) * 3 / 4;
    else
        next = target - cur <= 1 ? target : cur + (target - cur) * 3 / 4;
    return clamp_bounds(next, b);
}

enum sched_class sched_classify_io_thread(uint64_t run_ns, uint64_t period_ns)
{
    if (!period_ns)
        return SCHED_CLASS_IDLE;
    return run_ns * 100 >= (uint64_t)SCHED_IO_THREAD_PCT * period_ns ? SCHED_CLASS_IO
                                                                     : SCHED_CLASS_IDLE;
}
