/* The process-wide scheduler: set-up from the spec, the threads' own
 * placement, the hold point, and the runtime calls (sched.h). */
#include "sched/sched_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched/weight.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

struct sched sched_g = { .lock = PTHREAD_MUTEX_INITIALIZER };

uint64_t sched_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sched_schedstat(pid_t tid, uint64_t *run_ns, uint64_t *delay_ns)
{
    char path[64];
    unsigned long long run, delay;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
    f = fopen(path, "re");
    if (!f)
        return -errno;
    n = fscanf(f, "%llu %llu", &run, &delay);
    fclose(f);
    if (n != 2)
        return -EIO;
    *run_ns = run;
    *delay_ns = delay;
    return 0;
}

char sched_thread_state(pid_t tid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');     /* the name may hold spaces and parentheses */
    return p && p[1] == ' ' ? p[2] : 0;
}

struct sched_vm *sched_vm_find(const char *name)
{
    for (size_t i = 0; i < sched_g.nvms; i++)
        if (name && !strcmp(sched_g.vms[i].spec->name, name))
            return &sched_g.vms[i];
    return NULL;
}

void sched_post(const char *name, const char *vm, struct cJSON *data)
{
    if (sched_g.event)
        sched_g.event(name, vm, data);
    else
        cJSON_Delete(data);
}

void sched_set_event_cb(sched_event_fn fn)
{
    pthread_mutex_lock(&sched_g.lock);
    sched_g.event = fn;
    pthread_mutex_unlock(&sched_g.lock);
}

/* ---- set-up ------------------------------------------------------------- */

static bool mask_empty(const uint64_t *mask)
{
    for (unsigned i = 0; i < SPEC_CPU_WORDS; i++)
        if (mask[i])
            return false;
    return true;
}

/* "0-1,3" */
static void mask_format(const uint64_t *mask, char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    for (unsigned c = 0; c < SPEC_CPUS_MAX && n < len; c++) {
        unsigned e = c;

        if (!(mask[c / 64] & (1ull << (c % 64))))
            continue;
        while (e + 1 < SPEC_CPUS_MAX && (mask[(e + 1) / 64] & (1ull << ((e + 1) % 64))))
            e++;
        n += (size_t)snprintf(buf + n, len - n, e > c ? "%s%u-%u" : "%s%u", n ? "," : "", c, e);
        c = e;
    }
}

/* Groups the VM cannot run without (an error when they cannot be made). */
static bool vm_needs_cgroup(const struct spec_sched *s)
{
    return s->weight || s->io_weight || s->vcpu_weights || s->cgroup_parent ||
           s->cgroup_root || s->adaptive;
}

/* Groups for co-scheduling's catch-up boosts: without them it holds only. */
static bool vm_wants_cgroup(const struct spec_sched *s)
{
    return vm_needs_cgroup(s) || (s->coschedule && s->boost_weight);
}

/* Every VM naming a root or a parent names the same one. */
static int cg_place_pick(const struct kvmm_spec *spec, const char **root, const char **parent,
                         char *err, size_t errlen)
{
    *root = *parent = NULL;
    for (size_t i = 0; i < spec->nvms; i++) {
        const struct spec_sched *s = &spec->vms[i].sched;

        if (s->cgroup_root && *root && strcmp(s->cgroup_root, *root)) {
            snprintf(err, errlen, "vms[%zu].sched.cgroup_root: differs from an earlier VM's "
                     "(one hierarchy per process)", i);
            return -EINVAL;
        }
        if (s->cgroup_parent && *parent && strcmp(s->cgroup_parent, *parent)) {
            snprintf(err, errlen, "vms[%zu].sched.cgroup_parent: differs from an earlier "
                     "VM's (one hierarchy per process)", i);
            return -EINVAL;
        }
        *root = s->cgroup_root ? s->cgroup_root : *root;
        *parent = s->cgroup_parent ? s->cgroup_parent : *parent;
    }
    return 0;
}

static void thread_init(struct sched_thread *t, const char *group, unsigned weight,
                        const uint64_t *mask)
{
    snprintf(t->group, sizeof(t->group), "%s", group);
    t->base_weight = t->weight = weight;
    if (mask)
        memcpy(t->mask, mask, sizeof(t->mask));
}

