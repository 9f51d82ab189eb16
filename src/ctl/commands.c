/* QMP command table and handlers.  Every command may name a VM with the
 * "vm" argument (process-wide ones only check that it exists); without it
 * a process with one VM means that one. */
#include "ctl/commands.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/cmd_introspect.h"
#include "ctl/events.h"
#include "devices/acpi_pm.h"
#include "kvm.h"
#include "sched/sched.h"
#include "spec.h"
#include "supervisor.h"
#include "vcpu/vcpu.h"
#include "vm.h"

enum arg_type { ARG_INT, ARG_STR, ARG_BOOL, ARG_INT_ARRAY, ARG_OBJECT };

struct arg_spec {
    const char *name;
    enum arg_type type;
    bool required;
};

/* How a command picks its VM. */
enum vm_select {
    SEL_NONE,       /* process-wide */
    SEL_FILTER,     /* optional: all VMs without "vm" */
    SEL_ONE,        /* one VM, in whatever phase */
    SEL_LIVE,       /* one VM's running instance (held while the handler runs) */
};

struct call {
    struct supervisor *sup;
    const cJSON *args;
    struct sup_vm *sv;      /* SEL_ONE, SEL_LIVE; SEL_FILTER when given */
    struct vm *vm;          /* SEL_LIVE */
    struct ctl_error *err;
};

struct command {
    const char *name;
    cJSON *(*run)(struct call *c);
    enum vm_select sel;
    struct arg_spec args[6];
};

static cJSON *fail(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cJSON *fail(struct call *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err->desc, sizeof(c->err->desc), fmt, ap);
    va_end(ap);
    return NULL;
}

static const cJSON *arg(const struct call *c, const char *name)
{
    return c->args ? cJSON_GetObjectItemCaseSensitive(c->args, name) : NULL;
}

/* ---- process-wide */

cJSON *ctl_version_json(void)
{
    unsigned major = 0, minor = 0, micro = 0;
    cJSON *v = cJSON_CreateObject(), *q = cJSON_AddObjectToObject(v, "qemu");

    if (sscanf(KVMM_VERSION, "%u.%u.%u", &major, &minor, &micro) < 1)
        major = 0;
    cJSON_AddNumberToObject(q, "micro", micro);
    cJSON_AddNumberToObject(q, "minor", minor);
    cJSON_AddNumberToObject(q, "major", major);
    cJSON_AddStringToObject(v, "package", "kvmm " KVMM_VERSION);
    return v;
}

static cJSON *cmd_query_version(struct call *c)
{
    return ctl_version_json();
}

static const struct command commands[];

static cJSON *cmd_query_commands(struct call *c)
{
    cJSON *list = cJSON_CreateArray();

    for (const struct command *cmd = commands; cmd->name; cmd++) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "name", cmd->name);
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

static const char *status_name(const struct sup_vm_info *info)
{
    if (info->phase == SUP_VM_ENDED || info->stopping)
        return "shutdown";
    if (info->phase == SUP_VM_STARTING)
        return "prelaunch";
    return info->paused ? "paused" : "running";
}

static cJSON *vm_json(struct sup_vm *sv)
{
    const struct vm_spec *spec = sup_vm_spec(sv);
    struct sup_vm_info info;
    cJSON *o = cJSON_CreateObject();

    sup_vm_info(sv, &info);
    cJSON_AddStringToObject(o, "name", sup_vm_name(sv));
    cJSON_AddStringToObject(o, "status", status_name(&info));
    cJSON_AddBoolToObject(o, "running", !strcmp(status_name(&info), "running"));
    if (info.phase == SUP_VM_ENDED || info.stopping)
        cJSON_AddNumberToObject(o, "exit-code", info.exit_code);
    else
        cJSON_AddNullToObject(o, "exit-code");
    cJSON_AddStringToObject(o, "message", info.message);
    cJSON_AddNumberToObject(o, "restarts", info.restarts);
    cJSON_AddNumberToObject(o, "vcpus", spec->vcpus);
    cJSON_AddNumberToObject(o, "memory-mib", (double)spec->memory_mib);
    return o;
}

static cJSON *cmd_query_vms(struct call *c)
{
    cJSON *list = cJSON_CreateArray();

    for (size_t i = 0; i < sup_count(c->sup); i++)
        if (!c->sv || c->sv == sup_at(c->sup, i))
            cJSON_AddItemToArray(list, vm_json(sup_at(c->sup, i)));
    return list;
}

