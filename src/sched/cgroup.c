/* cgroup placement (cgroup.h).  Every write goes through cg_write(), the
 * one place that knows the difference between a real cgroup file system
 * and the fake tree of the tests. */
#include "sched/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "sched/weight.h"
#include "util/log.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

enum cg_mode { CG_SET, CG_ADD };   /* replace a value / add a member */

const char *cg_layout_name(enum cg_layout l)
{
    return l == CG_V1 ? "v1" : l == CG_V2 ? "v2" : "none";
}

static int __attribute__((format(printf, 3, 4)))
cg_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* snprintf for paths: a path that does not fit is cut, and then names a
 * file that does not exist, which the caller reports. */
static void __attribute__((format(printf, 3, 4)))
pathf(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

static bool is_file(const char *path)
{
    struct stat st;

    return !stat(path, &st) && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;

    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static bool on_cgroupfs(const char *path)
{
    struct statfs fs;

    return !statfs(path, &fs) &&
           ((unsigned long)fs.f_type == CGROUP_SUPER_MAGIC ||
            (unsigned long)fs.f_type == CGROUP2_SUPER_MAGIC);
}

static int cg_write(const struct cg *cg, const char *dir, const char *file, const char *value,
                    enum cg_mode mode)
{
    char path[PATH_MAX + 64];
    int flags = O_WRONLY | O_CLOEXEC, fd, ret = 0;
    size_t len = strlen(value);

    if (cg->fake)
        flags |= O_CREAT | (mode == CG_ADD ? O_APPEND : O_TRUNC);
    pathf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, flags, 0644);
    if (fd < 0)
        return -errno;
    if (cg->fake) {
        /* one value per line, as a reader of the real files sees them */
        if (write(fd, value, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
            ret = -errno;
    } else if (write(fd, value, len) != (ssize_t)len) {
        ret = -errno;
    }
    close(fd);
    if (ret)
        log_debug("cgroup: writing \"%s\" to %s: %s", value, path, strerror(-ret));
    return ret;
}

static int cg_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    ssize_t n;
    int fd;

    pathf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static void path_join(char *dst, size_t len, const char *a, const char *b)
{
    if (b && *b)
        pathf(dst, len, "%s/%s", a, b);
    else
        pathf(dst, len, "%s", a);
}

/* <dir>/<kvmm-pid>/<rel> */
static void group_path(const struct cg *cg, const char *dir, const char *rel, char *out,
                       size_t len)
{
    if (rel && *rel)
        pathf(out, len, "%s/%s/%s", dir, cg->name, rel);
    else
        pathf(out, len, "%s/%s", dir, cg->name);
}

static bool list_has(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
            return true;
    return false;
}

static int cg_open_v2(struct cg *cg, const char *root, const char *parent, char *err,
                      size_t errlen)
{
    char ctrl[256];

    if (cg_read(root, "cgroup.controllers", ctrl, sizeof(ctrl)) || !list_has(ctrl, "cpu"))
        return cg_fail(err, errlen, "cgroup v2 at %s has no cpu controller "
                       "(cgroup.controllers: \"%s\")", root, ctrl);
    cg->layout = CG_V2;
    cg->fake = !on_cgroupfs(root);
    pathf(cg->v2_root, sizeof(cg->v2_root), "%s", root);
    path_join(cg->cpu_dir, sizeof(cg->cpu_dir), root, parent);
    if (!is_dir(cg->cpu_dir))
        return cg_fail(err, errlen, "cgroup parent %s does not exist", cg->cpu_dir);
    return 0;
}

static int cg_open_v1(struct cg *cg, const char *cpu, const char *root, const char *parent,
                      char *err, size_t errlen)
{
    char cpuset[PATH_MAX], probe[PATH_MAX + 16];

    cg->layout = CG_V1;
    cg->fake = !on_cgroupfs(cpu);
    path_join(cg->cpu_dir, sizeof(cg->cpu_dir), cpu, parent);
    if (!is_dir(cg->cpu_dir))
        return cg_fail(err, errlen, "cgroup parent %s does not exist", cg->cpu_dir);
    pathf(cpuset, sizeof(cpuset), "%s/cpuset", root);
    pathf(probe, sizeof(probe), "%s/cpuset.cpus", cpuset);
    if (!is_file(probe))
        return 0;   /* no cpuset hierarchy: weights only */
    path_join(cg->cpuset_dir, sizeof(cg->cpuset_dir), cpuset, parent);
    if (!is_dir(cg->cpuset_dir))
        return cg_fail(err, errlen, "cgroup parent %s does not exist", cg->cpuset_dir);
    return 0;
}

int cg_open(struct cg *cg, const char *root, const char *parent, char *err, size_t errlen)
{
    static const char *const v1_cpu[] = { "cpu", "cpu,cpuacct", "cpuacct,cpu" };
    char path[PATH_MAX + 32];

    memset(cg, 0, sizeof(*cg));
    root = root && *root ? root : CG_DEFAULT_ROOT;
    parent = parent ? parent : "";
    if (strlen(root) + strlen(parent) > PATH_MAX - 128)
        return cg_fail(err, errlen, "cgroup path too long");
    pathf(path, sizeof(path), "%s/cgroup.controllers", root);
    if (is_file(path))
        return cg_open_v2(cg, root, parent, err, errlen);
    for (unsigned i = 0; i < sizeof(v1_cpu) / sizeof(v1_cpu[0]); i++) {
        pathf(path, sizeof(path), "%s/%s/cpu.shares", root, v1_cpu[i]);
        if (is_file(path)) {
            path[strlen(path) - strlen("/cpu.shares")] = '\0';
            return cg_open_v1(cg, path, root, parent, err, errlen);
        }
    }
    return cg_fail(err, errlen, "no cgroup cpu controller under %s (neither v2 "
                   "cgroup.controllers nor v1 cpu/cpu.shares)", root);
}

/* ---- removal ------------------------------------------------------------ */

/* Depth first; a real cgroup directory goes with rmdir alone, a fake one
 * needs its files unlinked first. */
static int remove_tree(const char *path, bool fake)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int ret = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        char sub[PATH_MAX];

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub))
            continue;
        if (e->d_type == DT_DIR)
            ret = remove_tree(sub, fake) ? -EBUSY : ret;
        else if (fake && unlink(sub))
            ret = -errno;
    }
    closedir(d);
    if (rmdir(path) && errno != ENOENT)
        return -errno;
    return ret;
}

