#include "ctl/qmp_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_json.h"

#define QMP_LABEL_LEN 256   /* a JSON path in a message */

static bool json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF); 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80;
        hi = s[0] == 0xed ? 0x9f : 0xbf;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

void qmp_json_utf8_repair(char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(u + i, len - i);

        if (n)
            i += n;
        else
            s[i++] = '?';
    }
}

/* Walk the string after the quote at s[*i - 1] up to its closing quote
 * (*i ends past it); returns why it is not valid JSON, or NULL.  *nul is
 * set when it holds U+0000, raw or escaped. */
static const char *text_string(const unsigned char *s, size_t len, size_t *i, bool *nul)
{
    while (*i < len) {
        unsigned char c = s[(*i)++];
        size_t n;

        if (c == '"')
            return NULL;
        if (c == '\\') {
            if (len - *i >= 5 && !memcmp(s + *i, "u0000", 5))
                *nul = true;
            (*i)++;     /* the escaped character; \u's digits are plain */
        } else if (c == 0) {
            *nul = true;
        } else if (c < 0x20) {
            return "control character in a string";
        } else if (c >= 0x80) {
            n = utf8_seq_len(s + *i - 1, len - *i + 1);
            if (!n)
                return "invalid UTF-8 in a string";
            *i += n - 1;
        }
    }
    return NULL;    /* unterminated: the parser says so */
}

/* What cJSON accepts but JSON does not; *nul is the ordinal (in text
 * order, keys and values alike) of the first string holding U+0000, or
 * -1. */
static const char *text_check(const char *text, size_t len, long *nul)
{
    const unsigned char *s = (const unsigned char *)text;
    long strings = 0;
    size_t i = 0;

    *nul = -1;
    while (i < len) {
        unsigned char c = s[i++];
        bool has_nul = false;
        const char *bad;

        if (c < 0x20 && !json_space(c))
            return "control character outside a string";
        if (c != '"')
            continue;
        bad = text_string(s, len, &i, &has_nul);
        if (bad)
            return bad;
        if (has_nul && *nul < 0)
            *nul = strings;
        strings++;
    }
    return NULL;
}

/* Visit v's strings in text order (cJSON keeps it), counting them in
 * *strings to find ordinal nul; refuse repeated keys at any depth. */
static int tree_check(const cJSON *v, const char *label, long *strings, long nul, char *err,
                      size_t errlen)
{
    char sub[QMP_LABEL_LEN];
    const cJSON *m;
    size_t index = 0;
    int ret;

    if (cJSON_IsString(v) && (*strings)++ == nul)
        return spec_fail(err, errlen, label, "strings must not contain U+0000");
    cJSON_ArrayForEach(m, v) {
        if (cJSON_IsObject(v)) {
            spec_path_join(sub, sizeof(sub), label, m->string);
            if ((*strings)++ == nul)
                return spec_fail(err, errlen, sub, "keys must not contain U+0000");
            if (spec_json_key_repeated(v, m))
                return spec_fail(err, errlen, sub, "duplicate key");
        } else {
            snprintf(sub, sizeof(sub), "%s[%zu]", label, index++);
        }
        ret = tree_check(m, sub, strings, nul, err, errlen);
        if (ret)
            return ret;
    }
    return 0;
}

int qmp_json_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    long nul, strings = 0;
    const char *bad;
    cJSON *root;
    int ret;

    *out = NULL;
    bad = text_check(text, len, &nul);
    if (bad) {
        snprintf(err, errlen, "JSON parse error: %s", bad);
        return -EINVAL;
    }
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        snprintf(err, errlen, "JSON parse error");
        return -EINVAL;
    }
    ret = tree_check(root, "", &strings, nul, err, errlen);
    if (!ret && nul >= 0)   /* not met on the walk: refuse all the same */
        ret = spec_fail(err, errlen, "(root)", "strings must not contain U+0000");
    if (ret) {
        cJSON_Delete(root);
        return ret;
    }
    *out = root;
    return 0;
}

/* Copy to out the value of the index-th member of the object in text,
 * without whitespace outside strings; returns its length. */
static size_t member_text(const char *text, size_t len, size_t index, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t depth = 0, member = 0, n = 0, i = 0;
    bool copying = false, nul;

    while (i < len) {
        size_t start = i;
        unsigned char c = s[i++];

        if (c == '"') {
            if (text_string(s, len, &i, &nul))
                return 0;
            if (copying) {
                memcpy(out + n, text + start, i - start);
                n += i - start;
            }
            continue;
        }
        if (depth == 1 && (c == ',' || c == '}')) {
            if (copying || c == '}')
                break;
            member++;
            continue;
        }
        if (depth == 1 && c == ':') {
            copying = member == index;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        if (copying && !json_space(c))
            out[n++] = (char)c;
    }
    return n;
}

cJSON *qmp_json_member_raw(const char *text, size_t len, const cJSON *root, const char *key)
{
    const cJSON *m;
    size_t index = 0, n;
    cJSON *item;
    char *buf;

    if (!cJSON_IsObject(root))
        return NULL;
    for (m = root->child; m && strcmp(m->string, key); m = m->next)
        index++;
    if (!m)
        return NULL;
    buf = malloc(len + 1);
    if (!buf)
        return cJSON_Duplicate(m, true);
    n = member_text(text, len, index, buf);
    buf[n] = '\0';
    item = n ? cJSON_CreateRaw(buf) : cJSON_Duplicate(m, true);
    free(buf);
    return item;
}