static cJSON *cmd_quit(struct call *c)
{
    if (c->sv)
        sup_vm_stop(c->sv, VM_STOP_QUIT, 0, "quit by control command");
    else
        sup_stop_all(c->sup, VM_STOP_QUIT, 0, "quit by control command");
    return cJSON_CreateObject();
}

/* ---- one VM */

static cJSON *cmd_query_status(struct call *c)
{
    struct sup_vm_info info;
    cJSON *o = cJSON_CreateObject();
    const char *status;

    sup_vm_info(c->sv, &info);
    status = status_name(&info);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddBoolToObject(o, "running", !strcmp(status, "running"));
    cJSON_AddBoolToObject(o, "singlestep", false);
    return o;
}

static cJSON *cmd_stop(struct call *c)
{
    bool was_paused = vm_paused(c->vm);
    int ret = vm_pause(c->vm);

    if (ret)
        return fail(c, "cannot pause VM '%s': %s", vm_name(c->vm), strerror(-ret));
    if (!was_paused)
        ctl_event_post("STOP", vm_name(c->vm), NULL);
    return cJSON_CreateObject();
}

static cJSON *cmd_cont(struct call *c)
{
    bool was_paused = vm_paused(c->vm);
    int ret = vm_resume(c->vm);

    if (ret)
        return fail(c, "cannot resume VM '%s': %s", vm_name(c->vm), strerror(-ret));
    if (was_paused)
        ctl_event_post("RESUME", vm_name(c->vm), NULL);
    return cJSON_CreateObject();
}

static cJSON *cmd_system_powerdown(struct call *c)
{
    acpi_pm_power_button(c->vm);
    ctl_event_post("POWERDOWN", vm_name(c->vm), NULL);
    return cJSON_CreateObject();
}

static cJSON *cmd_system_reset(struct call *c)
{
    vm_request_stop(c->vm, VM_STOP_HOST_RESET, 0, "reset by control command");
    return cJSON_CreateObject();
}

