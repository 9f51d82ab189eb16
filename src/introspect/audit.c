#include "introspect/audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst ? burst : rate;
    rl->tokens_milli = rl->burst * 1000;
    rl->last_ns = now_ns;
}

bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns)
{
    uint64_t cap = rl->burst * 1000;

    if (!rl->rate)
        return true;
    if (now_ns > rl->last_ns) {
        /* rate tokens/s = rate milli-tokens per ms; in microseconds, and
         * capped first so a long pause cannot overflow. */
        uint64_t us = (now_ns - rl->last_ns) / 1000;
        uint64_t fill_us = cap * 1000 / rl->rate + 1;
        uint64_t add = us >= fill_us ? cap : us * rl->rate / 1000;

        rl->tokens_milli = rl->tokens_milli + add > cap ? cap : rl->tokens_milli + add;
        rl->last_ns += us * 1000;
    }
    if (rl->tokens_milli >= 1000) {
        rl->tokens_milli -= 1000;
        return true;
    }
    rl->dropped++;
    return false;
}

struct audit {
    pthread_mutex_t lock;
    int fd;
    struct ratelimit rl;
    uint64_t written, dropped_reported;
};

static uint64_t now_ns(int clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int audit_open(struct audit **out, const char *path, uint64_t rate, uint64_t burst)
{
    struct audit *a = calloc(1, sizeof(*a));

    if (!a)
        return -ENOMEM;
    a->fd = -1;
    if (path) {
        a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (a->fd < 0) {
            int ret = -errno;

            free(a);
            return ret;
        }
    }
    pthread_mutex_init(&a->lock, NULL);
    ratelimit_init(&a->rl, rate, burst, now_ns(CLOCK_MONOTONIC));
    *out = a;
    return 0;
}

void audit_close(struct audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static void audit_time(char *t, size_t len)
{
    uint64_t ns = now_ns(CLOCK_REALTIME);
    time_t s = (time_t)(ns / 1000000000ULL);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(t, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ns % 1000000000ULL / 1000));
}

/* {"time":...,"vm":...,<rec's members>}\n, time and vm first for readers. */
static char *audit_line(const char *vm, const cJSON *rec, size_t *len)
{
    cJSON *name = cJSON_CreateString(vm ? vm : "");
    char *body = cJSON_PrintUnformatted(rec), *vm_json = cJSON_PrintUnformatted(name);
    char t[96], *line = NULL;
    int n;

    cJSON_Delete(name);
    audit_time(t, sizeof(t));
    if (body && vm_json && body[0] == '{') {
        n = asprintf(&line, "{\"time\":\"%s\",\"vm\":%s%s%s\n", t, vm_json,
                     body[1] == '}' ? "" : ",", body + 1);
        if (n < 0)
            line = NULL;
        else
            *len = (size_t)n;
    }
    free(body);
    free(vm_json);
    return line;
}

int audit_write(struct audit *a, const char *vm, cJSON *rec)
{
    char *line;
    size_t len = 0;
    int ret = 0;

    pthread_mutex_lock(&a->lock);
    if (!ratelimit_take(&a->rl, now_ns(CLOCK_MONOTONIC))) {
        pthread_mutex_unlock(&a->lock);
        cJSON_Delete(rec);
        return -EAGAIN;
    }
    if (a->rl.dropped > a->dropped_reported) {
        cJSON_AddNumberToObject(rec, "dropped", (double)(a->rl.dropped - a->dropped_reported));
        a->dropped_reported = a->rl.dropped;
    }
    line = audit_line(vm, rec, &len);
    cJSON_Delete(rec);
    if (!line) {
        pthread_mutex_unlock(&a->lock);
        return -ENOMEM;
    }
    if (a->fd >= 0 && write(a->fd, line, len) != (ssize_t)len)
        ret = -EIO;
    a->written++;
    pthread_mutex_unlock(&a->lock);
    free(line);
    return ret;
}

uint64_t audit_written(struct audit *a)
{
    uint64_t v;

    pthread_mutex_lock(&a->lock);
    v = a->written;
    pthread_mutex_unlock(&a->lock);
    return v;
}

uint64_t audit_dropped(struct audit *a)
{
    uint64_t v;

    pthread_mutex_lock(&a->lock);
    v = a->rl.dropped;
    pthread_mutex_unlock(&a->lock);
    return v;
}
