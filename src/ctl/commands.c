/* QMP command table and handlers.  Every command may name a VM with the
 * "vm" argument; without it a process with one VM means that one. */
#include "ctl/commands.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/events.h"
#include "devices/acpi_pm.h"
#include "kvm.h"
#include "spec.h"
#include "supervisor.h"
#include "vcpu/vcpu.h"
#include "vm.h"

enum arg_type { ARG_INT, ARG_STR, ARG_BOOL, ARG_INT_ARRAY };

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
    struct arg_spec args[3];
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

static cJSON *cmd_set_vcpu_affinity(struct call *c)
{
    double index = arg(c, "vcpu")->valuedouble;
    const cJSON *cpu;
    struct vcpu *v;
    cpu_set_t set;
    pid_t tid;
    cJSON *o;

    if (index < 0 || index >= vm_ncpus(c->vm))
        return fail(c, "'vcpu' must be 0..%u", vm_ncpus(c->vm) - 1);
    v = vm_vcpu(c->vm, (unsigned)index);
    tid = atomic_load(&v->tid);
    if (!tid)
        return fail(c, "vCPU %u has no thread yet", v->index);
    CPU_ZERO(&set);
    cJSON_ArrayForEach(cpu, arg(c, "cpus")) {
        if (cpu->valuedouble < 0 || cpu->valuedouble >= CPU_SETSIZE)
            return fail(c, "'cpus': host CPU %g out of range", cpu->valuedouble);
        CPU_SET((int)cpu->valuedouble, &set);
    }
    if (!CPU_COUNT(&set))
        return fail(c, "'cpus' must name at least one host CPU");
    if (sched_setaffinity(tid, sizeof(set), &set) < 0)
        return fail(c, "sched_setaffinity(vCPU %u): %s", v->index, strerror(errno));
    if (sched_getaffinity(tid, sizeof(set), &set) < 0)
        return fail(c, "sched_getaffinity(vCPU %u): %s", v->index, strerror(errno));
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "cpus", cpuset_json(&set));
    return o;
}

static cJSON *cmd_set_console_log(struct call *c)
{
    const cJSON *path = arg(c, "path");
    int ret = vm_console_log_set(c->vm, path ? path->valuestring : NULL);

    if (ret)
        return fail(c, "cannot open %s: %s", path->valuestring, strerror(-ret));
    return cJSON_CreateObject();
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
    { "x-set-console-log", cmd_set_console_log, SEL_LIVE, { { "path", ARG_STR, false } } },
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
    [ARG_INT_ARRAY] = "an array of integers",
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

static bool vm_select(const struct command *cmd, struct call *c)
{
    const cJSON *name = arg(c, "vm");

    if (cmd->sel == SEL_NONE)
        return true;
    if (name) {
        c->sv = sup_find(c->sup, name->valuestring);
        if (!c->sv)
            return fail(c, "no VM named '%.64s'", name->valuestring), false;
    } else if (sup_count(c->sup) == 1) {
        c->sv = sup_at(c->sup, 0);
    } else if (cmd->sel != SEL_FILTER) {
        return fail(c, "this process runs %zu VMs: name one with the 'vm' argument",
                    sup_count(c->sup)), false;
    }
    if (cmd->sel == SEL_FILTER && !name)
        c->sv = NULL;
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