static cJSON *cmd_query_cpus_fast(struct call *c)
{
    cJSON *list = cJSON_CreateArray();

    for (unsigned i = 0; i < vm_ncpus(c->vm); i++) {
        struct vcpu *v = vm_vcpu(c->vm, i);
        cJSON *o = cJSON_CreateObject(), *props;
        char path[64];

        snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
        cJSON_AddNumberToObject(o, "cpu-index", i);
        cJSON_AddStringToObject(o, "qom-path", path);
        cJSON_AddNumberToObject(o, "thread-id", atomic_load(&v->tid));
        cJSON_AddStringToObject(o, "target", "x86_64");
        props = cJSON_AddObjectToObject(o, "props");
        cJSON_AddNumberToObject(props, "core-id", i);
        cJSON_AddNumberToObject(props, "thread-id", 0);
        cJSON_AddNumberToObject(props, "socket-id", 0);
        cJSON_AddStringToObject(o, "x-state", vcpu_state_name(atomic_load(&v->state)));
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

struct stat_filter {
    cJSON *obj;
    bool all;
};

static void stat_add(void *ctx, const char *name, uint64_t value)
{
    static const char *const wanted[] = { "exits", "halt_exits", "io_exits", "mmio_exits",
                                          "irq_exits", "signal_exits", "halt_wakeup" };
    struct stat_filter *f = ctx;

    for (size_t i = 0; !f->all && i < ARRAY_SIZE(wanted); i++)
        if (!strcmp(name, wanted[i]))
            goto add;
    if (!f->all)
        return;
add:
    cJSON_AddNumberToObject(f->obj, name, (double)value);
}

static void device_stat_add(void *ctx, const char *device, const char *name, uint64_t value)
{
    cJSON *devices = ctx, *d = cJSON_GetObjectItemCaseSensitive(devices, device);

    if (!d)
        d = cJSON_AddObjectToObject(devices, device);
    cJSON_AddNumberToObject(d, name, (double)value);
}

static cJSON *vcpu_stats_json(struct vcpu *v, bool all)
{
    cJSON *o = cJSON_CreateObject(), *own;
    struct stat_filter f = { cJSON_CreateObject(), all };

    cJSON_AddNumberToObject(o, "cpu-index", v->index);
    if (vcpu_kvm_stats_read(v, stat_add, &f)) {
        cJSON_Delete(f.obj);
        cJSON_AddNullToObject(o, "kvm");
    } else {
        cJSON_AddItemToObject(o, "kvm", f.obj);
    }
    own = cJSON_AddObjectToObject(o, "kvmm");
    cJSON_AddNumberToObject(own, "exits", (double)__atomic_load_n(&v->stats.exits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(own, "io_exits", (double)__atomic_load_n(&v->stats.io_exits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(own, "mmio_exits", (double)__atomic_load_n(&v->stats.mmio_exits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(own, "other_exits", (double)__atomic_load_n(&v->stats.other_exits, __ATOMIC_RELAXED));
    cJSON_AddNumberToObject(own, "pauses", (double)__atomic_load_n(&v->stats.pauses, __ATOMIC_RELAXED));
    return o;
}

static cJSON *cmd_query_stats(struct call *c)
{
    const cJSON *all = arg(c, "all");
    cJSON *o = cJSON_CreateObject(), *vcpus = cJSON_AddArrayToObject(o, "vcpus");

    for (unsigned i = 0; i < vm_ncpus(c->vm); i++)
        cJSON_AddItemToArray(vcpus, vcpu_stats_json(vm_vcpu(c->vm, i), cJSON_IsTrue(all)));
    vm_device_counters(c->vm, device_stat_add, cJSON_AddObjectToObject(o, "devices"));
    return o;
}

static cJSON *cmd_set_halt_poll(struct call *c)
{
    double ns = arg(c, "ns")->valuedouble;
    struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL };
    int ret;

    if (ns < 0 || ns > 0xffffffffu)
        return fail(c, "'ns' must be 0..4294967295");
    if (kvm_check_extension(vm_fd(c->vm), KVM_CAP_HALT_POLL) <= 0)
        return fail(c, "this host's KVM has no KVM_CAP_HALT_POLL");
    cap.args[0] = (uint64_t)ns;
    ret = kvm_ioctl(vm_fd(c->vm), KVM_ENABLE_CAP, &cap);
    if (ret < 0)
        return fail(c, "KVM_ENABLE_CAP(KVM_CAP_HALT_POLL): %s", strerror(-ret));
    return cJSON_CreateObject();
}

static cJSON *cpuset_json(const cpu_set_t *set)
{
    cJSON *list = cJSON_CreateArray();

    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, set))
            cJSON_AddItemToArray(list, cJSON_CreateNumber(i));
    return list;
}

/* "cpus" as a sched mask: every CPU must exist on this host. */
static bool cpus_mask(struct call *c, uint64_t *mask)
{
    long ncpus = sysconf(_SC_NPROCESSORS_CONF);
    const cJSON *cpu;

    memset(mask, 0, SPEC_CPU_WORDS * sizeof(*mask));
    cJSON_ArrayForEach(cpu, arg(c, "cpus")) {
        if (cpu->valuedouble < 0 || cpu->valuedouble >= ncpus || cpu->valuedouble >= SPEC_CPUS_MAX)
            return fail(c, "'cpus': host CPU %g out of range (this host has %ld CPUs)",
                        cpu->valuedouble, ncpus), false;
        mask[(unsigned)cpu->valuedouble / 64] |= 1ull << ((unsigned)cpu->valuedouble % 64);
    }
    if (!cJSON_GetArraySize(arg(c, "cpus")))
        return fail(c, "'cpus' must name at least one host CPU"), false;
    return true;
}

static cJSON *affinity_reply(struct call *c, pid_t tid, const char *what)
{
    cpu_set_t set;
    cJSON *o;

    if (sched_getaffinity(tid, sizeof(set), &set) < 0)
        return fail(c, "sched_getaffinity(%s): %s", what, strerror(errno));
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "cpus", cpuset_json(&set));
    return o;
}

static cJSON *sched_error(struct call *c, int ret, const char *what)
{
    if (ret == -EOPNOTSUPP)
        return fail(c, "%s needs cgroups: give the VM a 'sched' weight in its spec", what);
    return fail(c, "%s: %s", what, strerror(-ret));
}

static cJSON *cmd_set_vcpu_affinity(struct call *c)
{
    double index = arg(c, "vcpu")->valuedouble;
    uint64_t mask[SPEC_CPU_WORDS];
    char what[32];
    struct vcpu *v;
    pid_t tid;
    int ret;

    if (index < 0 || index >= vm_ncpus(c->vm))
        return fail(c, "'vcpu' must be 0..%u", vm_ncpus(c->vm) - 1);
    v = vm_vcpu(c->vm, (unsigned)index);
    tid = atomic_load(&v->tid);
    if (!tid)
        return fail(c, "vCPU %u has no thread yet", v->index);
    if (!cpus_mask(c, mask))
        return NULL;
    snprintf(what, sizeof(what), "vCPU %u", v->index);
    /* Through the scheduler: it pins, remembers the mask for a restarted
     * VM and moves the thread's cpuset group along. */
    ret = sched_set_vcpu_affinity(vm_name(c->vm), v->index, mask);
    if (ret)
        return sched_error(c, ret, what);
    return affinity_reply(c, tid, what);
}

/* The scheduler's view of the selected VM: {"cgroup_layout", "vms": [one]};
 * NULL (and the error set) when it has none. */
static cJSON *sched_state(struct call *c)
{
    char *text = sched_query_json(sup_vm_name(c->sv));
    cJSON *root = text ? cJSON_Parse(text) : NULL;

    free(text);
    if (!root || cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "vms")) != 1) {
        cJSON_Delete(root);
        return fail(c, "the scheduler knows no VM '%s'", sup_vm_name(c->sv));
    }
    return root;
}

static const cJSON *sched_vm_item(const cJSON *root, const char *path0, const char *path1)
{
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "vms"), 0);

    o = cJSON_GetObjectItemCaseSensitive(o, path0);
    return path1 ? cJSON_GetObjectItemCaseSensitive(o, path1) : o;
}

