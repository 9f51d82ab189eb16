/* Helpers shared by the spec parsers (spec.c, spec_dev.c, spec_net.c,
 * spec_sched.c, spec_fc.c) and the control socket's message checks
 * (ctl/qmp_json.c): one-line errors that name the JSON path or the flag,
 * and strict reading of JSON text. */
#ifndef KVMM_SPEC_JSON_H
#define KVMM_SPEC_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

struct cJSON;

/* Write "LABEL: message" into err; returns -EINVAL. */
int spec_fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "LABEL: expected WHAT, got <a description of v>"; returns -EINVAL. */
int spec_json_fail_expected(const char *expected, const struct cJSON *v, const char *label,
			    char *err, size_t errlen);
/* Does a member of obj before item have the same key? */
bool spec_json_key_repeated(const struct cJSON *obj, const struct cJSON *item);
/* Set one VM field from its JSON value, with a spec file's types, ranges
 * and messages; relative paths are joined to base_dir unless it is NULL. */
int spec_json_field_set(struct vm_spec *vm, enum vm_field field, const struct cJSON *v,
			const char *base_dir, const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* `s` itself if it prints on one line, else quoted into buf. */
const char *spec_show(const char *s, char *buf, size_t len);
/* prefix "" + key "a" -> "a"; prefix "vms[1]" + key "a" -> "vms[1].a"; an
 * unusual key is quoted and shortened. */
void spec_path_join(char *dst, size_t len, const char *prefix, const char *key);
/*
 * Parse json[0..len) as one JSON value with nothing but white space after
 * it.  A string (key or value) holding U+0000 is refused under its path,
 * since the C strings cJSON hands out would end there.  Returns the root
 * (free it with cJSON_Delete), or NULL with err set under `label` ("" for
 * a document): "LABEL: invalid JSON at line 3, column 7".
 */
struct cJSON *spec_json_parse(const char *json, size_t len, const char *label, char *err,
			      size_t errlen) __attribute__((warn_unused_result));

#endif
