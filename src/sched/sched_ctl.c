/* The controller thread: every tick it samples the VMs that have the
 * co-scheduler or the adaptive controller on, and acts on the decisions
 * of the pure parts (cosched.c, adaptive.c).  Also the JSON query. */
#include "sched/sched_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define TICK_IDLE_NS 50000000ull    /* nothing to do: look again this often */
#define TICK_MIN_NS   1000000ull

/* ---- co-scheduling ----------------------------------------------------------- */

/* A vCPU's boost on or off: its group's weight, its VM's and, while any
 * boost is on, the process group's (sched_thread_weight_apply). */
static void boost_apply(struct sched_vm *svm, unsigned i, bool on)
{
    struct sched_thread *t = &svm->vcpus[i].t;
    unsigned boost = on ? svm->boost_weight : 0;

    if (t->boost == boost)
        return;
    t->boost = boost;
    if (sched_thread_weight_apply(svm, t, t->weight))
        log_debug("sched: cannot %s boost %s", on ? "set" : "drop", t->group);
}

void sched_release_holds(struct sched_vm *svm)
{
    cosched_release_all(&svm->cs, sched_now_ns());
    pthread_mutex_lock(&svm->hold_lock);
    for (unsigned i = 0; i < svm->n; i++)
        atomic_store(&svm->vcpus[i].hold, false);
    pthread_cond_broadcast(&svm->hold_cond);
    pthread_mutex_unlock(&svm->hold_lock);
    for (unsigned i = 0; i < svm->n; i++) {
        boost_apply(svm, i, false);
        if (sched_vcpu_spread_apply(&svm->vcpus[i], -1))
            log_debug("sched: cannot restore the affinity of %s", svm->vcpus[i].t.group);
    }
}

/* Time on a CPU, up to date for a thread that is running now (schedstat's
 * first field lags by up to a scheduler tick): the thread's CPU clock,
 * which a thread of the same process may read. */
static int thread_cputime(pid_t tid, uint64_t *ns)
{
    clockid_t clk = (clockid_t)((~(uint32_t)tid << 3) | 6u);    /* per thread, sched */
    struct timespec ts;

    if (clock_gettime(clk, &ts))
        return -errno;
    *ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return 0;
}

/* The co-scheduler reads two /proc files per vCPU and tick: keep them open
 * and pread them (an open and a close per read cost more than the read,
 * and under emulation the controller's cost comes out of the vCPUs). */
void sched_cosched_files_close(struct sched_vm *svm)
{
    for (unsigned i = 0; svm->vcpus && i < svm->n; i++) {
        struct sched_vcpu *sv = &svm->vcpus[i];

        if (sv->schedstat_fd >= 0)
            close(sv->schedstat_fd);
        if (sv->stat_fd >= 0)
            close(sv->stat_fd);
        sv->schedstat_fd = sv->stat_fd = -1;
        sv->fd_tid = 0;
    }
}

