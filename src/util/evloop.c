#include "util/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define EVLOOP_MAX_WATCHES 64
#define EVLOOP_MAX_DEADLINES 64

struct watch {
    int fd;
    evloop_cb cb;
    void *opaque;
    bool owned;     /* close fd on destroy (timers) */
};

struct evloop {
    int epfd;
    int stopfd;
    atomic_bool stop;
    pthread_mutex_t lock;   /* pause handshake */
    pthread_cond_t cond;
    bool pause, parked;
    struct watch watches[EVLOOP_MAX_WATCHES];
    struct deadline {
        evloop_cb cb;
        void *opaque;
        uint64_t at;        /* monotonic ns; 0 = not armed */
    } deadlines[EVLOOP_MAX_DEADLINES];
    unsigned ndeadlines;
};

int evloop_create(struct evloop **out)
{
    struct evloop *loop = calloc(1, sizeof(*loop));
    struct epoll_event ev = { .events = EPOLLIN };
    int ret;

    if (!loop)
        return -ENOMEM;
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++)
        loop->watches[i].fd = -1;
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->cond, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto out_errno;
    loop->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->stopfd < 0)
        goto out_close_ep;
    ev.data.ptr = NULL;   /* NULL marks the stop eventfd */
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stopfd, &ev) < 0)
        goto out_close_stop;
    *out = loop;
    return 0;

out_close_stop:
    ret = -errno;
    close(loop->stopfd);
    close(loop->epfd);
    free(loop);
    return ret;
out_close_ep:
    ret = -errno;
    close(loop->epfd);
    free(loop);
    return ret;
out_errno:
    ret = -errno;
    free(loop);
    return ret;
}

void evloop_destroy(struct evloop *loop)
{
    if (!loop)
        return;
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++)
        if (loop->watches[i].fd >= 0 && loop->watches[i].owned)
            close(loop->watches[i].fd);
    close(loop->stopfd);
    close(loop->epfd);
    pthread_mutex_destroy(&loop->lock);
    pthread_cond_destroy(&loop->cond);
    free(loop);
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++) {
        struct watch *w = &loop->watches[i];
        struct epoll_event ev = { .events = events, .data.ptr = w };

        if (w->fd >= 0)
            continue;
        *w = (struct watch){ fd, cb, opaque, false };
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            w->fd = -1;
            return -errno;
        }
        return 0;
    }
    return -ENOSPC;
}

int evloop_del_fd(struct evloop *loop, int fd)
{
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++) {
        if (loop->watches[i].fd == fd) {
            loop->watches[i].fd = -1;
            return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) ? -errno : 0;
        }
    }
    return -ENOENT;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++) {
        struct epoll_event ev = { .events = events, .data.ptr = &loop->watches[i] };

        if (loop->watches[i].fd == fd)
            return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
    }
    return -ENOENT;
}

int evloop_add_timer(struct evloop *loop, uint64_t period_ns, evloop_cb cb, void *opaque)
{
    struct itimerspec its = {
        .it_interval = { period_ns / 1000000000ULL, period_ns % 1000000000ULL },
        .it_value = { period_ns / 1000000000ULL, period_ns % 1000000000ULL },
    };
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int ret;

    if (fd < 0)
        return -errno;
    if (timerfd_settime(fd, 0, &its, NULL) < 0) {
        ret = -errno;
        goto out_close;
    }
    ret = evloop_add_fd(loop, fd, EPOLLIN, cb, opaque);
    if (ret)
        goto out_close;
    for (int i = 0; i < EVLOOP_MAX_WATCHES; i++)
        if (loop->watches[i].fd == fd)
            loop->watches[i].owned = true;
    return fd;

out_close:
    close(fd);
    return ret;
}

uint64_t evloop_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int evloop_deadline_add(struct evloop *loop, evloop_cb cb, void *opaque)
{
    if (loop->ndeadlines == EVLOOP_MAX_DEADLINES)
        return -ENOSPC;
    loop->deadlines[loop->ndeadlines] = (struct deadline){ cb, opaque, 0 };
    return (int)loop->ndeadlines++;
}

void evloop_deadline_arm(struct evloop *loop, int id, uint64_t delay_ns)
{
    struct deadline *d = &loop->deadlines[id];
    uint64_t at = evloop_now_ns() + delay_ns;

    if (!d->at || at < d->at)
        d->at = at;
}

void evloop_deadline_cancel(struct evloop *loop, int id)
{
    loop->deadlines[id].at = 0;
}

/* Run the expired deadlines; returns the earliest one still armed (0: none). */
static uint64_t evloop_deadlines_run(struct evloop *loop)
{
    uint64_t now = 0, next = 0;

    for (unsigned i = 0; i < loop->ndeadlines; i++) {
        struct deadline *d = &loop->deadlines[i];

        if (!d->at)
            continue;
        if (!now)
            now = evloop_now_ns();
        if (d->at <= now) {
            d->at = 0;
            d->cb(d->opaque, 0);
        }
    }
    for (unsigned i = 0; i < loop->ndeadlines; i++)
        if (loop->deadlines[i].at && (!next || loop->deadlines[i].at < next))
            next = loop->deadlines[i].at;
    return next;
}

static void evloop_wake(struct evloop *loop)
{
    uint64_t one = 1;

    if (write(loop->stopfd, &one, sizeof(one)) < 0)
        return;     /* counter full: a wake-up is pending anyway */
}

/* On the loop's thread: wait here while a pause is requested. */
static void evloop_park(struct evloop *loop)
{
    uint64_t v;

    if (read(loop->stopfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&loop->lock);
    while (loop->pause && !atomic_load(&loop->stop)) {
        loop->parked = true;
        pthread_cond_broadcast(&loop->cond);
        pthread_cond_wait(&loop->cond, &loop->lock);
    }
    loop->parked = false;
    pthread_mutex_unlock(&loop->lock);
}

void evloop_run(struct evloop *loop)
{
    struct epoll_event evs[16];

    while (!atomic_load(&loop->stop)) {
        uint64_t next = evloop_deadlines_run(loop), now;
        struct timespec ts = { 0, 0 };
        int n;

        if (next) {
            now = evloop_now_ns();
            if (next > now) {
                ts.tv_sec = (time_t)((next - now) / 1000000000ULL);
                ts.tv_nsec = (long)((next - now) % 1000000000ULL);
            }
        }
        n = epoll_pwait2(loop->epfd, evs, 16, next ? &ts : NULL, NULL);

        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;

            if (!w) {
                evloop_park(loop);
                continue;
            }
            if (w->fd < 0)
                continue;
            w->cb(w->opaque, evs[i].events);
        }
    }
}

void evloop_stop(struct evloop *loop)
{
    atomic_store(&loop->stop, true);
    pthread_mutex_lock(&loop->lock);
    pthread_cond_broadcast(&loop->cond);
    pthread_mutex_unlock(&loop->lock);
    evloop_wake(loop);
}

void evloop_pause(struct evloop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->pause = true;
    pthread_mutex_unlock(&loop->lock);
    evloop_wake(loop);
    pthread_mutex_lock(&loop->lock);
    while (!loop->parked && !atomic_load(&loop->stop))
        pthread_cond_wait(&loop->cond, &loop->lock);
    pthread_mutex_unlock(&loop->lock);
}

void evloop_resume(struct evloop *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->pause = false;
    pthread_cond_broadcast(&loop->cond);
    pthread_mutex_unlock(&loop->lock);
}
