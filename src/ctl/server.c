#include "ctl/server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/commands.h"
#include "ctl/events.h"
#include "ctl/qmp_json.h"
#include "ctl/qmp_reader.h"
#include "util/evloop.h"
#include "util/log.h"

#define CTL_MAX_CLIENTS 32
#define CTL_OUT_MAX (4u << 20)      /* replies a client leaves unread */
#define CTL_FLUSH_MS 1000           /* at close */

struct ctl_client {
    struct ctl_server *srv;
    int fd;
    bool negotiated;
    bool watching_out;
    char *out;
    size_t out_len, out_cap;
    struct qmp_reader reader;
};

struct ctl_server {
    struct evloop *loop;
    struct supervisor *sup;
    int listen_fd;
    int event_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ctl_client *clients[CTL_MAX_CLIENTS];
};

/* ---- events: a queue any thread appends to, drained on the loop */

struct event_item {
    struct event_item *next;
    char *text;
};

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;
static struct event_item *event_head, **event_tail = &event_head;
static int event_fd = -1;

void ctl_event_post(const char *name, const char *vm, cJSON *data)
{
    cJSON *ev = cJSON_CreateObject(), *ts;
    struct event_item *item;
    struct timespec now;
    uint64_t one = 1;

    clock_gettime(CLOCK_REALTIME, &now);
    if (!data)
        data = cJSON_CreateObject();
    if (vm)
        cJSON_AddStringToObject(data, "vm", vm);
    cJSON_AddStringToObject(ev, "event", name);
    cJSON_AddItemToObject(ev, "data", data);
    ts = cJSON_AddObjectToObject(ev, "timestamp");
    cJSON_AddNumberToObject(ts, "seconds", (double)now.tv_sec);
    cJSON_AddNumberToObject(ts, "microseconds", (double)(now.tv_nsec / 1000));
    item = calloc(1, sizeof(*item));
    if (item)
        item->text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!item || !item->text) {
        free(item);
        return;
    }
    pthread_mutex_lock(&event_lock);
    if (event_fd < 0) {     /* nobody listens */
        pthread_mutex_unlock(&event_lock);
        free(item->text);
        free(item);
        return;
    }
    *event_tail = item;
    event_tail = &item->next;
    if (write(event_fd, &one, sizeof(one)) < 0)
        log_debug("ctl: event wake-up failed");
    pthread_mutex_unlock(&event_lock);
}

void ctl_event_post_reason(const char *name, const char *vm, bool guest, const char *reason)
{
    cJSON *data = cJSON_CreateObject();

    cJSON_AddBoolToObject(data, "guest", guest);
    cJSON_AddStringToObject(data, "reason", reason);
    ctl_event_post(name, vm, data);
}

static struct event_item *events_take(void)
{
    struct event_item *list;

    pthread_mutex_lock(&event_lock);
    list = event_head;
    event_head = NULL;
    event_tail = &event_head;
    pthread_mutex_unlock(&event_lock);
    return list;
}

/* ---- output */

static void client_close(struct ctl_client *c);

static void client_flush(struct ctl_client *c)
{
    size_t done = 0;

    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
}