static int proc_open(pid_t tid, const char *file)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, file);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static ssize_t proc_pread(int fd, char *buf, size_t len)
{
    ssize_t n = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;

    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static int vcpu_schedstat(struct sched_vcpu *sv, pid_t tid, uint64_t *delay)
{
    char buf[128];
    uint64_t run;

    if (sv->fd_tid != tid) {
        if (sv->schedstat_fd >= 0)
            close(sv->schedstat_fd);
        if (sv->stat_fd >= 0)
            close(sv->stat_fd);
        sv->schedstat_fd = proc_open(tid, "schedstat");
        sv->stat_fd = proc_open(tid, "stat");
        sv->fd_tid = tid;
    }
    if (proc_pread(sv->schedstat_fd, buf, sizeof(buf)) <= 0 ||
        sscanf(buf, "%" SCNu64 " %" SCNu64, &run, delay) != 2)
        return -EIO;
    return 0;
}

/* The state letter of the thread ('R', 'S'...), 0 when unknown. */
static char vcpu_state(struct sched_vcpu *sv)
{
    char buf[512], *p;

    if (proc_pread(sv->stat_fd, buf, sizeof(buf)) <= 0)
        return 0;
    p = strrchr(buf, ')');     /* the name may hold spaces and parentheses */
    return p && p[1] == ' ' ? p[2] : 0;
}

/* Progress of a vCPU: wall time since t0, less the time it waited for a
 * host CPU and the time it was held.  Running and halted time both count;
 * a vCPU that waits for its SIPI does too.  schedstat adds a runqueue
 * wait to run_delay only when the wait ends, so the wait in progress is
 * estimated from the ticks that saw the thread runnable but not running.
 * *waiting: runnable ('R') and no CPU time since the last tick. */
static uint64_t vcpu_progress(struct sched_vm *svm, struct sched_vcpu *sv, uint64_t now,
                              bool baseline, bool *waiting)
{
    uint64_t run = 0, delay = 0, held = atomic_load(&sv->held_ns), lost;
    uint64_t hold_t0 = atomic_load(&sv->hold_t0_ns);
    pid_t tid = atomic_load(&sv->t.tid);

    *waiting = false;
    if (!tid || vcpu_schedstat(sv, tid, &delay) || thread_cputime(tid, &run)) {
        delay = sv->delay0_ns;
        run = sv->last_run_ns;
    } else if (!baseline && run == sv->last_run_ns && vcpu_state(sv) == 'R') {
        *waiting = true;
    }
    if (baseline) {
        sv->delay0_ns = delay;
        sv->held0_ns = held;
    }
    sv->wait_ns = *waiting ? sv->wait_ns + (now - sv->last_tick_ns) : 0;
    sv->last_run_ns = run;
    sv->last_tick_ns = now;
    if (delay < sv->delay0_ns)
        delay = sv->delay0_ns;
    lost = (delay - sv->delay0_ns) + sv->wait_ns + (held - sv->held0_ns);
    if (hold_t0 && now > hold_t0)
        lost += now - hold_t0;          /* the hold in progress */
    return now - svm->t0_ns > lost ? now - svm->t0_ns - lost : 0;
}

static void flags_json(FILE *f, const char *key, const bool *v, unsigned n)
{
    fprintf(f, ",\"%s\":[", key);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? "," : "", v[i]);
    fputc(']', f);
}

/* The host CPU the thread ran on last (field 39 of stat), -1: unknown;
 * *state its state letter (field 3), 0: unknown. */
static int vcpu_cpu(struct sched_vcpu *sv, char *state)
{
    char buf[512], *p;
    unsigned field = 3;

    *state = 0;
    if (proc_pread(sv->stat_fd, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')) ||
        p[1] != ' ')
        return -1;
    *state = p[2];
    for (p += 2; *p && field < 39; p++)
        field += *p == ' ';
    return field == 39 ? atoi(p) : -1;
}

/* KVMM_COSCHED_TRACE: one line per tick and VM, the controller's own view
 * (and where the vCPU threads ran: whether the host kept them apart). */
static void cosched_trace(struct sched_vm *svm, const uint64_t *progress,
                          const bool *waiting, const int *cpu, unsigned n, uint64_t now)
{
    FILE *f = sched_g.cs_trace;
    bool held[COSCHED_VCPUS_MAX] = { false };

    if (!f)
        return;
    for (unsigned i = 0; i < n; i++)
        held[i] = atomic_load(&svm->vcpus[i].hold);
    fprintf(f, "{\"t_ms\":%.3f,\"vm\":\"%s\",\"on\":%s,\"skew_us\":%llu,\"progress_us\":[",
            (double)now / 1e6, svm->spec->name, svm->cosched ? "true" : "false",
            (unsigned long long)(cosched_skew(n, progress) / 1000));
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)(progress[i] / 1000));
    fputc(']', f);
    flags_json(f, "waiting", waiting, n);
    flags_json(f, "held", held, n);
    flags_json(f, "boosted", svm->cs.boosted, svm->cosched ? n : 0);
    fputs(",\"spread\":[", f);
    for (unsigned i = 0; svm->cosched && i < n; i++)
        fprintf(f, "%s%d", i ? "," : "", svm->cs.spread_from[i]);
    fputs("],\"cpu\":[", f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? "," : "", cpu[i]);
    fputs("]}\n", f);     /* flushed when full and at exit: a write per tick costs */
}

