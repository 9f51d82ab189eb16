/* One QMP message as JSON, strictly: what cJSON lets through is refused
 * here (raw control characters and invalid UTF-8 in strings, U+0000,
 * which would cut a string short, repeated keys), and the "id" is kept as
 * the client wrote it, so that the reply echoes it exactly. */
#ifndef KVMM_CTL_QMP_JSON_H
#define KVMM_CTL_QMP_JSON_H

#include <stddef.h>

#include "types.h"

struct cJSON;

/* Parse text[0..len); on failure *out is NULL and err holds the reason
 * ("JSON parse error...", or "PATH: duplicate key" and the like). */
int qmp_json_parse(const char *text, size_t len, struct cJSON **out, char *err,
                   size_t errlen) WUR;
/* The value of root's member key as a raw item holding its text in text
 * (the message root was parsed from), without whitespace outside strings;
 * NULL when root has no such member. */
struct cJSON *qmp_json_member_raw(const char *text, size_t len, const struct cJSON *root,
                                  const char *key);
/* Replace every byte of s[0..len) that is not part of a valid UTF-8
 * sequence by '?'. */
void qmp_json_utf8_repair(char *s, size_t len);

#endif
