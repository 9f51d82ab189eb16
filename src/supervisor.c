#include "supervisor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/events.h"
#include "spec.h"
#include "util/log.h"

struct sup_vm {
    struct supervisor *sup;
    const struct kvm_host *host;
    const struct vm_spec *spec;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;   /* guards everything below */
    struct vm *vm;          /* current instance, NULL between restarts */
    bool stop_requested;
    enum vm_stop_reason stop_reason;
    int stop_code;
    char stop_why[128];
    enum sup_vm_phase phase;
    int exit_code;
    unsigned restarts;
    char message[256];
};

struct supervisor {
    struct sup_vm *vms;
    size_t nvms;
    int done_fd;
    pthread_mutex_t lock;   /* start-up handshake */
    pthread_cond_t cond;
    size_t nstarted;        /* runners past their first vm_create() */
};

static void sup_mark_started(struct sup_vm *sv)
{
    struct supervisor *sup = sv->sup;

    pthread_mutex_lock(&sup->lock);
    sup->nstarted++;
    pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);
}

/* The SHUTDOWN reason, QEMU's names where one fits. */
static const char *stop_reason_name(enum vm_stop_reason reason)
{
    switch (reason) {
    case VM_STOP_POWEROFF: return "guest-shutdown";
    case VM_STOP_REBOOT: return "guest-reset";
    case VM_STOP_TEST_RESULT: return "guest-test-result";
    case VM_STOP_TRIPLE_FAULT: return "guest-triple-fault";
    case VM_STOP_GUEST_FAULT: return "guest-fault";
    case VM_STOP_PANIC: return "guest-panic";
    case VM_STOP_SIGNAL: return "host-signal";
    case VM_STOP_QUIT: return "host-qmp-quit";
    case VM_STOP_HOST_RESET: return "host-qmp-system-reset";
    case VM_STOP_INTERNAL_ERROR:
    default: return "host-error";
    }
}

static bool stop_reason_is_guest(enum vm_stop_reason reason)
{
    switch (reason) {
    case VM_STOP_POWEROFF: case VM_STOP_REBOOT: case VM_STOP_TEST_RESULT:
    case VM_STOP_TRIPLE_FAULT: case VM_STOP_GUEST_FAULT: case VM_STOP_PANIC:
        return true;
    default:
        return false;
    }
}

static void sup_emit_end(struct sup_vm *sv, enum vm_stop_reason reason, int exit_code,
                         const char *message)
{
    cJSON *data = cJSON_CreateObject();

    if (reason == VM_STOP_PANIC) {
        cJSON *p = cJSON_CreateObject();

        cJSON_AddStringToObject(p, "action", "poweroff");
        ctl_event_post("GUEST_PANICKED", sup_vm_name(sv), p);
    }
    cJSON_AddBoolToObject(data, "guest", stop_reason_is_guest(reason));
    cJSON_AddStringToObject(data, "reason", stop_reason_name(reason));
    cJSON_AddNumberToObject(data, "exit-code", exit_code);
    cJSON_AddStringToObject(data, "message", message);
    ctl_event_post("SHUTDOWN", sup_vm_name(sv), data);
}

/* The VM ended for a reset that builds it again (unless a stop came). */
static bool sup_is_restart(const struct sup_vm *sv, enum vm_stop_reason reason)
{
    return reason == VM_STOP_HOST_RESET ||
           (reason == VM_STOP_REBOOT && sv->spec->on_reboot == REBOOT_RESTART);
}