/* Queue one line; false when the client was closed (too much unread). */
static bool client_send(struct ctl_client *c, const char *text)
{
    size_t len = strlen(text);
    bool want_out;

    if (c->out_len + len + 2 > CTL_OUT_MAX) {
        log_warn("ctl: client does not read its replies: closed");
        client_close(c);
        return false;
    }
    if (c->out_len + len + 2 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *p;

        while (cap < c->out_len + len + 2)
            cap *= 2;
        p = realloc(c->out, cap);
        if (!p) {
            client_close(c);
            return false;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, len);
    /* Strings from the guest or the host may hold anything; a cut name
     * may end inside a character: what goes out is UTF-8 all the same. */
    qmp_json_utf8_repair(c->out + c->out_len, len);
    c->out_len += len;
    c->out[c->out_len++] = '\r';
    c->out[c->out_len++] = '\n';
    client_flush(c);
    want_out = c->out_len > 0;
    if (want_out != c->watching_out &&
        !evloop_mod_fd(c->srv->loop, c->fd, EPOLLIN | (want_out ? EPOLLOUT : 0)))
        c->watching_out = want_out;
    return true;
}

static bool client_send_json(struct ctl_client *c, cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    bool ok;

    cJSON_Delete(msg);
    if (!text)
        return true;
    ok = client_send(c, text);
    free(text);
    return ok;
}

static bool client_send_error(struct ctl_client *c, const char *cls, const char *desc,
                              const cJSON *id)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(msg, "error");

    cJSON_AddStringToObject(e, "class", cls);
    cJSON_AddStringToObject(e, "desc", desc);
    if (id)
        cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, true));
    return client_send_json(c, msg);
}

/* ---- requests */

/* Negotiation concerns the connection: no "vm" argument here. */
static bool client_capabilities(struct ctl_client *c, const cJSON *args, const cJSON *id)
{
    const cJSON *enable = args ? cJSON_GetObjectItemCaseSensitive(args, "enable") : NULL;
    char desc[128];
    const cJSON *m;
    cJSON *msg;

    if (c->negotiated)
        return client_send_error(c, "CommandNotFound",
                                 "capabilities negotiation is already complete", id);
    cJSON_ArrayForEach(m, args) {
        if (strcmp(m->string, "enable")) {
            snprintf(desc, sizeof(desc), "parameter '%.64s' is unexpected for qmp_capabilities",
                     m->string);
            return client_send_error(c, "GenericError", desc, id);
        }
    }
    if (enable && (!cJSON_IsArray(enable) || cJSON_GetArraySize(enable)))
        return client_send_error(c, "GenericError",
                                 "no capabilities are available: 'enable' must be empty", id);
    c->negotiated = true;
    msg = cJSON_CreateObject();
    cJSON_AddObjectToObject(msg, "return");
    if (id)
        cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, true));
    return client_send_json(c, msg);
}

/* Check the envelope {"execute", "arguments", "id"}; sets name and args. */
static const char *request_check(const cJSON *req, const char **name, const cJSON **args)
{
    const cJSON *m;

    if (!cJSON_IsObject(req))
        return "a QMP message must be a JSON object";
    cJSON_ArrayForEach(m, req) {
        if (strcmp(m->string, "execute") && strcmp(m->string, "arguments") &&
            strcmp(m->string, "id"))
            return "unknown member in the message (expected execute, arguments, id)";
    }
    m = cJSON_GetObjectItemCaseSensitive(req, "execute");
    if (!m)
        return "the message has no 'execute' member";
    if (!cJSON_IsString(m))
        return "'execute' must be a string";
    *name = m->valuestring;
    *args = cJSON_GetObjectItemCaseSensitive(req, "arguments");
    if (*args && !cJSON_IsObject(*args))
        return "'arguments' must be an object";
    return NULL;
}

static bool client_request(struct ctl_client *c, const char *text, size_t len)
{
    struct ctl_error err = { .cls = "GenericError" };
    const char *name = NULL, *bad;
    const cJSON *args = NULL;
    cJSON *req, *id, *ret;
    bool ok;

    if (qmp_json_parse(text, len, &req, err.desc, sizeof(err.desc)))
        return client_send_error(c, "GenericError", err.desc, NULL);
    id = qmp_json_member_raw(text, len, req, "id");
    bad = request_check(req, &name, &args);
    if (bad) {
        ok = client_send_error(c, "GenericError", bad, id);
    } else if (!strcmp(name, "qmp_capabilities")) {
        ok = client_capabilities(c, args, id);
    } else if (!c->negotiated) {
        ok = client_send_error(c, "CommandNotFound",
                               "expecting capabilities negotiation with 'qmp_capabilities'", id);
    } else if (!c->srv->sup) {
        ok = client_send_error(c, "GenericError", "the VMs are not started yet", id);
    } else if (!(ret = ctl_command_run(c->srv->sup, name, args, &err))) {
        ok = client_send_error(c, err.cls, err.desc, id);
    } else {
        cJSON *msg = cJSON_CreateObject();

        cJSON_AddItemToObject(msg, "return", ret);
        if (id)
            cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, true));
        ok = client_send_json(c, msg);
    }
    cJSON_Delete(id);
    cJSON_Delete(req);
    return ok;
}

