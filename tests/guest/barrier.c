/* barrier: two threads, one per CPU, meet at a spin barrier over and over
 * and report rounds per second.  A round ends only when both threads
 * reach the barrier, so the rate falls as soon as either thread stops
 * running: in a VM, when one vCPU is descheduled on the host while the
 * other spins.  Built static for the test guest's initramfs.
 *
 *   barrier [-t SECONDS] [-n ROUNDS] [-i INTERVAL_MS]
 *
 * Stops after SECONDS (default 10) or ROUNDS, whichever comes first;
 * prints "BARRIER-START", then every INTERVAL_MS (default 1000) a line
 * "BARRIER t=<s> rounds=<n> rate=<rounds/s>", then
 * "BARRIER-DONE rounds=<n> secs=<s> rate=<rounds/s>". */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct barrier {
    _Atomic unsigned arrived;
    _Atomic unsigned generation;
    _Atomic bool stop;      /* asked by main */
    _Atomic bool done;      /* decided by the opener of a generation */
};

static struct barrier bar;
static _Atomic unsigned long rounds;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sense by generation: the last of the two to arrive opens the next
 * generation; the other spins until it sees it.  The opener also decides
 * whether this was the last round, so both threads leave after the same
 * one (done cannot change before both have read it: the next opener must
 * wait for both).  Returns true when the threads should stop. */
static bool barrier_wait(struct barrier *b)
{
    unsigned gen = atomic_load_explicit(&b->generation, memory_order_acquire);

    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&rounds, 1, memory_order_relaxed);
        atomic_store_explicit(&b->done, atomic_load(&b->stop), memory_order_relaxed);
        atomic_store_explicit(&b->generation, gen + 1, memory_order_release);
    } else {
        while (atomic_load_explicit(&b->generation, memory_order_acquire) == gen)
            __builtin_ia32_pause();
    }
    return atomic_load_explicit(&b->done, memory_order_relaxed);
}

static void pin_self(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set))
        perror("barrier: sched_setaffinity");
}

static void *worker(void *arg)
{
    pin_self((int)(long)arg);
    while (!barrier_wait(&bar))
        ;
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: barrier [-t SECONDS] [-n ROUNDS] [-i INTERVAL_MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double secs = 10, t0, last_t, t;
    unsigned long max_rounds = 0, last_n = 0, n;
    long interval_ms = 1000;
    pthread_t th[2];
    int opt;

    while ((opt = getopt(argc, argv, "t:n:i:")) != -1) {
        switch (opt) {
        case 't': secs = atof(optarg); break;
        case 'n': max_rounds = strtoul(optarg, NULL, 10); break;
        case 'i': interval_ms = atol(optarg); break;
        default: usage();
        }
    }
    if (secs <= 0 || interval_ms <= 0 || optind != argc)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("BARRIER-START cpus=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    t0 = last_t = now_s();
    for (long i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i)) {
            perror("barrier: pthread_create");
            return 1;
        }
    for (;;) {
        usleep((useconds_t)(interval_ms * 1000));
        t = now_s();
        n = atomic_load(&rounds);
        printf("BARRIER t=%.2f rounds=%lu rate=%.0f\n", t - t0, n, (double)(n - last_n) / (t - last_t));
        last_t = t;
        last_n = n;
        if (t - t0 >= secs || (max_rounds && n >= max_rounds))
            break;
    }
    atomic_store(&bar.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    t = now_s();
    n = atomic_load(&rounds);
    printf("BARRIER-DONE rounds=%lu secs=%.2f rate=%.0f\n", n, t - t0, (double)n / (t - t0));
    return 0;
}