/* The co-scheduler keeps its bound only as well as its ticks keep time,
 * and its ticks are due exactly when the host's CPUs are busy: as an
 * ordinary thread it waited 5 ms (median) to 35 ms (p99) for a 2.5 ms
 * tick in the experiment.  So the controller thread asks for the lowest
 * real-time priority once co-scheduling is on, or traced (it runs for
 * microseconds per tick; without the privilege it stays as it is). */
static void ctl_realtime(void)
{
    static bool tried;
    struct sched_param sp = { .sched_priority = 1 };
    int ret;

    if (tried)
        return;
    tried = true;
    ret = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (ret)
        log_debug("sched: controller thread stays SCHED_OTHER: %s", strerror(ret));
}

/* With co-scheduling off, only the trace (observe): the same measure for
 * a run with it off as for one with it on. */
static void cosched_tick(struct sched_vm *svm, uint64_t now)
{
    uint64_t progress[COSCHED_VCPUS_MAX] = { 0 };
    bool waiting[COSCHED_VCPUS_MAX] = { false };
    int cpu[COSCHED_VCPUS_MAX], on[COSCHED_VCPUS_MAX];
    unsigned ncpus[COSCHED_VCPUS_MAX];
    char state;
    bool baseline = !svm->cs_started;
    unsigned n = svm->n < COSCHED_VCPUS_MAX ? svm->n : COSCHED_VCPUS_MAX;

    if (baseline)
        svm->t0_ns = now;
    for (unsigned i = 0; i < n; i++) {
        progress[i] = vcpu_progress(svm, &svm->vcpus[i], now, baseline, &waiting[i]);
        cpu[i] = vcpu_cpu(&svm->vcpus[i], &state);
        /* Only a runnable thread occupies its CPU: a halted vCPU does
         * not, nor a held one (its CPU is the laggard's to take). */
        on[i] = state == 'R' ? cpu[i] : -1;
        ncpus[i] = sched_vcpu_ncpus(&svm->vcpus[i]);
    }
    svm->cs_started = true;
    if (!svm->cosched) {
        cosched_trace(svm, progress, waiting, cpu, n, now);
        return;
    }
    svm->cs.can_boost = sched_g.use_cg && svm->groups && svm->boost_weight;
    for (unsigned i = 0; i < n; i++) {     /* holds start when the vCPU stops */
        uint64_t at = atomic_load(&svm->vcpus[i].hold_entered_ns);

        if (svm->cs.held[i] && at)
            cosched_hold_entered(&svm->cs, i, at);
    }
    cosched_step(&svm->cs, progress, waiting, now);
    cosched_spread(&svm->cs, progress, on, ncpus, now);
    for (unsigned i = 0; i < n; i++) {
        boost_apply(svm, i, svm->cs.boosted[i]);
        if (sched_vcpu_spread_apply(&svm->vcpus[i], svm->cs.spread_from[i]))
            log_debug("sched: cannot %s the affinity of %s",
                      svm->cs.spread_from[i] < 0 ? "restore" : "narrow", svm->vcpus[i].t.group);
    }
    for (unsigned i = 0; i < n; i++) {
        struct sched_vcpu *sv = &svm->vcpus[i];
        bool want = svm->cs.held[i];

        if (want == atomic_load(&sv->hold))
            continue;
        pthread_mutex_lock(&svm->hold_lock);
        if (want) {
            atomic_store(&sv->hold_entered_ns, 0);
            atomic_store(&sv->hold_len_ns, svm->cs.max_hold_ns);
            atomic_store(&sv->hold_until_ns,
                         now + cosched_hold_pending_ns(&svm->cs) + svm->cs.max_hold_ns);
        }
        atomic_store(&sv->hold, want);
        pthread_cond_broadcast(&svm->hold_cond);
        pthread_mutex_unlock(&svm->hold_lock);
        if (want)
            vcpu_kick(vm_vcpu(svm->vm, i));  /* holds at its next exit */
    }
    cosched_trace(svm, progress, waiting, cpu, n, now);
}