static bool client_reader_error(struct ctl_client *c, enum qmp_read_result r)
{
    char desc[128];

    if (r == QMP_READ_TOO_LONG)
        snprintf(desc, sizeof(desc), "message longer than %u bytes: skipped to the next line",
                 QMP_MSG_MAX);
    else if (r == QMP_READ_TOO_DEEP)
        snprintf(desc, sizeof(desc), "JSON nested deeper than %u: skipped to the next line",
                 QMP_DEPTH_MAX);
    else
        snprintf(desc, sizeof(desc), "invalid JSON: text outside an object, skipped to the next line");
    return client_send_error(c, "GenericError", desc, NULL);
}

static void client_readable(void *opaque, uint32_t events)
{
    struct ctl_client *c = opaque;
    char buf[16384];
    ssize_t n;

    if (events & EPOLLOUT) {
        client_flush(c);
        if (!c->out_len && !evloop_mod_fd(c->srv->loop, c->fd, EPOLLIN))
            c->watching_out = false;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    for (size_t pos = 0; pos < (size_t)n;) {
        const char *msg;
        size_t len;
        enum qmp_read_result r = qmp_reader_feed(&c->reader, buf, (size_t)n, &pos, &msg, &len);
        bool alive = true;

        if (r == QMP_READ_MESSAGE)
            alive = client_request(c, msg, len);
        else if (r != QMP_READ_MORE)
            alive = client_reader_error(c, r);
        if (!alive)
            return;
    }
}

/* ---- connections */

static void client_close(struct ctl_client *c)
{
    struct ctl_server *srv = c->srv;

    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (srv->clients[i] == c)
            srv->clients[i] = NULL;
    evloop_del_fd(srv->loop, c->fd);
    close(c->fd);
    free(c->out);
    free(c);
}

static bool client_greet(struct ctl_client *c)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON *qmp = cJSON_AddObjectToObject(msg, "QMP");

    cJSON_AddItemToObject(qmp, "version", ctl_version_json());
    cJSON_AddArrayToObject(qmp, "capabilities");
    return client_send_json(c, msg);
}

static void server_accept(void *opaque, uint32_t events)
{
    struct ctl_server *srv = opaque;
    struct ctl_client *c;
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int slot = -1;

    if (fd < 0)
        return;
    for (int i = 0; i < CTL_MAX_CLIENTS && slot < 0; i++)
        if (!srv->clients[i])
            slot = i;
    c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        log_warn("ctl: too many clients, connection refused");
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    qmp_reader_init(&c->reader);
    if (evloop_add_fd(srv->loop, fd, EPOLLIN, client_readable, c)) {
        close(fd);
        free(c);
        return;
    }
    srv->clients[slot] = c;
    client_greet(c);
}