/* One instance, from creation to teardown; true when it is to restart. */
static bool sup_run_once(struct sup_vm *sv, enum vm_stop_reason *reason)
{
    char err[512];
    struct vm *vm;
    bool restart;

    if (vm_create(sv->host, sv->spec, &vm, err, sizeof(err))) {
        log_err("%s: %s", sv->spec->name, err);
        pthread_mutex_lock(&sv->lock);
        sv->exit_code = 1;
        sv->phase = SUP_VM_ENDED;
        snprintf(sv->message, sizeof(sv->message), "%.255s", err);
        pthread_mutex_unlock(&sv->lock);
        if (!sv->restarts)
            sup_mark_started(sv);
        ctl_event_post_reason("SHUTDOWN", sup_vm_name(sv), false, "host-error");
        return false;
    }
    pthread_mutex_lock(&sv->lock);
    sv->vm = vm;
    sv->phase = SUP_VM_RUNNING;
    if (sv->stop_requested)
        vm_request_stop(vm, sv->stop_reason, sv->stop_code, "%s", sv->stop_why);
    pthread_mutex_unlock(&sv->lock);
    if (vm_start(vm))
        log_err("%s: cannot start", sv->spec->name);
    if (!sv->restarts)
        sup_mark_started(sv);
    *reason = vm_wait(vm);
    pthread_mutex_lock(&sv->lock);
    restart = sup_is_restart(sv, *reason);
    if (restart && sv->stop_requested) {
        /* A stop (a signal, quit) came while a reset was under way: the
         * VM ends for that stop, with its exit code, rather than for a
         * reset that will not happen. */
        restart = false;
        *reason = sv->stop_reason;
        sv->exit_code = sv->stop_code;
        snprintf(sv->message, sizeof(sv->message), "%s", sv->stop_why);
    } else {
        sv->exit_code = vm_exit_code(vm);
        snprintf(sv->message, sizeof(sv->message), "%s", vm_stop_message(vm));
    }
    sv->vm = NULL;
    sv->phase = restart ? SUP_VM_STARTING : SUP_VM_ENDED;
    pthread_mutex_unlock(&sv->lock);
    if (sv->exit_code)
        log_err("%s: %s", sv->spec->name, sv->message);
    else
        log_info("%s: %s", sv->spec->name, sv->message);
    if (restart)
        ctl_event_post_reason("RESET", sup_vm_name(sv), stop_reason_is_guest(*reason),
                              stop_reason_name(*reason));
    else
        sup_emit_end(sv, *reason, sv->exit_code, sv->message);
    vm_destroy(vm);
    return restart;
}

static void *sup_runner(void *arg)
{
    struct sup_vm *sv = arg;
    enum vm_stop_reason reason;
    uint64_t one = 1;
    bool restart = sup_run_once(sv, &reason);

    while (restart) {
        log_info("%s: restarting after %s", sv->spec->name,
                 reason == VM_STOP_HOST_RESET ? "system_reset" : "guest reset");
        pthread_mutex_lock(&sv->lock);
        sv->restarts++;
        pthread_mutex_unlock(&sv->lock);
        restart = sup_run_once(sv, &reason);
    }
    if (write(sv->sup->done_fd, &one, sizeof(one)) < 0)
        log_err("%s: cannot signal the end of the VM", sv->spec->name);
    return NULL;
}

int sup_start(struct supervisor **out, const struct kvm_host *host,
              const struct kvmm_spec *spec, int done_fd)
{
    struct supervisor *sup = calloc(1, sizeof(*sup));
    int ret = 0;

    if (!sup)
        return -ENOMEM;
    sup->vms = calloc(spec->nvms, sizeof(*sup->vms));
    if (!sup->vms) {
        free(sup);
        return -ENOMEM;
    }
    sup->nvms = spec->nvms;
    sup->done_fd = done_fd;
    pthread_mutex_init(&sup->lock, NULL);
    pthread_cond_init(&sup->cond, NULL);
    for (size_t i = 0; i < spec->nvms; i++) {
        struct sup_vm *sv = &sup->vms[i];

        *sv = (struct sup_vm){ .sup = sup, .host = host, .spec = &spec->vms[i] };
        pthread_mutex_init(&sv->lock, NULL);
    }
    for (size_t i = 0; i < spec->nvms; i++) {
        int err = pthread_create(&sup->vms[i].thread, NULL, sup_runner, &sup->vms[i]);

        sup->vms[i].thread_started = !err;
        if (err) {
            ret = -err;
            sup_mark_started(&sup->vms[i]);
        }
    }
    *out = sup;
    return ret;
}