/* ---- adaptive weights -------------------------------------------------------- */

static void stat_pick(void *ctx, const char *name, uint64_t value)
{
    struct sched_sample *s = ctx;

    if (!strcmp(name, "exits"))
        s->exits = value;
    else if (!strcmp(name, "halt_exits"))
        s->halt_exits = value;
    else if (!strcmp(name, "io_exits"))
        s->io_exits = value;
    else if (!strcmp(name, "mmio_exits"))
        s->mmio_exits = value;
    else if (!strcmp(name, "halt_wait_ns"))
        s->halt_wait_ns = value;
}

static void sample_delta(const struct sched_sample *now, const struct sched_sample *prev,
                         struct sched_sample *d)
{
    d->exits = now->exits - prev->exits;
    d->halt_exits = now->halt_exits - prev->halt_exits;
    d->io_exits = now->io_exits - prev->io_exits;
    d->mmio_exits = now->mmio_exits - prev->mmio_exits;
    d->halt_wait_ns = now->halt_wait_ns - prev->halt_wait_ns;
    d->run_ns = now->run_ns - prev->run_ns;
    d->delay_ns = now->delay_ns - prev->delay_ns;
    d->dev_requests = now->dev_requests - prev->dev_requests;
    d->io_run_ns = now->io_run_ns - prev->io_run_ns;
}

/* Sums the counters named "requests" or "<unit>.requests" (device.h). */
static void requests_add(void *ctx, const char *device, const char *name, uint64_t value)
{
    size_t n = strlen(name);

    (void)device;
    if (!strcmp(name, "requests") || (n > 9 && !strcmp(name + n - 9, ".requests")))
        *(uint64_t *)ctx += value;
}

static void post_class(struct sched_vm *svm, const char *thread, enum sched_class from,
                       enum sched_class to)
{
    cJSON *d = cJSON_CreateObject();

    cJSON_AddStringToObject(d, "thread", thread);
    cJSON_AddStringToObject(d, "from", sched_class_name(from));
    cJSON_AddStringToObject(d, "to", sched_class_name(to));
    sched_post("X_SCHED_CLASS", svm->spec->name, d);
}

static void post_weight(struct sched_vm *svm, const char *thread, unsigned from, unsigned to)
{
    cJSON *d = cJSON_CreateObject();

    cJSON_AddStringToObject(d, "thread", thread);
    cJSON_AddNumberToObject(d, "from", from);
    cJSON_AddNumberToObject(d, "to", to);
    sched_post("X_SCHED_WEIGHT", svm->spec->name, d);
}

static void trace_line(struct sched_vm *svm, const char *thread, const struct sched_thread *t,
                       const struct sched_sample *d, enum sched_class raw, uint64_t now)
{
    if (!sched_g.trace)
        return;
    fprintf(sched_g.trace, "{\"t_ms\":%llu,\"vm\":\"%s\",\"thread\":\"%s\",\"raw\":\"%s\","
            "\"class\":\"%s\",\"weight\":%u,\"run_us\":%llu,\"delay_us\":%llu,\"exits\":%llu,\"io_exits\":%llu,"
            "\"mmio_exits\":%llu,\"halt_exits\":%llu,\"halt_wait_us\":%llu,\"dev_requests\":%llu,"
            "\"io_run_us\":%llu}\n",
            (unsigned long long)(now / 1000000ull), svm->spec->name, thread,
            sched_class_name(raw), sched_class_name(t->cls.label), t->weight,
            (unsigned long long)(d->run_ns / 1000), (unsigned long long)(d->delay_ns / 1000),
            (unsigned long long)d->exits,
            (unsigned long long)d->io_exits, (unsigned long long)d->mmio_exits,
            (unsigned long long)d->halt_exits, (unsigned long long)(d->halt_wait_ns / 1000),
            (unsigned long long)d->dev_requests, (unsigned long long)(d->io_run_ns / 1000));
    fflush(sched_g.trace);
}