static void server_events(void *opaque, uint32_t events)
{
    struct ctl_server *srv = opaque;
    struct event_item *item = events_take(), *next;
    uint64_t v;

    if (read(srv->event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("ctl: event fd read failed");
    for (; item; item = next) {
        next = item->next;
        for (int i = 0; i < CTL_MAX_CLIENTS; i++)
            if (srv->clients[i] && srv->clients[i]->negotiated)
                client_send(srv->clients[i], item->text);
        free(item->text);
        free(item);
    }
}

/* -EADDRINUSE when a server answers at path; a stale socket is removed. */
static int server_path_claim(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    struct stat st;
    int fd, ret;

    if (lstat(addr->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "control socket %s: exists and is not a socket",
                 addr->sun_path);
        return -EEXIST;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    close(fd);
    if (ret == 0) {
        snprintf(err, errlen, "control socket %s: another server is listening there",
                 addr->sun_path);
        return -EADDRINUSE;
    }
    return unlink(addr->sun_path) ? -errno : 0;
}

static int server_listen(struct ctl_server *srv, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    mode_t old;
    int ret;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
                 sizeof(addr.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(addr.sun_path, path);
    ret = server_path_claim(&addr, err, errlen);
    if (ret)
        return ret;
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->listen_fd < 0)
        return -errno;
    /* Called before any other thread exists, so the umask change is safe. */
    old = umask(0177);
    ret = bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    if (ret < 0 || chmod(path, 0600) < 0 || listen(srv->listen_fd, 16) < 0)
        return -errno;
    strcpy(srv->path, path);
    return 0;
}

int ctl_server_open(struct ctl_server **out, const char *path, struct evloop *loop,
                    char *err, size_t errlen)
{
    struct ctl_server *srv = calloc(1, sizeof(*srv));
    int ret;

    if (!srv)
        return -ENOMEM;
    err[0] = '\0';
    srv->loop = loop;
    srv->listen_fd = srv->event_fd = -1;
    ret = server_listen(srv, path, err, errlen);
    if (ret) {
        if (!err[0])
            snprintf(err, errlen, "control socket %s: %s", path, strerror(-ret));
        goto out_close;
    }
    srv->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->event_fd < 0 ||
        evloop_add_fd(loop, srv->listen_fd, EPOLLIN, server_accept, srv) ||
        evloop_add_fd(loop, srv->event_fd, EPOLLIN, server_events, srv)) {
        ret = -EIO;
        snprintf(err, errlen, "control socket %s: cannot watch it", path);
        goto out_close;
    }
    pthread_mutex_lock(&event_lock);
    event_fd = srv->event_fd;
    pthread_mutex_unlock(&event_lock);
    *out = srv;
    return 0;

out_close:
    ctl_server_close(srv);
    return ret;
}

void ctl_server_set_supervisor(struct ctl_server *srv, struct supervisor *sup)
{
    srv->sup = sup;
}

/* Give clients a moment to read what is queued for them. */
static void server_drain(struct ctl_server *srv)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        struct ctl_client *c = srv->clients[i];

        while (c && c->out_len) {
            struct pollfd p = { .fd = c->fd, .events = POLLOUT };
            long ms;

            clock_gettime(CLOCK_MONOTONIC, &now);
            ms = CTL_FLUSH_MS - ((now.tv_sec - start.tv_sec) * 1000 +
                                 (now.tv_nsec - start.tv_nsec) / 1000000);
            if (ms <= 0 || poll(&p, 1, (int)ms) <= 0 || (p.revents & (POLLERR | POLLHUP)))
                break;
            client_flush(c);
        }
    }
}

void ctl_server_close(struct ctl_server *srv)
{
    if (!srv)
        return;
    if (srv->event_fd >= 0) {
        server_events(srv, EPOLLIN);
        pthread_mutex_lock(&event_lock);
        event_fd = -1;
        pthread_mutex_unlock(&event_lock);
    }
    server_drain(srv);
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (srv->clients[i])
            client_close(srv->clients[i]);
    if (srv->listen_fd >= 0) {
        evloop_del_fd(srv->loop, srv->listen_fd);
        close(srv->listen_fd);
        if (srv->path[0])
            unlink(srv->path);
    }
    if (srv->event_fd >= 0) {
        evloop_del_fd(srv->loop, srv->event_fd);
        close(srv->event_fd);
    }
    free(srv);
}