static int svm_init(struct sched_vm *svm, const struct vm_spec *spec)
{
    const struct spec_sched *s = &spec->sched;
    unsigned base = s->weight ? s->weight : SCHED_WEIGHT_DEFAULT;
    pthread_condattr_t ca;
    char group[96];

    svm->spec = spec;
    svm->n = spec->vcpus;
    svm->vcpus = calloc(svm->n, sizeof(*svm->vcpus));
    if (!svm->vcpus)
        return -ENOMEM;
    for (unsigned i = 0; i < svm->n; i++) {
        struct sched_vcpu *sv = &svm->vcpus[i];

        sv->svm = svm;
        sv->index = i;
        sv->schedstat_fd = sv->stat_fd = -1;
        sv->spread_cpu = -1;
        snprintf(group, sizeof(group), "%s/vcpu%u", spec->name, i);
        thread_init(&sv->t, group, s->vcpu_weights ? s->vcpu_weights[i] : base,
                    s->vcpu_affinity ? s->vcpu_affinity[i] : NULL);
    }
    snprintf(group, sizeof(group), "%s/io", spec->name);
    thread_init(&svm->io, group, s->io_weight ? s->io_weight : base, s->io_affinity);
    svm->adaptive = s->adaptive;
    svm->cosched = s->coschedule;
    svm->period_ns = (uint64_t)s->period_ms * 1000000ull;
    svm->bounds.min_weight = s->min_weight ? s->min_weight : (base / 8 ? base / 8 : 1);
    svm->bounds.max_weight = s->max_weight ? s->max_weight
                                           : (base * 8 < SCHED_WEIGHT_MAX ? base * 8 : SCHED_WEIGHT_MAX);
    cosched_init(&svm->cs, svm->n, (uint64_t)s->max_skew_ms * 1000000ull);
    svm->boost_weight = s->boost_weight;
    pthread_mutex_init(&svm->hold_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* deadlines: sched_now_ns() */
    pthread_cond_init(&svm->hold_cond, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

static unsigned thread_weight_eff(const struct sched_thread *t)
{
    return t->boost > t->weight ? t->boost : t->weight;
}

static unsigned vm_weight_sum(const struct sched_vm *svm, bool *boosted)
{
    unsigned sum = thread_weight_eff(&svm->io);

    for (unsigned i = 0; i < svm->n; i++) {
        sum += thread_weight_eff(&svm->vcpus[i].t);
        *boosted |= svm->vcpus[i].t.boost != 0;
    }
    return sum < SCHED_WEIGHT_MAX ? sum : SCHED_WEIGHT_MAX;
}

/* kvmm-<pid> competes with the host's other threads at the default weight;
 * while a vCPU is boosted it weighs the sum of its VM groups, or the boost
 * would stop at the process's own group (a laggard must win its CPU
 * against a foreign thread, not only against its siblings). */
static int proc_weight_sync(void)
{
    unsigned sum = 0, w;
    bool boosted = false;

    for (size_t i = 0; i < sched_g.nvms; i++)
        if (sched_g.vms[i].groups)
            sum += vm_weight_sum(&sched_g.vms[i], &boosted);
    w = !boosted ? SCHED_WEIGHT_DEFAULT : sum < SCHED_WEIGHT_MAX ? sum : SCHED_WEIGHT_MAX;
    if (w == (sched_g.proc_weight ? sched_g.proc_weight : SCHED_WEIGHT_DEFAULT))
        return 0;
    if (cg_weight_set(&sched_g.cg, "", w))
        return -EIO;
    sched_g.proc_weight = w;
    return 0;
}

static int vm_weight_sync(struct sched_vm *svm)
{
    bool boosted = false;
    int ret = cg_weight_set(&sched_g.cg, svm->spec->name, vm_weight_sum(svm, &boosted));

    return ret ? ret : proc_weight_sync();
}

/* kvmm-<pid>/<vm>/{vcpuN,io}, each with its weight (and v1 cpuset). */
static int svm_groups_create(struct sched_vm *svm, char *err, size_t errlen)
{
    int ret = cg_group_create(&sched_g.cg, svm->spec->name, err, errlen);

    for (unsigned i = 0; !ret && i <= svm->n; i++) {
        struct sched_thread *t = i < svm->n ? &svm->vcpus[i].t : &svm->io;

        ret = cg_group_create(&sched_g.cg, t->group, err, errlen);
        if (!ret && cg_weight_set(&sched_g.cg, t->group, t->weight)) {
            snprintf(err, errlen, "cannot set the weight of cgroup %s", t->group);
            ret = -EIO;
        }
    }
    if (!ret && vm_weight_sync(svm)) {
        snprintf(err, errlen, "cannot set the weight of cgroup %s", svm->spec->name);
        ret = -EIO;
    }
    svm->groups = !ret;
    return ret;
}

static int sched_cgroups_init(const struct kvmm_spec *spec, char *err, size_t errlen)
{
    const char *root, *parent;
    unsigned stale;
    int ret = cg_place_pick(spec, &root, &parent, err, errlen);

    if (ret)
        return ret;
    ret = cg_open(&sched_g.cg, root, parent, err, errlen);
    if (ret)
        return ret;
    stale = cg_clean_stale(&sched_g.cg);
    if (stale)
        log_info("sched: removed %u stale cgroup(s) of dead kvmm processes", stale);
    ret = cg_proc_create(&sched_g.cg, getpid(), err, errlen);
    if (ret)
        return ret;
    sched_g.use_cg = true;
    for (size_t i = 0; !ret && i < sched_g.nvms; i++)
        if (vm_wants_cgroup(&spec->vms[i].sched))
            ret = svm_groups_create(&sched_g.vms[i], err, errlen);
    return ret;
}

/* Only co-scheduling's boosts wanted the groups: go on without them. */
static void sched_cgroups_forgo(const char *why)
{
    log_warn("sched: co-scheduling without catch-up boosts (holds only): %s", why);
    if (sched_g.cg.created)
        cg_proc_destroy(&sched_g.cg);
    sched_g.use_cg = false;
    for (size_t i = 0; i < sched_g.nvms; i++)
        sched_g.vms[i].groups = false;
}

int sched_init(const struct kvmm_spec *spec, char *err, size_t errlen)
{
    const char *trace = getenv("KVMM_SCHED_TRACE");
    sigset_t all, old;
    bool want_cg = false, need_cg = false;
    int ret;

    sched_g.vms = calloc(spec->nvms, sizeof(*sched_g.vms));
    if (!sched_g.vms)
        return -ENOMEM;
    sched_g.nvms = spec->nvms;
    for (size_t i = 0; i < spec->nvms; i++) {
        if (svm_init(&sched_g.vms[i], &spec->vms[i]))
            return -ENOMEM;
        want_cg |= vm_wants_cgroup(&spec->vms[i].sched);
        need_cg |= vm_needs_cgroup(&spec->vms[i].sched);
    }
    if (want_cg) {
        ret = sched_cgroups_init(spec, err, errlen);
        if (ret && need_cg) {
            sched_fini();
            return ret;
        }
        if (ret)
            sched_cgroups_forgo(err);
    }
    if (trace && *trace && !(sched_g.trace = fopen(trace, "we")))
        log_err("sched: cannot open %s: %s", trace, strerror(errno));
    trace = getenv("KVMM_COSCHED_TRACE");
    if (trace && *trace && !(sched_g.cs_trace = fopen(trace, "we")))
        log_err("sched: cannot open %s: %s", trace, strerror(errno));
    atomic_store(&sched_g.quit, false);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sched_g.wake, &ca);
        pthread_condattr_destroy(&ca);
    }
    /* Signals are for the threads that wait for them, not for this one
     * (it may start before the process blocks its termination signals). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    sched_g.thread_started = !pthread_create(&sched_g.thread, NULL, sched_ctl_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

void sched_fini(void)
{
    if (sched_g.thread_started) {
        /* Wake the controller at once: exit must not wait out its tick. */
        pthread_mutex_lock(&sched_g.lock);
        atomic_store(&sched_g.quit, true);
        pthread_cond_signal(&sched_g.wake);
        pthread_mutex_unlock(&sched_g.lock);
        pthread_join(sched_g.thread, NULL);
        sched_g.thread_started = false;
        pthread_cond_destroy(&sched_g.wake);
    }
    if (sched_g.use_cg)
        cg_proc_destroy(&sched_g.cg);
    sched_g.use_cg = false;
    for (size_t i = 0; i < sched_g.nvms; i++) {
        sched_cosched_files_close(&sched_g.vms[i]);
        free(sched_g.vms[i].vcpus);
        pthread_mutex_destroy(&sched_g.vms[i].hold_lock);
        pthread_cond_destroy(&sched_g.vms[i].hold_cond);
    }
    free(sched_g.vms);
    sched_g.vms = NULL;
    sched_g.nvms = 0;
    if (sched_g.trace)
        fclose(sched_g.trace);
    sched_g.trace = NULL;
    if (sched_g.cs_trace)
        fclose(sched_g.cs_trace);
    sched_g.cs_trace = NULL;
    sched_g.proc_weight = 0;
}

