/* Splits a QMP byte stream into messages without parsing them: a message
 * is one top-level JSON object (or array), found by counting brackets
 * outside strings.  Size and nesting are bounded here, before any parser
 * sees the text; after an error the reader skips to the next newline. */
#ifndef KVMM_CTL_QMP_READER_H
#define KVMM_CTL_QMP_READER_H

#include <stdbool.h>
#include <stddef.h>

#define QMP_MSG_MAX   (64 * 1024)   /* bytes in one message */
#define QMP_DEPTH_MAX 32            /* nested objects and arrays */

enum qmp_read_result {
    QMP_READ_MORE,       /* need more bytes */
    QMP_READ_MESSAGE,    /* msg/len hold one complete message */
    QMP_READ_TOO_LONG,   /* message over QMP_MSG_MAX: dropped */
    QMP_READ_TOO_DEEP,   /* nesting over QMP_DEPTH_MAX: dropped */
    QMP_READ_JUNK,       /* bytes outside any message: dropped */
};

struct qmp_reader {
    char buf[QMP_MSG_MAX];
    size_t len;
    unsigned depth;
    bool in_string, escape, discard;
};

void qmp_reader_init(struct qmp_reader *r);
/* Consume bytes from data[*pos..n) until a message or an error is found
 * (advancing *pos past it) or the input runs out.  The message stays valid
 * until the next call. */
enum qmp_read_result qmp_reader_feed(struct qmp_reader *r, const char *data, size_t n,
                                     size_t *pos, const char **msg, size_t *len);

#endif
