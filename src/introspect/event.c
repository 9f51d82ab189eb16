/* One audited call: read its arguments from guest memory, hash what it
 * loads, ask the policy, write the record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/events.h"
#include "introspect/audit.h"
#include "introspect/image.h"
#include "introspect/internal.h"
#include "introspect/measure.h"
#include "introspect/sysno.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vm.h"

#define ISP_PATH_MAX 4096
#define ISP_ARGV_MAX 32         /* arguments recorded */
#define ISP_ARG_MAX 256         /* bytes of each */
#define ISP_MODULE_MAX (64ULL << 20)

void isp_audit(struct introspect *isp, struct vcpu *v, const char *event, cJSON *rec,
               bool notify)
{
    cJSON *copy = NULL;

    if (!rec)
        return;
    /* event and vcpu first, then the caller's members */
    cJSON_AddItemToObject(rec, "event", cJSON_CreateString(event));
    if (v)
        cJSON_AddNumberToObject(rec, "vcpu", v->index);
    if (notify)
        copy = cJSON_Duplicate(rec, true);
    if (audit_write(isp->audit, vm_name(isp->vm), rec) == -EIO)
        log_debug("%s: audit log write failed", vm_name(isp->vm));
    if (copy)
        ctl_event_post("X_INTROSPECT", vm_name(isp->vm), copy);
}

static void *isp_pause_thread(void *arg)
{
    struct introspect *isp = arg;

    if (vm_pause(isp->vm))
        log_warn("%s: introspection could not pause the VM", vm_name(isp->vm));
    atomic_store(&isp->pause_busy, false);
    return NULL;
}

/* vm_pause() waits for every vCPU to park, this one included, so another
 * thread calls it; the engine joins it when the VM goes away. */
void isp_request_pause(struct introspect *isp, const char *why)
{
    log_warn("%s: paused by introspection: %s", vm_name(isp->vm), why);
    atomic_fetch_add(&isp->paused, 1);
    pthread_mutex_lock(&isp->pause_lock);
    /* One at a time: a pause under way covers this request too.  Never
     * wait for one here: it waits for this vCPU. */
    if (isp->pause_started && atomic_load(&isp->pause_busy)) {
        pthread_mutex_unlock(&isp->pause_lock);
        return;
    }
    if (isp->pause_started)
        pthread_join(isp->pause_thread, NULL);      /* finished: reap it */
    isp->pause_started = false;
    atomic_store(&isp->pause_busy, true);
    if (pthread_create(&isp->pause_thread, NULL, isp_pause_thread, isp)) {
        log_err("%s: cannot start the pause thread", vm_name(isp->vm));
        atomic_store(&isp->pause_busy, false);
    } else {
        isp->pause_started = true;
    }
    pthread_mutex_unlock(&isp->pause_lock);
    /* Do not let this vCPU run on before the pause is raised: it parks
     * at its next pause point, before the guest runs another instruction. */
    for (unsigned i = 0; i < 100000 && atomic_load(&isp->pause_busy) &&
                         !vm_paused(isp->vm) && !vm_stopping(isp->vm); i++)
        nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
}

/* argv as a JSON array, bounded in count and length. */
static cJSON *isp_argv(const struct ptw *w, uint64_t argv, bool *truncated)
{
    cJSON *arr = cJSON_CreateArray();
    char buf[ISP_ARG_MAX];

    *truncated = false;
    for (unsigned i = 0; arr && argv; i++) {
        uint64_t p;
        int ret;

        if (i == ISP_ARGV_MAX) {
            *truncated = true;
            break;
        }
        if (ptw_read_u64(w, argv + 8ULL * i, &p) || !p)
            break;
        ret = ptw_read_str(w, p, buf, sizeof(buf));
        if (ret && ret != -ENAMETOOLONG)
            break;
        *truncated |= ret == -ENAMETOOLONG;
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
    }
    return arr;
}

struct isp_call {
    const char *name;
    char path[ISP_PATH_MAX];
    bool has_path, has_sha;
    uint8_t sha[ISP_SHA256_LEN];
    uint64_t task;          /* the caller's task_struct, 0 when unknown */
    uint32_t pid, tid;
    char comm[16];          /* TASK_COMM_LEN */
    char name_buf[ISP_ARG_MAX];
};

/* ---- the calling task --------------------------------------------------- */

#define ISP_PATH_DEPTH 64