/* ---- instances and threads ----------------------------------------------- */

static struct sched_vm *svm_of(const struct vm *vm)
{
    for (size_t i = 0; i < sched_g.nvms; i++)
        if (sched_g.vms[i].spec == vm_spec(vm))
            return &sched_g.vms[i];
    return NULL;
}

void sched_vm_attach(struct vm *vm)
{
    struct sched_vm *svm;

    pthread_mutex_lock(&sched_g.lock);
    svm = svm_of(vm);
    if (svm) {
        svm->vm = vm;
        for (unsigned i = 0; i < svm->n && i < vm_ncpus(vm); i++) {
            atomic_store(&svm->vcpus[i].t.tid, 0);
            svm->vcpus[i].t.have_prev = false;
            vm_vcpu(vm, i)->sched = &svm->vcpus[i];
        }
        atomic_store(&svm->io.tid, 0);
        svm->io.have_prev = false;
        svm->cs_started = false;
    }
    pthread_mutex_unlock(&sched_g.lock);
}

void sched_vm_detach(struct vm *vm)
{
    struct sched_vm *svm;

    pthread_mutex_lock(&sched_g.lock);
    svm = svm_of(vm);
    if (svm && svm->vm == vm) {
        svm->vm = NULL;
        sched_release_holds(svm);
    }
    pthread_mutex_unlock(&sched_g.lock);
}

