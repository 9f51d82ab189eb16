/* The QMP stream splitter: messages, strings with brackets, limits and
 * resynchronisation after an error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/qmp_reader.h"

static struct qmp_reader reader;

/* Feed all of text; record each result and message in order. */
static int feed(const char *text, size_t n, enum qmp_read_result *res, char msgs[][128], int max)
{
    size_t pos = 0;
    int k = 0;

    while (pos < n && k < max) {
        const char *m;
        size_t len;
        enum qmp_read_result r = qmp_reader_feed(&reader, text, n, &pos, &m, &len);

        if (r == QMP_READ_MORE)
            break;
        res[k] = r;
        msgs[k][0] = '\0';
        if (r == QMP_READ_MESSAGE)
            snprintf(msgs[k], 128, "%.*s", (int)len, m);
        k++;
    }
    return k;
}

static void test_two_messages_and_strings(void **state)
{
    const char *in = " {\"a\": \"}{[\\\"\"}\n{\"b\":\n [1, {\"c\": 2}]}";
    enum qmp_read_result r[4];
    char m[4][128];

    qmp_reader_init(&reader);
    assert_int_equal(feed(in, strlen(in), r, m, 4), 2);
    assert_int_equal(r[0], QMP_READ_MESSAGE);
    assert_string_equal(m[0], "{\"a\": \"}{[\\\"\"}");
    assert_int_equal(r[1], QMP_READ_MESSAGE);
    assert_string_equal(m[1], "{\"b\":\n [1, {\"c\": 2}]}");
}

static void test_split_across_reads(void **state)
{
    enum qmp_read_result r[2];
    char m[2][128];

    qmp_reader_init(&reader);
    assert_int_equal(feed("{\"exec", 6, r, m, 2), 0);
    assert_int_equal(feed("ute\": 1}", 8, r, m, 2), 1);
    assert_string_equal(m[0], "{\"execute\": 1}");
}

static void test_junk_resyncs_at_newline(void **state)
{
    const char *in = "garbage {\"x\": 1}\n{\"ok\": 1}";
    enum qmp_read_result r[4];
    char m[4][128];

    qmp_reader_init(&reader);
    assert_int_equal(feed(in, strlen(in), r, m, 4), 2);
    assert_int_equal(r[0], QMP_READ_JUNK);
    assert_int_equal(r[1], QMP_READ_MESSAGE);
    assert_string_equal(m[1], "{\"ok\": 1}");
}

static void test_too_deep(void **state)
{
    char in[128];
    enum qmp_read_result r[4];
    char m[4][128];
    int n;

    memset(in, '[', QMP_DEPTH_MAX + 1);
    n = QMP_DEPTH_MAX + 1;
    n += snprintf(in + n, sizeof(in) - n, "\n[1]");
    qmp_reader_init(&reader);
    assert_int_equal(feed(in, (size_t)n, r, m, 4), 2);
    assert_int_equal(r[0], QMP_READ_TOO_DEEP);
    assert_string_equal(m[1], "[1]");
    /* exactly the limit is fine */
    memset(in, '[', QMP_DEPTH_MAX);
    memset(in + QMP_DEPTH_MAX, ']', QMP_DEPTH_MAX);
    qmp_reader_init(&reader);
    assert_int_equal(feed(in, 2 * QMP_DEPTH_MAX, r, m, 4), 1);
    assert_int_equal(r[0], QMP_READ_MESSAGE);
}

static void test_too_long(void **state)
{
    size_t n = QMP_MSG_MAX + 100;
    char *in = malloc(n + 16);
    enum qmp_read_result r[4];
    char m[4][128];

    in[0] = '{';
    memset(in + 1, ' ', n - 1);
    memcpy(in + n, "\n{}", 3);
    qmp_reader_init(&reader);
    assert_int_equal(feed(in, n + 3, r, m, 4), 2);
    assert_int_equal(r[0], QMP_READ_TOO_LONG);
    assert_int_equal(r[1], QMP_READ_MESSAGE);
    assert_string_equal(m[1], "{}");
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_messages_and_strings),
        cmocka_unit_test(test_split_across_reads),
        cmocka_unit_test(test_junk_resyncs_at_newline),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_too_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