/* One thread: sample, classify, step its weight.  vm_cur holds the VM's
 * cumulative device requests and I/O thread time. */
static void adapt_thread(struct sched_vm *svm, struct sched_thread *t, struct vcpu *vcpu,
                         const char *name, const struct sched_sample *vm_cur, uint64_t now)
{
    struct sched_sample cur = { .dev_requests = vm_cur->dev_requests,
                                .io_run_ns = vm_cur->io_run_ns }, d;
    pid_t tid = atomic_load(&t->tid);
    enum sched_class from = t->cls.label, raw;
    unsigned w;

    if (!tid || sched_schedstat(tid, &cur.run_ns, &cur.delay_ns))
        return;
    if (vcpu && vcpu_kvm_stats_read(vcpu, stat_pick, &cur))
        log_debug("sched: %s: no KVM stats", name);
    if (vcpu) {
        /* Port and MMIO exits to userspace: kvmm's own counts, which every
         * KVM keeps (kvm_pvm's io_exits stays 0); read racily, as a sample. */
        cur.io_exits = __atomic_load_n(&vcpu->stats.io_exits, __ATOMIC_RELAXED);
        cur.mmio_exits = __atomic_load_n(&vcpu->stats.mmio_exits, __ATOMIC_RELAXED);
    }
    if (!t->have_prev) {
        t->prev = cur;
        t->have_prev = true;
        return;
    }
    sample_delta(&cur, &t->prev, &d);
    t->prev = cur;
    if (vcpu) {
        raw = sched_classify(&d, svm->period_ns);
        if (sched_classifier_feed(&t->cls, &d, svm->period_ns, SCHED_CONFIRM)) {
            svm->class_changes++;
            post_class(svm, name, from, t->cls.label);
        }
    } else {
        raw = sched_classify_io_thread(d.run_ns, svm->period_ns);
        t->cls.label = raw;     /* the thread's own CPU time: no noise to smooth */
    }
    w = sched_weight_step(t->weight, sched_weight_target(t->base_weight, t->cls.label,
                                                         &svm->bounds), &svm->bounds);
    if (w != t->weight) {
        unsigned old = t->weight;

        if (!sched_thread_weight_apply(svm, t, w)) {
            svm->weight_changes++;
            post_weight(svm, name, old, w);
        }
    }
    trace_line(svm, name, t, &d, raw, now);
}

static void adapt_tick(struct sched_vm *svm, uint64_t now)
{
    struct sched_sample vm_cur = { 0 };
    pid_t io_tid = atomic_load(&svm->io.tid);
    uint64_t delay;
    char name[16];

    vm_device_counters(svm->vm, requests_add, &vm_cur.dev_requests);
    if (io_tid && sched_schedstat(io_tid, &vm_cur.io_run_ns, &delay))
        vm_cur.io_run_ns = svm->io.prev.run_ns;     /* gone: no new work */
    for (unsigned i = 0; i < svm->n; i++) {
        snprintf(name, sizeof(name), "vcpu%u", i);
        adapt_thread(svm, &svm->vcpus[i].t, vm_vcpu(svm->vm, i), name, &vm_cur, now);
    }
    adapt_thread(svm, &svm->io, NULL, "io", &vm_cur, now);
}

/* ---- the loop ------------------------------------------------------------------ */

