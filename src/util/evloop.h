/* A small epoll event loop: one per VM, run by the VM's I/O thread.
 * Callbacks run on the loop's thread. */
#ifndef KVMM_UTIL_EVLOOP_H
#define KVMM_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include "types.h"

struct evloop;
typedef void (*evloop_cb)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out) WUR;
void evloop_destroy(struct evloop *loop);
/* Watch fd for `events` (EPOLLIN...). */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque) WUR;
int evloop_del_fd(struct evloop *loop, int fd);
/* Change the events watched on fd. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events) WUR;
/* A periodic timer (timerfd); returns its fd, owned by the loop. */
int evloop_add_timer(struct evloop *loop, uint64_t period_ns, evloop_cb cb, void *opaque) WUR;
/* One-shot deadlines without a file descriptor: the loop's wait ends at
 * the earliest armed one and runs its callback (events = 0).  Add returns
 * an id >= 0; arm and cancel only from the loop's thread (its callbacks).
 * Arming an armed deadline keeps the earlier expiry. */
int evloop_deadline_add(struct evloop *loop, evloop_cb cb, void *opaque) WUR;
void evloop_deadline_arm(struct evloop *loop, int id, uint64_t delay_ns);
void evloop_deadline_cancel(struct evloop *loop, int id);
uint64_t evloop_now_ns(void);
/* Run until evloop_stop(); safe to call evloop_stop from any thread. */
void evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);
/* Park the loop's thread between callbacks and return once it is parked
 * (no callback runs until evloop_resume).  From another thread only. */
void evloop_pause(struct evloop *loop);
void evloop_resume(struct evloop *loop);

#endif
