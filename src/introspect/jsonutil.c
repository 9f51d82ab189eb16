#include "introspect/jsonutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int js_fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", label, msg);
    return -EINVAL;
}

static void js_describe(const cJSON *v, char *buf, size_t len)
{
    if (!v)
        snprintf(buf, len, "nothing");
    else if (cJSON_IsString(v))
        snprintf(buf, len, "\"%.40s\"", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, len, "%g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, len, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, len, "an array");
    else
        snprintf(buf, len, "an object");
}

int js_fail_expected(char *err, size_t errlen, const char *label, const char *what,
                     const cJSON *got)
{
    char d[64];

    js_describe(got, d, sizeof(d));
    return js_fail(err, errlen, label, "expected %s, got %s", what, d);
}

void js_label(char *dst, size_t len, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(dst, len, "%s.%s", prefix, key);
    else
        snprintf(dst, len, "%s", key);
}

bool js_key_repeated(const cJSON *obj, const cJSON *item)
{
    for (const cJSON *v = obj->child; v && v != item; v = v->next)
        if (v->string && !strcmp(v->string, item->string))
            return true;
    return false;
}

int js_file_read(const char *path, char **out, size_t max)
{
    FILE *f = fopen(path, "re");
    struct stat st = { 0 };
    char *buf;
    size_t n;

    if (!f)
        return -errno;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        fclose(f);
        return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return -EIO;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    return 0;
}

int js_u64_parse(const char *s, uint64_t *out)
{
    char *end;

    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || *end ? -EINVAL : 0;
}
