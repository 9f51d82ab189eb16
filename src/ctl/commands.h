/* QMP commands: argument checking and the handlers.  The server owns the
 * connection state (negotiation); everything else is here. */
#ifndef KVMM_CTL_COMMANDS_H
#define KVMM_CTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct supervisor;

struct ctl_error {
    const char *cls;        /* "GenericError", "CommandNotFound", ... */
    char desc[256];
};

/* Run command `name`; returns the "return" value, or NULL with err set. */
struct cJSON *ctl_command_run(struct supervisor *sup, const char *name,
                              const struct cJSON *args, struct ctl_error *err);
bool ctl_command_exists(const char *name);
/* The value of query-version (also in the greeting). */
struct cJSON *ctl_version_json(void);

#endif
