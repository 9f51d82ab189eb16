#include "ctl/client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_MS 30000
#define CLIENT_LINE_MAX (16u << 20)

static const char usage[] =
    "Usage: kvmm ctl [--json] SOCKET COMMAND [KEY=VALUE...]\n"
    "\n"
    "Send one QMP command to the kvmm serving SOCKET (kvmm run --control)\n"
    "and print the reply.  Each KEY=VALUE becomes an argument; VALUE is\n"
    "taken as JSON when it parses as JSON (42, true, [0,1], {\"a\":1}) and\n"
    "as a string otherwise.  vm=NAME names the VM.\n"
    "\n"
    "  --json      print the raw JSON reply\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 on success, 1 on an error reply or when the socket does\n"
    "not answer, 2 on a usage error.  Commands: docs/control.md, or\n"
    "  kvmm ctl SOCKET query-commands\n";

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static int conn_open(struct conn *c, const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "kvmm ctl: %s: socket path too long\n", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "kvmm ctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The next line from the server, parsed; NULL on EOF, timeout or junk. */
static cJSON *conn_read(struct conn *c)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        ssize_t n;

        if (nl) {
            cJSON *msg = cJSON_ParseWithLength(c->buf, (size_t)(nl - c->buf));

            c->len -= (size_t)(nl + 1 - c->buf);
            memmove(c->buf, nl + 1, c->len);
            if (!msg)
                fprintf(stderr, "kvmm ctl: the server sent invalid JSON\n");
            return msg;
        }
        if (c->len == c->cap) {
            char *b = c->cap < CLIENT_LINE_MAX ? realloc(c->buf, c->cap ? c->cap * 2 : 65536) : NULL;

            if (!b) {
                fprintf(stderr, "kvmm ctl: reply too long\n");
                return NULL;
            }
            c->buf = b;
            c->cap = c->cap ? c->cap * 2 : 65536;
        }
        if (poll(&p, 1, CLIENT_TIMEOUT_MS) <= 0) {
            fprintf(stderr, "kvmm ctl: no answer within %d s\n", CLIENT_TIMEOUT_MS / 1000);
            return NULL;
        }
        n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n <= 0) {
            fprintf(stderr, "kvmm ctl: the server closed the connection\n");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

static int conn_send(struct conn *c, cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    size_t len, done = 0;

    if (!text)
        return -1;
    len = strlen(text);
    text[len] = '\n';   /* replaces the terminator; we send len + 1 bytes */
    while (done < len + 1) {
        ssize_t n = send(c->fd, text + done, len + 1 - done, MSG_NOSIGNAL);

        if (n <= 0) {
            fprintf(stderr, "kvmm ctl: send: %s\n", strerror(errno));
            free(text);
            return -1;
        }
        done += (size_t)n;
    }
    free(text);
    return 0;
}

/* The reply to what we sent: events that come first are skipped. */
static cJSON *conn_reply(struct conn *c)
{
    for (;;) {
        cJSON *msg = conn_read(c);

        if (!msg || !cJSON_HasObjectItem(msg, "event"))
            return msg;
        cJSON_Delete(msg);
    }
}

static void print_scalar(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        printf("%s", v->valuestring);
    } else {
        char *t = cJSON_PrintUnformatted(v);

        printf("%s", t ? t : "?");
        free(t);
    }
}

static bool is_scalar_list(const cJSON *v)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, v)
        if (cJSON_IsObject(e) || cJSON_IsArray(e))
            return false;
    return true;
}

