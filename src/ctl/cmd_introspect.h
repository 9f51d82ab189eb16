/* Control commands of the introspection engine (x-introspect-*); the
 * command table in commands.c calls them for a live VM.  Each returns the
 * reply's "return" value, or NULL with err set. */
#ifndef KVMM_CTL_CMD_INTROSPECT_H
#define KVMM_CTL_CMD_INTROSPECT_H

#include <stddef.h>

struct cJSON;
struct vm;

struct cJSON *ctl_isp_set_policy(struct vm *vm, const struct cJSON *args, char *err, size_t errlen);
struct cJSON *ctl_isp_mode(struct vm *vm, const struct cJSON *args, char *err, size_t errlen);
struct cJSON *ctl_isp_check_text(struct vm *vm, const struct cJSON *args, char *err, size_t errlen);
struct cJSON *ctl_isp_stats(struct vm *vm, const struct cJSON *args, char *err, size_t errlen);

#endif
