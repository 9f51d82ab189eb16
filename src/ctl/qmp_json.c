#include "ctl/qmp_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * (*i ends past it); returns why it is not valid JSON, or NULL. */
static const char *text_string(const unsigned char *s, size_t len, size_t *i)
{
    while (*i < len) {
        unsigned char c = s[(*i)++];
        size_t n;

        if (c == '"')
            return NULL;
        if (c == '\\') {
            (*i)++;     /* the escaped character */
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

/* What cJSON accepts but JSON does not. */
static const char *text_check(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i++];
        const char *bad;

        if (c < 0x20 && !json_space(c))
            return "control character outside a string";
        if (c != '"')
            continue;
        bad = text_string(s, len, &i);
        if (bad)
            return bad;
    }
    return NULL;
}

int qmp_json_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    const char *bad = text_check(text, len);

    *out = NULL;
    if (bad) {
        snprintf(err, errlen, "JSON parse error: %s", bad);
        return -EINVAL;
    }
    *out = cJSON_ParseWithLength(text, len);
    if (!*out) {
        snprintf(err, errlen, "JSON parse error");
        return -EINVAL;
    }
    return 0;
}
