#include "ctl/qmp_reader.h"

#include <string.h>

void qmp_reader_init(struct qmp_reader *r)
{
    r->len = 0;
    r->depth = 0;
    r->in_string = r->escape = r->discard = false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Drop the message in progress and skip to the end of the line. */
static enum qmp_read_result reader_fail(struct qmp_reader *r, enum qmp_read_result why, char c)
{
    qmp_reader_init(r);
    r->discard = c != '\n';
    return why;
}

/* Track strings and brackets; true when c closes the message. */
static bool reader_track(struct qmp_reader *r, char c)
{
    if (r->in_string) {
        if (r->escape)
            r->escape = false;
        else if (c == '\\')
            r->escape = true;
        else if (c == '"')
            r->in_string = false;
        return false;
    }
    if (c == '"') {
        r->in_string = true;
    } else if (c == '{' || c == '[') {
        r->depth++;
    } else if (c == '}' || c == ']') {
        r->depth--;
        return r->depth == 0;
    }
    return false;
}

enum qmp_read_result qmp_reader_feed(struct qmp_reader *r, const char *data, size_t n,
                                     size_t *pos, const char **msg, size_t *len)
{
    while (*pos < n) {
        char c = data[(*pos)++];

        if (r->discard) {
            r->discard = c != '\n';
            continue;
        }
        if (r->len == 0) {
            if (is_space(c))
                continue;
            if (c != '{' && c != '[')
                return reader_fail(r, QMP_READ_JUNK, c);
        }
        if (r->len == QMP_MSG_MAX)
            return reader_fail(r, QMP_READ_TOO_LONG, c);
        r->buf[r->len++] = c;
        if (reader_track(r, c)) {
            *msg = r->buf;
            *len = r->len;
            r->len = 0;
            return QMP_READ_MESSAGE;
        }
        if (r->depth > QMP_DEPTH_MAX)
            return reader_fail(r, QMP_READ_TOO_DEEP, c);
    }
    return QMP_READ_MORE;
}