static cJSON *cmd_set_io_affinity(struct call *c)
{
    uint64_t mask[SPEC_CPU_WORDS];
    cJSON *state;
    pid_t tid;
    int ret;

    if (!cpus_mask(c, mask))
        return NULL;
    ret = sched_set_io_affinity(vm_name(c->vm), mask);
    if (ret)
        return sched_error(c, ret, "I/O thread");
    state = sched_state(c);
    if (!state)
        return NULL;
    tid = (pid_t)cJSON_GetNumberValue(sched_vm_item(state, "io", "tid"));
    cJSON_Delete(state);
    if (tid <= 0)
        return fail(c, "the I/O thread has not started yet");
    return affinity_reply(c, tid, "I/O thread");
}

static cJSON *cmd_query_sched(struct call *c)
{
    char *text = sched_query_json(c->sv ? sup_vm_name(c->sv) : NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;

    free(text);
    return o ? o : fail(c, "scheduler state unavailable");
}

/* Checks every argument before changing anything, so an error reply
 * means nothing changed. */
static cJSON *cmd_set_sched(struct call *c)
{
    const cJSON *adaptive = arg(c, "adaptive"), *cosched = arg(c, "coschedule");
    const cJSON *skew = arg(c, "max_skew_ms"), *weight = arg(c, "weight"), *vcpu = arg(c, "vcpu");
    const cJSON *boost = arg(c, "boost_weight");
    const char *name = sup_vm_name(c->sv), *layout;
    unsigned n = sup_vm_spec(c->sv)->vcpus;
    bool use_cg, cs_on, vm_cg;
    cJSON *state;
    int ret = 0;

    if (vcpu && !weight)
        return fail(c, "'vcpu' needs 'weight'");
    if (!adaptive && !cosched && !skew && !weight && !boost)
        return fail(c, "give at least one of 'adaptive', 'coschedule', 'max_skew_ms', "
                    "'boost_weight', 'weight'");
    if (vcpu && (vcpu->valuedouble < 0 || vcpu->valuedouble >= n))
        return fail(c, "'vcpu' must be 0..%u", n - 1);
    if (weight && (weight->valuedouble < 1 || weight->valuedouble > 10000))
        return fail(c, "'weight' must be 1..10000");
    if (skew && (skew->valuedouble < 1 || skew->valuedouble > 1000))
        return fail(c, "'max_skew_ms' must be 1..1000");
    if (boost && (boost->valuedouble < 0 || boost->valuedouble > 10000))
        return fail(c, "'boost_weight' must be 0..10000");
    state = sched_state(c);
    if (!state)
        return NULL;
    layout = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(state, "cgroup_layout"));
    use_cg = layout && strcmp(layout, "none");
    cs_on = cJSON_IsTrue(sched_vm_item(state, "coschedule", "enabled"));
    vm_cg = cJSON_IsTrue(sched_vm_item(state, "coschedule", "cgroups"));
    cJSON_Delete(state);
    if (!use_cg && (weight || cJSON_IsTrue(adaptive)))
        return fail(c, "'%s' needs cgroups: start the VM with a 'sched' weight in its spec",
                    weight ? "weight" : "adaptive");
    if (boost && boost->valuedouble > 0 && !vm_cg)
        return fail(c, "'boost_weight' needs cgroups: start the VM with co-scheduling or a "
                    "'sched' weight in its spec");
    if (weight && vcpu)
        ret = sched_set_weight(name, (int)vcpu->valuedouble, (unsigned)weight->valuedouble);
    for (int i = -1; weight && !vcpu && !ret && i < (int)n; i++)
        ret = sched_set_weight(name, i, (unsigned)weight->valuedouble);
    if (!ret && (cosched || skew))
        ret = sched_coschedule_set(name, cosched ? cJSON_IsTrue(cosched) : cs_on,
                                   skew ? (unsigned)skew->valuedouble : 0);
    if (!ret && boost)
        ret = sched_coschedule_boost_set(name, (unsigned)boost->valuedouble);
    if (!ret && adaptive)
        ret = sched_controller_enable(name, cJSON_IsTrue(adaptive));
    if (ret)
        return sched_error(c, ret, "x-set-sched");
    return cJSON_CreateObject();
}