static uint64_t vm_tick(struct sched_vm *svm, uint64_t now)
{
    uint64_t next = TICK_IDLE_NS, t;

    if (!svm->vm || vm_stopping(svm->vm) || vm_paused(svm->vm))
        return next;
    if (svm->cosched || sched_g.cs_trace) {
        ctl_realtime();
        cosched_tick(svm, now);
        t = svm->cs.max_skew_ns / 4;
        next = t < TICK_MIN_NS ? TICK_MIN_NS : t < next ? t : next;
    }
    if (svm->adaptive) {
        if (now >= svm->next_adapt_ns) {
            adapt_tick(svm, now);
            svm->next_adapt_ns = now + svm->period_ns;
        }
        t = svm->next_adapt_ns - now;
        next = t < next ? t : next;
    }
    return next;
}

void *sched_ctl_thread(void *arg)
{
    pthread_setname_np(pthread_self(), "sched");
    while (!atomic_load(&sched_g.quit)) {
        uint64_t now = sched_now_ns(), sleep_ns = TICK_IDLE_NS;
        struct timespec ts;

        pthread_mutex_lock(&sched_g.lock);
        for (size_t i = 0; i < sched_g.nvms; i++) {
            uint64_t t = vm_tick(&sched_g.vms[i], now);

            sleep_ns = t < sleep_ns ? t : sleep_ns;
        }
        if (!atomic_load(&sched_g.quit)) {
            uint64_t until = sched_now_ns() + sleep_ns;

            ts.tv_sec = (time_t)(until / 1000000000ull);
            ts.tv_nsec = (long)(until % 1000000000ull);
            pthread_cond_timedwait(&sched_g.wake, &sched_g.lock, &ts);
        }
        pthread_mutex_unlock(&sched_g.lock);
    }
    return NULL;
}

/* ---- query ----------------------------------------------------------------------- */

static cJSON *mask_json(const uint64_t *mask)
{
    cJSON *a = cJSON_CreateArray();

    for (unsigned c = 0; c < SPEC_CPUS_MAX; c++)
        if (mask[c / 64] & (1ull << (c % 64)))
            cJSON_AddItemToArray(a, cJSON_CreateNumber(c));
    return a;
}

static cJSON *thread_json(const struct sched_thread *t)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "tid", atomic_load(&t->tid));
    cJSON_AddStringToObject(o, "cgroup", sched_g.use_cg ? t->group : "");
    cJSON_AddItemToObject(o, "affinity", mask_json(t->mask));
    cJSON_AddNumberToObject(o, "base_weight", t->base_weight);
    cJSON_AddNumberToObject(o, "weight", t->weight);
    cJSON_AddStringToObject(o, "class", sched_class_name(t->cls.label));
    return o;
}

static cJSON *cosched_json(const struct sched_vm *svm)
{
    const struct cosched *c = &svm->cs;
    cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateArray();
    uint64_t now = sched_now_ns(), held = c->held_ns, boosted = c->boosted_ns;

    for (unsigned i = 0; i < c->n; i++)        /* the holds and boost in progress */
        held += c->held[i] && c->stopped[i] && now > c->stopped_at[i] ?
                now - c->stopped_at[i] : 0;
    boosted += c->n && c->boosted[0] ? now - c->boost_since : 0;

    cJSON_AddBoolToObject(o, "enabled", svm->cosched);
    cJSON_AddNumberToObject(o, "max_skew_ms", (double)c->max_skew_ns / 1e6);
    cJSON_AddNumberToObject(o, "samples", (double)c->samples);
    cJSON_AddNumberToObject(o, "costops", (double)c->costops);
    cJSON_AddNumberToObject(o, "useful", (double)c->useful);
    cJSON_AddNumberToObject(o, "timeouts", (double)c->timeouts);
    cJSON_AddNumberToObject(o, "lapsed", (double)c->lapsed);
    cJSON_AddNumberToObject(o, "renewals", (double)c->renewals);
    cJSON_AddNumberToObject(o, "skipped", (double)c->skipped);
    cJSON_AddNumberToObject(o, "max_skew_seen_ms", (double)c->max_skew_seen_ns / 1e6);
    cJSON_AddNumberToObject(o, "held_ms", (double)held / 1e6);
    cJSON_AddNumberToObject(o, "boost_weight", svm->boost_weight);
    cJSON_AddBoolToObject(o, "boost", sched_g.use_cg && svm->groups && svm->boost_weight);
    cJSON_AddBoolToObject(o, "cgroups", sched_g.use_cg && svm->groups);
    cJSON_AddNumberToObject(o, "boosts", (double)c->boosts);
    cJSON_AddNumberToObject(o, "boosted_ms", (double)boosted / 1e6);
    cJSON_AddNumberToObject(o, "spreads", (double)c->spreads);
    cJSON_AddNumberToObject(o, "unspreads", (double)c->unspreads);
    for (unsigned i = 0; i < COSCHED_HIST_BUCKETS; i++) {
        cJSON *b = cJSON_CreateObject();

        if (cosched_hist_bound_ms(i))
            cJSON_AddNumberToObject(b, "below_ms", cosched_hist_bound_ms(i));
        else
            cJSON_AddNullToObject(b, "below_ms");
        cJSON_AddNumberToObject(b, "count", (double)c->skew_hist[i]);
        cJSON_AddItemToArray(h, b);
    }
    cJSON_AddItemToObject(o, "skew_histogram", h);
    return o;
}

