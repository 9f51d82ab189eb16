/* kvmm: command dispatch, process-wide set-up and the VM supervisor. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "devices/console.h"
#include "kvm.h"
#include "spec.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define EXIT_USAGE 2

struct vm_runner {
    const struct kvm_host *host;
    const struct vm_spec *spec;
    pthread_t thread;
    pthread_mutex_t lock;
    struct vm *vm;          /* current instance, NULL between restarts */
    bool stop_requested;
    int exit_code;
};

/* Create, run and (on a guest reset, if the spec says so) re-create the VM. */
static void *runner_thread(void *arg)
{
    struct vm_runner *r = arg;
    char err[512];

    for (;;) {
        struct vm *vm;
        enum vm_stop_reason reason;
        int ret = vm_create(r->host, r->spec, &vm, err, sizeof(err));

        if (ret) {
            log_err("%s: %s", r->spec->name, err);
            r->exit_code = 1;
            return NULL;
        }
        pthread_mutex_lock(&r->lock);
        r->vm = vm;
        if (r->stop_requested)
            vm_request_stop(vm, VM_STOP_SIGNAL, 130, "stopped by signal");
        pthread_mutex_unlock(&r->lock);
        if (vm_start(vm))
            log_err("%s: cannot start", r->spec->name);
        reason = vm_wait(vm);
        r->exit_code = vm_exit_code(vm);
        if (r->exit_code)
            log_err("%s: %s", r->spec->name, vm_stop_message(vm));
        else
            log_info("%s: %s", r->spec->name, vm_stop_message(vm));
        pthread_mutex_lock(&r->lock);
        r->vm = NULL;
        pthread_mutex_unlock(&r->lock);
        vm_destroy(vm);
        if (reason != VM_STOP_REBOOT || r->spec->on_reboot != REBOOT_RESTART || r->stop_requested)
            return NULL;
        log_info("%s: restarting after guest reset", r->spec->name);
    }
}

static struct vm_runner *runners;
static size_t nrunners;

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;

    for (;;) {
        int sig;

        if (sigwait(set, &sig))
            continue;
        for (size_t i = 0; i < nrunners; i++) {
            struct vm_runner *r = &runners[i];

            pthread_mutex_lock(&r->lock);
            r->stop_requested = true;
            if (r->vm)
                vm_request_stop(r->vm, VM_STOP_SIGNAL, 128 + sig, "stopped by signal %d", sig);
            pthread_mutex_unlock(&r->lock);
        }
    }
    return NULL;
}

static int run_vms(const struct kvmm_spec *spec)
{
    static sigset_t set;
    struct kvm_host host;
    pthread_t sigthr;
    char err[512];
    int status = 0;

    if (kvm_host_open(&host, err, sizeof(err))) {
        log_err("%s", err);
        return 1;
    }
    if (vcpu_signals_init()) {
        log_err("cannot install signal handlers");
        return 1;
    }
    /* Termination signals go to one thread; every other thread blocks them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    runners = calloc(spec->nvms, sizeof(*runners));
    if (!runners)
        return 1;
    nrunners = spec->nvms;
    pthread_create(&sigthr, NULL, signal_thread, &set);
    for (size_t i = 0; i < spec->nvms; i++)
        if (spec->vms[i].console == CONSOLE_STDIO)
            console_tty_raw();
    for (size_t i = 0; i < spec->nvms; i++) {
        runners[i] = (struct vm_runner){ .host = &host, .spec = &spec->vms[i] };
        pthread_mutex_init(&runners[i].lock, NULL);
        pthread_create(&runners[i].thread, NULL, runner_thread, &runners[i]);
    }
    for (size_t i = 0; i < spec->nvms; i++) {
        pthread_join(runners[i].thread, NULL);
        if (runners[i].exit_code && !status)
            status = runners[i].exit_code;
    }
    console_tty_restore();
    return status;
}

static int cmd_run(int argc, char **argv)
{
    struct kvmm_spec spec;
    char err[512];
    int ret = cli_parse_run(argc, argv, &spec, err, sizeof(err));

    if (ret == CLI_HELP) {
        fputs(cli_run_usage(), stdout);
        return 0;
    }
    if (ret) {
        fprintf(stderr, "kvmm: %s\n", err);
        return EXIT_USAGE;
    }
    ret = run_vms(&spec);
    spec_free(&spec);
    return ret;
}

static void log_level_from_env(void)
{
    const char *v = getenv("KVMM_LOG");

    if (!v)
        return;
    if (!strcmp(v, "debug"))
        log_set_level(LOG_DEBUG);
    else if (!strcmp(v, "info"))
        log_set_level(LOG_INFO);
    else if (!strcmp(v, "error"))
        log_set_level(LOG_ERROR);
}

int main(int argc, char **argv)
{
    log_level_from_env();
    if (argc < 2) {
        fputs(cli_main_usage(), stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(cli_main_usage(), stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        printf("kvmm %s\n", KVMM_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    fprintf(stderr, "kvmm: unknown command '%s' (see kvmm --help)\n", argv[1]);
    return EXIT_USAGE;
}