/* A readable form: "key: value" lines, indented per level. */
static void print_value(const cJSON *v, int indent)
{
    const cJSON *e;
    int i = 0;

    if (cJSON_IsArray(v) && is_scalar_list(v)) {
        cJSON_ArrayForEach(e, v) {
            printf("%s", i++ ? ", " : "");
            print_scalar(e);
        }
        printf("\n");
        return;
    }
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
        print_scalar(v);
        printf("\n");
        return;
    }
    if (indent || cJSON_IsArray(v))
        printf("\n");
    cJSON_ArrayForEach(e, v) {
        if (cJSON_IsArray(v))
            printf("%*s[%d]", indent, "", i++);
        else
            printf("%*s%s:", indent, "", e->string);
        if (cJSON_IsObject(e) || (cJSON_IsArray(e) && !is_scalar_list(e))) {
            print_value(e, indent + 2);
        } else {
            printf(" ");
            print_value(e, indent + 2);
        }
    }
}

static int print_reply(const cJSON *reply, bool raw)
{
    const cJSON *ret = cJSON_GetObjectItemCaseSensitive(reply, "return");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");

    if (raw) {
        char *t = cJSON_PrintUnformatted(reply);

        printf("%s\n", t ? t : "");
        free(t);
    } else if (err) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(err, "class");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(err, "desc");

        fprintf(stderr, "error (%s): %s\n", cJSON_IsString(cls) ? cls->valuestring : "?",
                cJSON_IsString(desc) ? desc->valuestring : "?");
    } else if (ret && ((cJSON_IsObject(ret) && !ret->child) || cJSON_IsNull(ret))) {
        printf("OK\n");
    } else if (ret) {
        print_value(ret, 0);
    }
    return err || !ret ? 1 : 0;
}

/* KEY=VALUE arguments into an object; NULL (message printed) on a bad one. */
static cJSON *build_args(int argc, char **argv)
{
    cJSON *args = cJSON_CreateObject();

    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        cJSON *v;

        if (!eq || eq == argv[i]) {
            fprintf(stderr, "kvmm ctl: '%s': expected KEY=VALUE\n", argv[i]);
            cJSON_Delete(args);
            return NULL;
        }
        *eq = '\0';
        v = strcmp(argv[i], "vm") ? cJSON_Parse(eq + 1) : NULL;
        if (!v)
            v = cJSON_CreateString(eq + 1);
        cJSON_DeleteItemFromObjectCaseSensitive(args, argv[i]);
        cJSON_AddItemToObject(args, argv[i], v);
    }
    return args;
}

static int negotiate(struct conn *c)
{
    cJSON *greeting = conn_read(c), *cmd, *reply;
    bool ok;

    if (!greeting || !cJSON_HasObjectItem(greeting, "QMP")) {
        fprintf(stderr, "kvmm ctl: no QMP greeting\n");
        cJSON_Delete(greeting);
        return -1;
    }
    cJSON_Delete(greeting);
    cmd = cJSON_CreateObject();
    cJSON_AddStringToObject(cmd, "execute", "qmp_capabilities");
    ok = !conn_send(c, cmd);
    cJSON_Delete(cmd);
    reply = ok ? conn_reply(c) : NULL;
    ok = reply && cJSON_HasObjectItem(reply, "return");
    if (reply && !ok)
        print_reply(reply, false);
    cJSON_Delete(reply);
    return ok ? 0 : -1;
}

int ctl_client_main(int argc, char **argv)
{
    struct conn c = { .fd = -1 };
    bool raw = false;
    cJSON *cmd, *args, *reply;
    int i = 1, status = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--json")) {
            raw = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "kvmm ctl: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (argc - i < 2) {
        fputs(usage, stderr);
        return 2;
    }
    args = build_args(argc - i - 2, argv + i + 2);
    if (!args)
        return 2;
    cmd = cJSON_CreateObject();
    cJSON_AddStringToObject(cmd, "execute", argv[i + 1]);
    if (args->child)
        cJSON_AddItemToObject(cmd, "arguments", args);
    else
        cJSON_Delete(args);
    if (!conn_open(&c, argv[i]) && !negotiate(&c) && !conn_send(&c, cmd)) {
        reply = conn_reply(&c);
        if (reply)
            status = print_reply(reply, raw);
        cJSON_Delete(reply);
    }
    cJSON_Delete(cmd);
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    return status;
}
