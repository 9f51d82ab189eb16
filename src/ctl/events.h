/* Asynchronous QMP events.  Any thread may post; the control server
 * delivers them, in order, to every client past negotiation.  Without a
 * control server events are dropped. */
#ifndef KVMM_CTL_EVENTS_H
#define KVMM_CTL_EVENTS_H

#include <stdbool.h>

struct cJSON;

/* Post event `name` with `data` (an object, consumed; NULL for none).
 * vm, when not NULL, is added to data as "vm". */
void ctl_event_post(const char *name, const char *vm, struct cJSON *data);

/* The common forms: SHUTDOWN and RESET carry guest + reason. */
void ctl_event_post_reason(const char *name, const char *vm, bool guest, const char *reason);

#endif