static cJSON *cmd_set_console_log(struct call *c)
{
    const cJSON *path = arg(c, "path");
    char err[200];

    if (vm_console_log_set(c->vm, path ? path->valuestring : NULL, err, sizeof(err)))
        return fail(c, "'path': %s", err);
    return cJSON_CreateObject();
}

/* x-introspect-*: handlers in ctl/cmd_introspect.c */
static cJSON *cmd_isp_set_policy(struct call *c)
{
    return ctl_isp_set_policy(c->vm, c->args, c->err->desc, sizeof(c->err->desc));
}

static cJSON *cmd_isp_mode(struct call *c)
{
    return ctl_isp_mode(c->vm, c->args, c->err->desc, sizeof(c->err->desc));
}

static cJSON *cmd_isp_check_text(struct call *c)
{
    return ctl_isp_check_text(c->vm, c->args, c->err->desc, sizeof(c->err->desc));
}

static cJSON *cmd_isp_stats(struct call *c)
{
    return ctl_isp_stats(c->vm, c->args, c->err->desc, sizeof(c->err->desc));
}

static const struct command commands[] = {
    { "qmp_capabilities", NULL, SEL_NONE, { { "enable", ARG_INT_ARRAY, false } } },
    { "query-version", cmd_query_version, SEL_NONE, { { 0 } } },
    { "query-commands", cmd_query_commands, SEL_NONE, { { 0 } } },
    { "query-status", cmd_query_status, SEL_ONE, { { 0 } } },
    { "stop", cmd_stop, SEL_LIVE, { { 0 } } },
    { "cont", cmd_cont, SEL_LIVE, { { 0 } } },
    { "system_powerdown", cmd_system_powerdown, SEL_LIVE, { { 0 } } },
    { "system_reset", cmd_system_reset, SEL_LIVE, { { 0 } } },
    { "quit", cmd_quit, SEL_FILTER, { { 0 } } },
    { "query-cpus-fast", cmd_query_cpus_fast, SEL_LIVE, { { 0 } } },
    { "x-query-stats", cmd_query_stats, SEL_LIVE, { { "all", ARG_BOOL, false } } },
    { "x-query-vms", cmd_query_vms, SEL_FILTER, { { 0 } } },
    { "x-set-halt-poll", cmd_set_halt_poll, SEL_LIVE, { { "ns", ARG_INT, true } } },
    { "x-set-vcpu-affinity", cmd_set_vcpu_affinity, SEL_LIVE,
      { { "vcpu", ARG_INT, true }, { "cpus", ARG_INT_ARRAY, true } } },
    { "x-set-io-affinity", cmd_set_io_affinity, SEL_LIVE, { { "cpus", ARG_INT_ARRAY, true } } },
    { "x-query-sched", cmd_query_sched, SEL_FILTER, { { 0 } } },
    { "x-set-sched", cmd_set_sched, SEL_ONE,
      { { "adaptive", ARG_BOOL, false }, { "coschedule", ARG_BOOL, false },
        { "max_skew_ms", ARG_INT, false }, { "boost_weight", ARG_INT, false },
        { "weight", ARG_INT, false },
        { "vcpu", ARG_INT, false } } },
    { "x-set-console-log", cmd_set_console_log, SEL_LIVE, { { "path", ARG_STR, false } } },
    { "x-introspect-set-policy", cmd_isp_set_policy, SEL_LIVE, { { "policy", ARG_OBJECT, true } } },
    { "x-introspect-mode", cmd_isp_mode, SEL_LIVE, { { "mode", ARG_STR, false } } },
    { "x-introspect-check-text", cmd_isp_check_text, SEL_LIVE, { { 0 } } },
    { "x-introspect-stats", cmd_isp_stats, SEL_LIVE, { { 0 } } },
    { NULL, NULL, SEL_NONE, { { 0 } } },
};

