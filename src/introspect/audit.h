/* Audit log: one JSON object per line, appended to a file, rate-limited
 * by a token bucket with a count of the records it dropped. */
#ifndef KVMM_INTROSPECT_AUDIT_H
#define KVMM_INTROSPECT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct cJSON;

/* Token bucket: `rate` tokens a second, at most `burst` saved up. */
struct ratelimit {
    uint64_t rate, burst;
    uint64_t tokens_milli;      /* thousandths of a token */
    uint64_t last_ns;
    uint64_t dropped;           /* refused since the start */
};

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* true: go ahead; false: refused (counted in dropped).  rate 0 = no limit. */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns);

struct audit;

/* path NULL: records are counted but go nowhere. */
int audit_open(struct audit **out, const char *path, uint64_t rate, uint64_t burst) WUR;
void audit_close(struct audit *a);
/* Add "time", "vm" and, past drops, "dropped" to rec (consumed) and write
 * it as one line.  Thread-safe.  0, -EAGAIN (rate-limited), -errno. */
int audit_write(struct audit *a, const char *vm, struct cJSON *rec);
uint64_t audit_written(struct audit *a);
uint64_t audit_dropped(struct audit *a);

#endif