int sup_join(struct supervisor *sup)
{
    int status = 0;

    for (size_t i = 0; i < sup->nvms; i++) {
        struct sup_vm *sv = &sup->vms[i];

        if (!sv->thread_started)
            continue;
        pthread_join(sv->thread, NULL);
        sv->thread_started = false;
        if (sv->exit_code && !status)
            status = sv->exit_code;
    }
    return status;
}

void sup_free(struct supervisor *sup)
{
    if (!sup)
        return;
    for (size_t i = 0; i < sup->nvms; i++)
        pthread_mutex_destroy(&sup->vms[i].lock);
    pthread_mutex_destroy(&sup->lock);
    pthread_cond_destroy(&sup->cond);
    free(sup->vms);
    free(sup);
}

void sup_wait_started(struct supervisor *sup)
{
    pthread_mutex_lock(&sup->lock);
    while (sup->nstarted < sup->nvms)
        pthread_cond_wait(&sup->cond, &sup->lock);
    pthread_mutex_unlock(&sup->lock);
}

size_t sup_count(const struct supervisor *sup) { return sup->nvms; }
struct sup_vm *sup_at(struct supervisor *sup, size_t i) { return i < sup->nvms ? &sup->vms[i] : NULL; }
const struct vm_spec *sup_vm_spec(const struct sup_vm *sv) { return sv->spec; }
const char *sup_vm_name(const struct sup_vm *sv) { return sv->spec->name; }

struct sup_vm *sup_find(struct supervisor *sup, const char *name)
{
    for (size_t i = 0; i < sup->nvms; i++)
        if (!strcmp(sup->vms[i].spec->name, name))
            return &sup->vms[i];
    return NULL;
}

bool sup_all_ended(struct supervisor *sup)
{
    struct sup_vm_info info;

    for (size_t i = 0; i < sup->nvms; i++) {
        sup_vm_info(&sup->vms[i], &info);
        if (info.phase != SUP_VM_ENDED && sup->vms[i].thread_started)
            return false;
    }
    return true;
}

struct vm *sup_vm_acquire(struct sup_vm *sv)
{
    pthread_mutex_lock(&sv->lock);
    if (sv->vm)
        return sv->vm;
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}

void sup_vm_release(struct sup_vm *sv)
{
    pthread_mutex_unlock(&sv->lock);
}

void sup_vm_stop(struct sup_vm *sv, enum vm_stop_reason reason, int exit_code, const char *why)
{
    pthread_mutex_lock(&sv->lock);
    if (!sv->stop_requested) {
        sv->stop_requested = true;
        sv->stop_reason = reason;
        sv->stop_code = exit_code;
        snprintf(sv->stop_why, sizeof(sv->stop_why), "%s", why);
    }
    if (sv->vm)
        vm_request_stop(sv->vm, reason, exit_code, "%s", why);
    pthread_mutex_unlock(&sv->lock);
}

void sup_stop_all(struct supervisor *sup, enum vm_stop_reason reason, int exit_code,
                  const char *why)
{
    for (size_t i = 0; i < sup->nvms; i++)
        sup_vm_stop(&sup->vms[i], reason, exit_code, why);
}

void sup_vm_info(struct sup_vm *sv, struct sup_vm_info *info)
{
    pthread_mutex_lock(&sv->lock);
    info->phase = sv->phase;
    info->paused = sv->vm && vm_paused(sv->vm);
    info->stopping = sv->vm && vm_stopping(sv->vm);
    info->exit_code = info->stopping ? vm_exit_code(sv->vm) : sv->exit_code;
    info->restarts = sv->restarts;
    snprintf(info->message, sizeof(info->message), "%s",
             info->stopping ? vm_stop_message(sv->vm) : sv->message);
    pthread_mutex_unlock(&sv->lock);
}