/* ---- argument checks */

static bool json_is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
           fabs(v->valuedouble) < 9007199254740992.0;
}

static bool arg_type_ok(const cJSON *v, enum arg_type type)
{
    const cJSON *e;

    switch (type) {
    case ARG_INT: return json_is_int(v);
    case ARG_STR: return cJSON_IsString(v);
    case ARG_BOOL: return cJSON_IsBool(v);
    case ARG_OBJECT: return cJSON_IsObject(v);
    case ARG_INT_ARRAY:
        if (!cJSON_IsArray(v))
            return false;
        cJSON_ArrayForEach(e, v)
            if (!json_is_int(e))
                return false;
        return true;
    }
    return false;
}

static const char *const type_names[] = {
    [ARG_INT] = "an integer", [ARG_STR] = "a string", [ARG_BOOL] = "a boolean",
    [ARG_INT_ARRAY] = "an array of integers", [ARG_OBJECT] = "an object",
};

static const struct arg_spec *arg_find(const struct command *cmd, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cmd->args) && cmd->args[i].name; i++)
        if (!strcmp(cmd->args[i].name, name))
            return &cmd->args[i];
    return NULL;
}

static bool args_check(const struct command *cmd, struct call *c)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, c->args) {
        const struct arg_spec *a = arg_find(cmd, v->string);

        if (!strcmp(v->string, "vm")) {
            if (!cJSON_IsString(v))
                return fail(c, "parameter 'vm' must be a string"), false;
            continue;
        }
        if (!a)
            return fail(c, "parameter '%.64s' is unexpected for %s", v->string, cmd->name), false;
        if (!arg_type_ok(v, a->type))
            return fail(c, "parameter '%s' must be %s", a->name, type_names[a->type]), false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(cmd->args) && cmd->args[i].name; i++)
        if (cmd->args[i].required && !arg(c, cmd->args[i].name))
            return fail(c, "parameter '%s' is missing", cmd->args[i].name), false;
    return true;
}

/* A "vm" argument must name a VM, even for a process-wide command. */
static bool vm_select(const struct command *cmd, struct call *c)
{
    const cJSON *name = arg(c, "vm");

    if (name) {
        c->sv = sup_find(c->sup, name->valuestring);
        if (!c->sv)
            return fail(c, "no VM named '%.64s'", name->valuestring), false;
    }
    if (cmd->sel == SEL_NONE || (cmd->sel == SEL_FILTER && !name))
        return true;
    if (!name && sup_count(c->sup) != 1)
        return fail(c, "this process runs %zu VMs: name one with the 'vm' argument",
                    sup_count(c->sup)), false;
    if (!name)
        c->sv = sup_at(c->sup, 0);
    if (cmd->sel != SEL_LIVE)
        return true;
    c->vm = sup_vm_acquire(c->sv);
    if (!c->vm)
        return fail(c, "VM '%s' is not running", sup_vm_name(c->sv)), false;
    return true;
}

static const struct command *command_find(const char *name)
{
    for (const struct command *cmd = commands; cmd->name; cmd++)
        if (!strcmp(cmd->name, name))
            return cmd;
    return NULL;
}

bool ctl_command_exists(const char *name)
{
    return command_find(name) != NULL;
}

cJSON *ctl_command_run(struct supervisor *sup, const char *name, const cJSON *args,
                       struct ctl_error *err)
{
    const struct command *cmd = command_find(name);
    struct call c = { .sup = sup, .args = args, .err = err };
    cJSON *ret;

    err->cls = "GenericError";
    if (!cmd || !cmd->run) {
        err->cls = "CommandNotFound";
        snprintf(err->desc, sizeof(err->desc), "the command %.64s has not been found", name);
        return NULL;
    }
    if (!args_check(cmd, &c) || !vm_select(cmd, &c))
        return NULL;
    ret = cmd->run(&c);
    if (c.vm)
        sup_vm_release(c.sv);
    return ret;
}