static int thread_pin(pid_t tid, const uint64_t *mask)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    for (unsigned c = 0; c < SPEC_CPUS_MAX && c < CPU_SETSIZE; c++)
        if (mask[c / 64] & (1ull << (c % 64)))
            CPU_SET(c, &set);
    return sched_setaffinity(tid, sizeof(set), &set) ? -errno : 0;
}

/* Affinity and cgroup of one thread; under sched_g.lock. */
static int thread_place(struct sched_thread *t, pid_t tid, const char **what)
{
    char cpus[256];
    int ret = 0;

    if (!mask_empty(t->mask)) {
        *what = "set CPU affinity";
        ret = thread_pin(tid, t->mask);
        mask_format(t->mask, cpus, sizeof(cpus));
        if (!ret && sched_g.use_cg && cg_cpus_set(&sched_g.cg, t->group, cpus))
            log_debug("sched: cpuset %s for %s not set", cpus, t->group);
    }
    if (!ret && sched_g.use_cg) {
        *what = "join its cgroup";
        ret = cg_thread_attach(&sched_g.cg, t->group, tid);
    }
    if (!ret)
        atomic_store(&t->tid, tid);
    return ret;
}

/* An unpinned thread's own mask: what it inherited (all the CPUs the
 * process may use), for co-scheduling's spreads to narrow and restore. */