void isp_layout_init(struct introspect *isp)
{
    const struct isp_profile *p = &isp->cfg.profile;
    struct isp_layout *l = &isp->layout;
    uint64_t hot;
    uint32_t off;

    memset(l, 0, sizeof(*l));
    if (!isp->cfg.has_profile)
        return;
    if (isp_profile_lookup(p, ISP_SYM_CURRENT, &l->current))
        l->task = true;
    else if (isp_profile_lookup(p, ISP_SYM_PCPU_HOT, &hot) &&
             isp_profile_field(p, ISP_FIELD_HOT_CURRENT, &off)) {
        l->current = hot + off;
        l->task = true;
    }
    l->task = l->task && isp_profile_field(p, "task_struct.pid", &l->pid) &&
              isp_profile_field(p, "task_struct.tgid", &l->tgid) &&
              isp_profile_field(p, "task_struct.comm", &l->comm);
    l->files = l->task && isp_profile_field(p, "task_struct.files", &l->files_ptr) &&
               isp_profile_field(p, "files_struct.fdt", &l->fdt) &&
               isp_profile_field(p, "fdtable.max_fds", &l->max_fds) &&
               isp_profile_field(p, "fdtable.fd", &l->fd) &&
               isp_profile_field(p, "file.f_path", &l->f_path) &&
               isp_profile_field(p, "path.dentry", &l->dentry) &&
               isp_profile_field(p, "dentry.d_parent", &l->d_parent) &&
               isp_profile_field(p, "dentry.d_name", &l->d_name) &&
               isp_profile_field(p, "qstr.name", &l->q_name);
}

static int isp_read_u32(const struct ptw *w, uint64_t gva, uint32_t *v)
{
    return ptw_read(w, gva, v, sizeof(*v));
}

/* The current task: the per-CPU current_task of the trapping CPU, whose
 * GS base is the per-CPU area in kernel mode.  A handler runs after
 * swapgs; at the entry GS still holds the user's value, so the task is
 * not looked for there.  Fills c's task, pid (the thread group: what
 * getpid() says), tid and comm. */
static void isp_task(struct introspect *isp, struct vcpu *v, const struct ptw *w,
                     enum isp_via via, struct isp_call *c)
{
    const struct isp_layout *l = &isp->layout;
    uint64_t gs = isp->vcpus[v->index].gs_base, task;

    if (!l->task || via != ISP_VIA_HANDLER || !gs ||
        ptw_read_u64(w, gs + l->current, &task) || !task ||
        isp_read_u32(w, task + l->pid, &c->tid) || isp_read_u32(w, task + l->tgid, &c->pid) ||
        ptw_read(w, task + l->comm, c->comm, sizeof(c->comm)))
        return;
    c->comm[sizeof(c->comm) - 1] = '\0';
    c->task = task;
}

/* The file descriptor fd of task, as the path from its file system's root
 * (the dentry chain up to the root of that file system: mount points are
 * not crossed).  0 or -errno. */
static int isp_fd_path(const struct isp_layout *l, const struct ptw *w, uint64_t task,
                       int64_t fd, struct isp_call *c)
{
    uint64_t files, fdt, arr, file, d, parent, name;
    uint32_t max;
    size_t pos = sizeof(c->path) - 1;

    if (!l->files || !task)
        return -ENOSYS;
    if (ptw_read_u64(w, task + l->files_ptr, &files) ||
        ptw_read_u64(w, files + l->fdt, &fdt) || isp_read_u32(w, fdt + l->max_fds, &max) ||
        ptw_read_u64(w, fdt + l->fd, &arr))
        return -EFAULT;
    if (fd < 0 || fd >= max)
        return -EBADF;
    if (ptw_read_u64(w, arr + 8ULL * (uint64_t)fd, &file) || !file)
        return -EBADF;
    if (ptw_read_u64(w, file + l->f_path + l->dentry, &d))
        return -EFAULT;
    c->path[pos] = '\0';
    for (unsigned depth = 0;; depth++) {
        size_t n;

        if (depth == ISP_PATH_DEPTH)
            return -ELOOP;
        if (ptw_read_u64(w, d + l->d_parent, &parent))
            return -EFAULT;
        if (parent == d)
            break;          /* the root of its file system */
        if (ptw_read_u64(w, d + l->d_name + l->q_name, &name) ||
            ptw_read_str(w, name, c->name_buf, sizeof(c->name_buf)))
            return -EFAULT;
        n = strlen(c->name_buf);
        if (n + 1 > pos)
            return -ENAMETOOLONG;
        pos -= n;
        memcpy(c->path + pos, c->name_buf, n);
        c->path[--pos] = '/';
        d = parent;
    }
    if (pos == sizeof(c->path) - 1)
        c->path[--pos] = '/';
    memmove(c->path, c->path + pos, sizeof(c->path) - pos);
    return 0;
}

