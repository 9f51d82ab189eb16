/* kvmm: command dispatch, process-wide set-up and the VM supervisor. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "cli.h"
#include "ctl/client.h"
#include "ctl/events.h"
#include "ctl/server.h"
#include "devices/console.h"
#include "introspect/image.h"
#include "introspect/profile.h"
#include "kvm.h"
#include "sched/sched.h"
#include "spec.h"
#include "supervisor.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define EXIT_USAGE 2

static struct supervisor *supervisor;

/* Termination signals stop every VM; they do not restart. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;

    for (;;) {
        char why[64];
        int sig;

        if (sigwait(set, &sig))
            continue;
        snprintf(why, sizeof(why), "stopped by signal %d", sig);
        if (supervisor)
            sup_stop_all(supervisor, VM_STOP_SIGNAL, 128 + sig, why);
    }
    return NULL;
}

struct main_loop {
    struct evloop *loop;
    int done_fd;
};

/* A VM ended: leave the loop once none is left. */
static void vm_ended(void *opaque, uint32_t events)
{
    struct main_loop *m = opaque;
    uint64_t v;

    if (read(m->done_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("done eventfd read failed");
    if (supervisor && sup_all_ended(supervisor))
        evloop_stop(m->loop);
}

static int block_signals(sigset_t *set)
{
    if (vcpu_signals_init()) {
        log_err("cannot install signal handlers");
        return -1;
    }
    /* Termination signals go to one thread; every other thread blocks them. */
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* The main thread runs the control socket and waits for the VMs. */
static int run_vms(const struct kvmm_spec *spec)
{
    static sigset_t set;
    struct main_loop m = { .done_fd = -1 };
    struct ctl_server *ctl = NULL;
    struct kvm_host host;
    pthread_t sigthr;
    char err[512];
    int status = 1;

    if (kvm_host_open(&host, err, sizeof(err))) {
        log_err("%s", err);
        return 1;
    }
    if (sched_init(spec, err, sizeof(err))) {
        log_err("%s", err);
        goto out_host;
    }
    sched_set_event_cb(ctl_event_post);
    if (block_signals(&set))
        goto out_host;
    if (evloop_create(&m.loop)) {
        log_err("cannot create the main event loop");
        goto out_host;
    }
    m.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m.done_fd < 0 || evloop_add_fd(m.loop, m.done_fd, EPOLLIN, vm_ended, &m)) {
        log_err("cannot create an eventfd: %s", strerror(errno));
        goto out_loop;
    }
    /* Before any thread starts: the server changes the umask briefly. */
    if (spec->control_path &&
        ctl_server_open(&ctl, spec->control_path, m.loop, err, sizeof(err))) {
        log_err("%s", err);
        goto out_loop;
    }
    pthread_create(&sigthr, NULL, signal_thread, &set);
    for (size_t i = 0; i < spec->nvms; i++)
        if (spec->vms[i].console == CONSOLE_STDIO)
            console_tty_raw();
    if (sup_start(&supervisor, &host, spec, m.done_fd))
        log_err("cannot start every VM thread");
    if (!supervisor) {
        ctl_server_close(ctl);
        goto out_loop;
    }
    /* Clients queue in the backlog until every VM is up. */
    sup_wait_started(supervisor);
    if (ctl)
        ctl_server_set_supervisor(ctl, supervisor);
    if (!sup_all_ended(supervisor))
        evloop_run(m.loop);
    status = sup_join(supervisor);
    ctl_server_close(ctl);
    console_tty_restore();
out_loop:
    if (m.done_fd >= 0)
        close(m.done_fd);
    evloop_destroy(m.loop);
out_host:
    sched_fini();
    kvm_host_close(&host);
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

/* Thread stacks of 1 MiB: plenty for every kvmm thread, and smaller than a
 * 2 MiB huge page, so transparent huge pages never back a stack with
 * memory it does not use. */
static void thread_stacks_init(void)
{
    pthread_attr_t attr;

    if (pthread_attr_init(&attr))
        return;
    if (!pthread_attr_setstacksize(&attr, 1 << 20))
        pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
    log_level_from_env();
    thread_stacks_init();
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
    if (!strcmp(argv[1], "ctl"))
        return ctl_client_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "profile"))
        return isp_profile_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "allowlist"))
        return isp_allowlist_main(argc - 1, argv + 1);
    fprintf(stderr, "kvmm: unknown command '%s' (see kvmm --help)\n", argv[1]);
    return EXIT_USAGE;
}