static void start_mask_read(uint64_t *mask)
{
    cpu_set_t set;

    memset(mask, 0, SPEC_CPU_WORDS * sizeof(*mask));
    if (sched_getaffinity(0, sizeof(set), &set))
        return;
    for (unsigned c = 0; c < SPEC_CPUS_MAX && c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            mask[c / 64] |= 1ull << (c % 64);
}

void sched_vcpu_thread_start(struct vcpu *vcpu)
{
    struct sched_vcpu *sv = vcpu->sched;
    const char *what = "";
    int ret;

    if (!sv)
        return;
    pthread_mutex_lock(&sched_g.lock);
    ret = thread_place(&sv->t, gettid(), &what);
    start_mask_read(sv->start_mask);
    sv->spread_cpu = -1;
    pthread_mutex_unlock(&sched_g.lock);
    if (ret)
        vm_request_stop(vcpu->vm, VM_STOP_INTERNAL_ERROR, 1, "vcpu%u: cannot %s (%s): %s",
                        vcpu->index, what, sv->t.group, strerror(-ret));
}

void sched_io_thread_start(struct vm *vm)
{
    struct sched_vm *svm;
    const char *what = "";
    int ret = 0;

    pthread_mutex_lock(&sched_g.lock);
    svm = svm_of(vm);
    if (svm)
        ret = thread_place(&svm->io, gettid(), &what);
    pthread_mutex_unlock(&sched_g.lock);
    if (ret)
        vm_request_stop(vm, VM_STOP_INTERNAL_ERROR, 1, "I/O thread: cannot %s (%s): %s",
                        what, svm->io.group, strerror(-ret));
}

#define HOLD_SLICE_NS 5000000ull    /* re-check pause and stop this often */

/* Sleep (never spin) while the co-scheduler holds this vCPU: its host CPU
 * goes idle, so the host can run a waiting sibling there.  The hold ends
 * when the controller releases it, hold_len after the vCPU first stopped
 * for it, or at its deadline, whichever is first, so a slow controller
 * cannot stretch it; the controller times the hold from that first stop
 * too (cosched_hold_entered). */
void sched_vcpu_hold_point(struct vcpu *vcpu)
{
    struct sched_vcpu *sv = vcpu->sched;
    struct sched_vm *svm;
    uint64_t t0, until, now, first = 0;

    if (!sv || !atomic_load(&sv->hold))
        return;
    svm = sv->svm;
    t0 = now = sched_now_ns();
    if (!atomic_compare_exchange_strong(&sv->hold_entered_ns, &first, now))
        t0 = first;             /* back for a hold it already began */
    until = atomic_load(&sv->hold_until_ns);
    t0 += atomic_load(&sv->hold_len_ns);
    if (t0 < until)
        until = t0;
    if (now >= until)
        return;
    t0 = now;
    atomic_fetch_add(&sv->holds, 1);
    atomic_store(&sv->hold_t0_ns, t0);
    pthread_mutex_lock(&svm->hold_lock);
    while (atomic_load(&sv->hold) && now < until && !vm_stopping(vcpu->vm) &&
           !vm_paused(vcpu->vm)) {
        uint64_t wake = until - now < HOLD_SLICE_NS ? until : now + HOLD_SLICE_NS;
        struct timespec ts = { .tv_sec = (time_t)(wake / 1000000000ull),
                               .tv_nsec = (long)(wake % 1000000000ull) };

        pthread_cond_timedwait(&svm->hold_cond, &svm->hold_lock, &ts);
        now = sched_now_ns();
    }
    pthread_mutex_unlock(&svm->hold_lock);
    atomic_fetch_add(&sv->held_ns, sched_now_ns() - t0);
    atomic_store(&sv->hold_t0_ns, 0);
}

/* ---- runtime calls --------------------------------------------------------- */

static int thread_set_mask(struct sched_thread *t, const uint64_t *mask)
{
    pid_t tid = atomic_load(&t->tid);
    char cpus[256];
    int ret = 0;

    if (!mask || mask_empty(mask))
        return -EINVAL;
    if (tid)
        ret = thread_pin(tid, mask);
    if (ret)
        return ret;
    memcpy(t->mask, mask, sizeof(t->mask));
    mask_format(mask, cpus, sizeof(cpus));
    if (sched_g.use_cg && cg_cpus_set(&sched_g.cg, t->group, cpus))
        log_debug("sched: cpuset %s for %s not set", cpus, t->group);
    return 0;
}

int sched_set_vcpu_affinity(const char *vm, unsigned vcpu, const uint64_t *mask)
{
    struct sched_vm *svm;
    int ret;

    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    ret = !svm ? -ENOENT : vcpu >= svm->n ? -ERANGE : thread_set_mask(&svm->vcpus[vcpu].t, mask);
    if (!ret) {
        /* The new mask replaced a spread: it is the vCPU's own now. */
        svm->vcpus[vcpu].spread_cpu = -1;
        cosched_unspread(&svm->cs, vcpu);
    }
    pthread_mutex_unlock(&sched_g.lock);
    return ret;
}

static const uint64_t *vcpu_own_mask(const struct sched_vcpu *sv)
{
    return mask_empty(sv->t.mask) ? sv->start_mask : sv->t.mask;
}

unsigned sched_vcpu_ncpus(const struct sched_vcpu *sv)
{
    const uint64_t *mask = vcpu_own_mask(sv);
    unsigned n = 0;

    for (unsigned i = 0; i < SPEC_CPU_WORDS; i++)
        n += (unsigned)__builtin_popcountll(mask[i]);
    return n;
}

/* The decision is recorded even when the call fails (a thread gone, a
 * cpuset that forbids the rest): the controller does not retry it every
 * tick, and restoring the own mask is harmless. */
int sched_vcpu_spread_apply(struct sched_vcpu *sv, int cpu)
{
    uint64_t mask[SPEC_CPU_WORDS];
    pid_t tid = atomic_load(&sv->t.tid);

    cpu = cpu < 0 || cpu >= SPEC_CPUS_MAX ? -1 : cpu;
    if (cpu == sv->spread_cpu)
        return 0;
    sv->spread_cpu = cpu;
    memcpy(mask, vcpu_own_mask(sv), sizeof(mask));
    if (cpu >= 0)
        mask[cpu / 64] &= ~(1ull << (cpu % 64));
    if (mask_empty(mask))
        return -EINVAL;
    return tid ? thread_pin(tid, mask) : 0;
}

int sched_set_io_affinity(const char *vm, const uint64_t *mask)
{
    struct sched_vm *svm;
    int ret;

    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    ret = svm ? thread_set_mask(&svm->io, mask) : -ENOENT;
    pthread_mutex_unlock(&sched_g.lock);
    return ret;
}

int sched_thread_weight_apply(struct sched_vm *svm, struct sched_thread *t, unsigned weight)
{
    int ret;

    if (!sched_g.use_cg)
        return -EOPNOTSUPP;
    ret = cg_weight_set(&sched_g.cg, t->group, t->boost > weight ? t->boost : weight);
    if (ret)
        return ret;
    t->weight = weight;
    return vm_weight_sync(svm);
}

int sched_set_weight(const char *vm, int vcpu, unsigned weight)
{
    struct sched_vm *svm;
    struct sched_thread *t;
    int ret;

    if (weight < SCHED_WEIGHT_MIN || weight > SCHED_WEIGHT_MAX)
        return -EINVAL;
    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    if (!svm || (vcpu >= 0 && (unsigned)vcpu >= svm->n)) {
        pthread_mutex_unlock(&sched_g.lock);
        return svm ? -ERANGE : -ENOENT;
    }
    t = vcpu < 0 ? &svm->io : &svm->vcpus[vcpu].t;
    ret = sched_thread_weight_apply(svm, t, weight);
    if (!ret)
        t->base_weight = weight;
    pthread_mutex_unlock(&sched_g.lock);
    return ret;
}

int sched_controller_enable(const char *vm, bool on)
{
    struct sched_vm *svm;
    int ret = 0;

    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    if (!svm) {
        ret = -ENOENT;
    } else if (on && !sched_g.use_cg) {
        ret = -EOPNOTSUPP;      /* weights need the VM's groups */
    } else if (svm->adaptive != on) {
        svm->adaptive = on;
        svm->next_adapt_ns = 0;
        for (unsigned i = 0; i <= svm->n; i++) {
            struct sched_thread *t = i < svm->n ? &svm->vcpus[i].t : &svm->io;

            t->have_prev = false;
            memset(&t->cls, 0, sizeof(t->cls));
            if (!on && t->weight != t->base_weight &&
                sched_thread_weight_apply(svm, t, t->base_weight))
                log_err("sched: cannot restore the weight of %s", t->group);
        }
    }
    pthread_mutex_unlock(&sched_g.lock);
    return ret;
}

int sched_coschedule_set(const char *vm, bool on, unsigned max_skew_ms)
{
    struct sched_vm *svm;

    if (max_skew_ms > 1000)
        return -EINVAL;
    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    if (!svm) {
        pthread_mutex_unlock(&sched_g.lock);
        return -ENOENT;
    }
    if (max_skew_ms)
        cosched_set_bound(&svm->cs, (uint64_t)max_skew_ms * 1000000ull);
    if (svm->cosched && !on)
        sched_release_holds(svm);
    if (!svm->cosched && on)
        svm->cs_started = false;
    svm->cosched = on;
    pthread_mutex_unlock(&sched_g.lock);
    return 0;
}

int sched_coschedule_boost_set(const char *vm, unsigned weight)
{
    struct sched_vm *svm;
    int ret = 0;

    if (weight > SCHED_WEIGHT_MAX)
        return -EINVAL;
    pthread_mutex_lock(&sched_g.lock);
    svm = sched_vm_find(vm);
    if (!svm) {
        ret = -ENOENT;
    } else if (weight && !svm->groups) {
        ret = -EOPNOTSUPP;
    } else if (weight != svm->boost_weight) {
        sched_release_holds(svm);   /* the next tick boosts at the new weight */
        svm->boost_weight = weight;
    }
    pthread_mutex_unlock(&sched_g.lock);
    return ret;
}
