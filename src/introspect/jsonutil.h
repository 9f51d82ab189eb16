/* Small helpers shared by the introspection parsers: error messages with
 * the JSON path, duplicate keys, reading a bounded file. */
#ifndef KVMM_INTROSPECT_JSONUTIL_H
#define KVMM_INTROSPECT_JSONUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include "types.h"

struct cJSON;

#define JS_LABEL_MAX 128

/* "label: message" into err; returns -EINVAL. */
int js_fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "label: expected WHAT, got VALUE"; returns -EINVAL. */
int js_fail_expected(char *err, size_t errlen, const char *label, const char *what,
                     const struct cJSON *got);
void js_label(char *dst, size_t len, const char *prefix, const char *key);
bool js_key_repeated(const struct cJSON *obj, const struct cJSON *item);
/* The whole file, NUL-terminated, at most max bytes: 0 or -errno. */
int js_file_read(const char *path, char **out, size_t max) WUR;
/* "0x..." or a decimal string to a 64-bit value: 0 or -EINVAL. */
int js_u64_parse(const char *s, uint64_t *out) WUR;

#endif