/* A kvmm-<pid> group is stale when its process is gone or is not kvmm. */
static bool pid_is_stale(pid_t pid, pid_t self)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (pid == self)
        return true;    /* a dead process with our pid left it */
    if (kill(pid, 0) && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return true;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "kvmm", 4) != 0;
}

static unsigned clean_dir(const char *dir, bool fake, pid_t self)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char sub[PATH_MAX], *end;
        long pid;

        if (e->d_type != DT_DIR || strncmp(e->d_name, "kvmm-", 5))
            continue;
        pid = strtol(e->d_name + 5, &end, 10);
        if (*end || pid <= 0 || !pid_is_stale((pid_t)pid, self))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= sizeof(sub))
            continue;
        if (remove_tree(sub, fake)) {
            log_err("cgroup: cannot remove stale group %s", sub);
            continue;
        }
        n++;
        log_info("cgroup: removed stale group %s", sub);
    }
    closedir(d);
    return n;
}

unsigned cg_clean_stale(struct cg *cg)
{
    pid_t self = getpid();
    unsigned n = clean_dir(cg->cpu_dir, cg->fake, self);

    if (cg->cpuset_dir[0])
        n += clean_dir(cg->cpuset_dir, cg->fake, self);
    return n;
}

/* ---- creation ----------------------------------------------------------- */

/* v1 cpuset: a new group has empty cpuset.cpus/mems, and a thread cannot
 * join it until both are set; start from the parent's. */
static int cpuset_inherit(const struct cg *cg, const char *dir)
{
    char parent[PATH_MAX], cpus[256], mems[256];
    char *slash;
    int ret;

    pathf(parent, sizeof(parent), "%s", dir);
    slash = strrchr(parent, '/');
    if (!slash)
        return -EINVAL;
    *slash = '\0';
    ret = cg_read(parent, "cpuset.cpus", cpus, sizeof(cpus));
    if (!ret)
        ret = cg_read(parent, "cpuset.mems", mems, sizeof(mems));
    if (!ret)
        ret = cg_write(cg, dir, "cpuset.cpus", cpus, CG_SET);
    if (!ret)
        ret = cg_write(cg, dir, "cpuset.mems", mems, CG_SET);
    return ret;
}

static int make_dir(const char *path)
{
    return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

static int v1_create(const struct cg *cg, const char *rel)
{
    char path[PATH_MAX];
    int ret;

    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    ret = make_dir(path);
    if (ret || !cg->cpuset_dir[0])
        return ret;
    group_path(cg, cg->cpuset_dir, rel, path, sizeof(path));
    ret = make_dir(path);
    return ret ? ret : cpuset_inherit(cg, path);
}

int cg_proc_create(struct cg *cg, pid_t pid, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int ret;

    cg->pid = pid;
    snprintf(cg->name, sizeof(cg->name), "kvmm-%d", (int)pid);
    if (cg->layout == CG_V1) {
        ret = v1_create(cg, "");
    } else {
        group_path(cg, cg->cpu_dir, "", path, sizeof(path));
        ret = make_dir(path);
        /* the parent hands the cpu controller down (already on: no-op) */
        if (!ret)
            ret = cg_write(cg, cg->cpu_dir, "cgroup.subtree_control", "+cpu", CG_SET);
    }
    if (ret) {
        group_path(cg, cg->cpu_dir, "", path, sizeof(path));
        cg_proc_destroy(cg);
        return cg_fail(err, errlen, "cannot create cgroup %s: %s (the %s hierarchy "
                       "must be writable: run as root or delegate the parent)",
                       path, strerror(-ret), cg_layout_name(cg->layout));
    }
    cg->created = true;
    return 0;
}

/* v2: the process joins the threaded domain kvmm-<pid> once its first
 * child is threaded, so that its threads can move within the subtree. */
static int v2_enter(struct cg *cg)
{
    char line[PATH_MAX + 8], path[PATH_MAX], pid[16];
    FILE *f;
    int ret;

    if (cg->v2_moved)
        return 0;
    f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = '\0';
            pathf(cg->v2_origin, sizeof(cg->v2_origin), "%s", line + 3);
        }
    }
    if (f)
        fclose(f);
    group_path(cg, cg->cpu_dir, "", path, sizeof(path));
    snprintf(pid, sizeof(pid), "%d", (int)cg->pid);
    ret = cg_write(cg, path, "cgroup.subtree_control", "+cpu", CG_SET);
    if (!ret)
        ret = cg_write(cg, path, "cgroup.procs", pid, CG_ADD);
    cg->v2_moved = !ret;
    return ret;
}