static cJSON *vm_json(const struct sched_vm *svm)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateObject(), *v = cJSON_CreateArray();

    cJSON_AddStringToObject(o, "name", svm->spec->name);
    cJSON_AddBoolToObject(o, "running", svm->vm != NULL);
    cJSON_AddBoolToObject(a, "enabled", svm->adaptive);
    cJSON_AddNumberToObject(a, "period_ms", (double)svm->period_ns / 1e6);
    cJSON_AddNumberToObject(a, "min_weight", svm->bounds.min_weight);
    cJSON_AddNumberToObject(a, "max_weight", svm->bounds.max_weight);
    cJSON_AddNumberToObject(a, "class_changes", (double)svm->class_changes);
    cJSON_AddNumberToObject(a, "weight_changes", (double)svm->weight_changes);
    cJSON_AddItemToObject(o, "adaptive", a);
    cJSON_AddItemToObject(o, "coschedule", cosched_json(svm));
    for (unsigned i = 0; i < svm->n; i++) {
        cJSON *t = thread_json(&svm->vcpus[i].t);

        cJSON_AddNumberToObject(t, "index", i);
        cJSON_AddBoolToObject(t, "held", atomic_load(&svm->vcpus[i].hold));
        cJSON_AddBoolToObject(t, "boosted", svm->vcpus[i].t.boost != 0);
        cJSON_AddNumberToObject(t, "holds", (double)atomic_load(&svm->vcpus[i].holds));
        cJSON_AddNumberToObject(t, "held_ms", (double)atomic_load(&svm->vcpus[i].held_ns) / 1e6);
        cJSON_AddItemToArray(v, t);
    }
    cJSON_AddItemToObject(o, "vcpus", v);
    cJSON_AddItemToObject(o, "io", thread_json(&svm->io));
    return o;
}

char *sched_query_json(const char *vm)
{
    cJSON *root = cJSON_CreateObject(), *vms = cJSON_CreateArray();
    char *out = NULL;
    bool found = !vm;

    pthread_mutex_lock(&sched_g.lock);
    cJSON_AddStringToObject(root, "cgroup_layout",
                            sched_g.use_cg ? cg_layout_name(sched_g.cg.layout) : "none");
    if (sched_g.use_cg) {
        char path[PATH_MAX + 40];

        snprintf(path, sizeof(path), "%s/%s", sched_g.cg.cpu_dir, sched_g.cg.name);
        cJSON_AddStringToObject(root, "cgroup", path);
    }
    for (size_t i = 0; i < sched_g.nvms; i++) {
        if (vm && strcmp(vm, sched_g.vms[i].spec->name))
            continue;
        found = true;
        cJSON_AddItemToArray(vms, vm_json(&sched_g.vms[i]));
    }
    pthread_mutex_unlock(&sched_g.lock);
    cJSON_AddItemToObject(root, "vms", vms);
    if (found)
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
