/* Helpers shared by the spec parsers (spec.c, spec_dev.c, spec_net.c,
 * spec_sched.c): one-line errors that name the JSON path or the flag. */
#ifndef KVMM_SPEC_JSON_H
#define KVMM_SPEC_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* Write "LABEL: message" into err; returns -EINVAL. */
int spec_fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "LABEL: expected WHAT, got <a description of v>"; returns -EINVAL. */
int spec_json_fail_expected(const char *expected, const struct cJSON *v, const char *label,
			    char *err, size_t errlen);
/* Does a member of obj before item have the same key? */
bool spec_json_key_repeated(const struct cJSON *obj, const struct cJSON *item);

#endif