static int v2_create(struct cg *cg, const char *rel)
{
    char path[PATH_MAX], parent[PATH_MAX];
    const char *slash = strrchr(rel, '/');
    int ret;

    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    ret = make_dir(path);
    if (!ret)
        ret = cg_write(cg, path, "cgroup.type", "threaded", CG_SET);
    if (ret)
        return ret;
    if (!slash)
        return v2_enter(cg);
    pathf(parent, sizeof(parent), "%.*s", (int)(strlen(path) - strlen(slash)), path);
    return cg_write(cg, parent, "cgroup.subtree_control", "+cpu", CG_SET);
}

int cg_group_create(struct cg *cg, const char *rel, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int ret = cg->layout == CG_V1 ? v1_create(cg, rel) : v2_create(cg, rel);

    if (!ret)
        return 0;
    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    return cg_fail(err, errlen, "cannot create cgroup %s: %s", path, strerror(-ret));
}

int cg_group_remove(struct cg *cg, const char *rel)
{
    char path[PATH_MAX];
    int ret;

    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    ret = remove_tree(path, cg->fake);
    if (cg->layout == CG_V1 && cg->cpuset_dir[0]) {
        group_path(cg, cg->cpuset_dir, rel, path, sizeof(path));
        ret = remove_tree(path, cg->fake) ? -EBUSY : ret;
    }
    return ret;
}

void cg_proc_destroy(struct cg *cg)
{
    char path[PATH_MAX], pid[16];

    if (!cg->name[0])
        return;
    if (cg->layout == CG_V2 && cg->v2_moved) {
        path_join(path, sizeof(path), cg->v2_root, cg->v2_origin + (cg->v2_origin[0] == '/'));
        snprintf(pid, sizeof(pid), "%d", (int)cg->pid);
        if (cg_write(cg, path, "cgroup.procs", pid, CG_ADD))
            log_err("cgroup: cannot move back to %s", path);
        cg->v2_moved = false;
    }
    if (cg_group_remove(cg, ""))
        log_err("cgroup: cannot remove %s/%s", cg->cpu_dir, cg->name);
    cg->created = false;
}

/* ---- settings ----------------------------------------------------------- */

int cg_weight_set(struct cg *cg, const char *rel, unsigned weight)
{
    char path[PATH_MAX], v[16];

    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    if (cg->layout == CG_V1) {
        snprintf(v, sizeof(v), "%u", sched_weight_to_shares(weight));
        return cg_write(cg, path, "cpu.shares", v, CG_SET);
    }
    snprintf(v, sizeof(v), "%u", weight);
    return cg_write(cg, path, "cpu.weight", v, CG_SET);
}

int cg_cpus_set(struct cg *cg, const char *rel, const char *cpulist)
{
    char path[PATH_MAX];

    if (cg->layout != CG_V1 || !cg->cpuset_dir[0])
        return 0;   /* v2: sched_setaffinity() alone (cpuset not enabled) */
    group_path(cg, cg->cpuset_dir, rel, path, sizeof(path));
    return cg_write(cg, path, "cpuset.cpus", cpulist, CG_SET);
}

int cg_thread_attach(struct cg *cg, const char *rel, pid_t tid)
{
    char path[PATH_MAX], v[16];
    int ret;

    snprintf(v, sizeof(v), "%d", (int)tid);
    group_path(cg, cg->cpu_dir, rel, path, sizeof(path));
    if (cg->layout == CG_V2)
        return cg_write(cg, path, "cgroup.threads", v, CG_ADD);
    ret = cg_write(cg, path, "tasks", v, CG_ADD);
    if (ret || !cg->cpuset_dir[0])
        return ret;
    group_path(cg, cg->cpuset_dir, rel, path, sizeof(path));
    return cg_write(cg, path, "tasks", v, CG_ADD);
}