/* Fill rec and call with what the audited calls carry. */
static void isp_decode(struct introspect *isp, const struct ptw *w, const uint64_t a[6],
                       cJSON *rec, struct isp_call *c)
{
    struct isp_image *image = isp->image;
    uint64_t path = 0, argv = 0;
    bool trunc = false;
    int ret;

    if (c->name && (!strcmp(c->name, "execve"))) {
        path = a[0];
        argv = a[1];
    } else if (c->name && !strcmp(c->name, "execveat")) {
        path = a[1];
        argv = a[2];
    } else if (c->name && !strcmp(c->name, "init_module")) {
        /* the module image is in guest memory: hash it there */
        if (a[1] <= ISP_MODULE_MAX && !isp_sha256_guest(w, a[0], a[1], NULL, 0, c->sha))
            c->has_sha = true;
        cJSON_AddNumberToObject(rec, "len", (double)a[1]);
    } else if (c->name && !strcmp(c->name, "finit_module")) {
        /* the module is the file behind the descriptor */
        cJSON_AddNumberToObject(rec, "fd", (double)(int32_t)a[0]);
        ret = isp_fd_path(&isp->layout, w, c->task, (int32_t)a[0], c);
        c->has_path = !ret;
        if (!ret)
            cJSON_AddStringToObject(rec, "path", c->path);
        else if (ret != -ENOSYS)
            cJSON_AddStringToObject(rec, "path_error", strerror(-ret));
    } else {
        cJSON *args = cJSON_AddArrayToObject(rec, "args");

        for (unsigned i = 0; args && i < 6; i++) {
            char hex[24];

            snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)a[i]);
            cJSON_AddItemToArray(args, cJSON_CreateString(hex));
        }
    }
    if (path) {
        ret = ptw_read_str(w, path, c->path, sizeof(c->path));
        c->has_path = !ret;
        if (ret)
            cJSON_AddStringToObject(rec, "path_error", strerror(-ret));
        else
            cJSON_AddStringToObject(rec, "path", c->path);
    }
    /* what runs: the file in the guest's disk image, hashed host-side */
    if (c->has_path && image) {
        ret = isp_image_hash(image, c->path, c->sha);
        c->has_sha = !ret;
        if (ret)
            cJSON_AddStringToObject(rec, "hash_error", strerror(-ret));
    }
    if (argv) {
        cJSON_AddItemToObject(rec, "argv", isp_argv(w, argv, &trunc));
        if (trunc)
            cJSON_AddBoolToObject(rec, "argv_truncated", true);
    }
    if (c->has_sha) {
        char hex[2 * ISP_SHA256_LEN + 1];

        isp_sha256_to_hex(c->sha, hex);
        cJSON_AddStringToObject(rec, "sha256", hex);
    }
}

enum isp_action isp_event_syscall(struct introspect *isp, struct vcpu *v, const struct ptw *w,
                                  uint64_t nr, const uint64_t args[6], enum isp_via via)
{
    struct isp_call *c = calloc(1, sizeof(*c));
    enum isp_action act;
    cJSON *rec;

    if (!c)
        return ISP_LOG;
    c->name = syscall_name(nr);
    rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "nr", (double)nr);
    cJSON_AddStringToObject(rec, "syscall", c->name ? c->name : "?");
    cJSON_AddStringToObject(rec, "via", via == ISP_VIA_ENTRY ? "entry" : "handler");
    isp_task(isp, v, w, via, c);
    isp_decode(isp, w, args, rec, c);
    pthread_mutex_lock(&isp->lock);
    act = isp_policy_decide(isp->policy, nr, c->has_path ? c->path : NULL,
                            c->has_sha ? c->sha : NULL);
    pthread_mutex_unlock(&isp->lock);
    atomic_fetch_add(&isp->audited, 1);
    if (act == ISP_DENY)
        atomic_fetch_add(&isp->denied, 1);
    cJSON_AddStringToObject(rec, "verdict", isp_action_name(act));
    if (c->task) {
        cJSON_AddNumberToObject(rec, "pid", (int32_t)c->pid);
        cJSON_AddNumberToObject(rec, "tid", (int32_t)c->tid);
        cJSON_AddStringToObject(rec, "comm", c->comm);
    }
    if (act == ISP_ALLOW)
        cJSON_Delete(rec);
    else
        isp_audit(isp, v, "syscall", rec, act == ISP_DENY || act == ISP_PAUSE);
    if (act == ISP_PAUSE)
        isp_request_pause(isp, c->name ? c->name : "syscall");
    free(c);
    return act;
}
