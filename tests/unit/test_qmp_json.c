/* Strict parsing of one QMP message: what cJSON would let through
 * (control characters, invalid UTF-8, U+0000, repeated keys) and the
 * "id" kept as written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ctl/qmp_json.h"

/* The error for text (sized by strlen, or n when given), "" when it parses. */
static const char *parse_n(const char *text, size_t n)
{
    static char err[256];
    cJSON *root;

    err[0] = '\0';
    if (!qmp_json_parse(text, n, &root, err, sizeof(err))) {
        assert_non_null(root);
        cJSON_Delete(root);
        return "";
    }
    assert_null(root);
    return err;
}

static const char *parse(const char *text)
{
    return parse_n(text, strlen(text));
}

static void test_valid_messages(void **state)
{
    assert_string_equal(parse("{\"execute\": \"query-status\"}"), "");
    assert_string_equal(parse("{\"a\": \"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"), "");
    assert_string_equal(parse("{\"b\": [\"\\\\u0000\"]}"), "");   /* a backslash, then u0000 */
    assert_string_equal(parse("{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}"), "");
    assert_string_equal(parse("{\"a\": \"\\u0041\\ud83d\\ude00\\n\"}"), "");
}

static void test_bad_text(void **state)
{
    static const char *const bad_utf8[] = {
        "{\"a\": \"\xff\"}", "{\"a\": \"\xc0\xaf\"}", "{\"a\": \"\xe0\x80\xaf\"}",
        "{\"a\": \"\xed\xa0\x80\"}", "{\"a\": \"\xf4\x90\x80\x80\"}", "{\"a\": \"\xc3\"}",
        "{\"\x80\": 1}",
    };

    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++)
        assert_string_equal(parse(bad_utf8[i]), "JSON parse error: invalid UTF-8 in a string");
    assert_string_equal(parse("{\"a\": \"x\x1by\"}"),
                        "JSON parse error: control character in a string");
    assert_string_equal(parse("{\"a\": \"x\ny\"}"),
                        "JSON parse error: control character in a string");
    assert_string_equal(parse("{\"a\":\x0c 1}"),
                        "JSON parse error: control character outside a string");
    assert_string_equal(parse("{\"a\": 1,}"), "JSON parse error");
}

static void test_nul_named(void **state)
{
    static const char raw_nul[] = "{\"execute\": \"query-\0status\"}";

    assert_string_equal(parse("{\"execute\": \"query-status\\u0000junk\"}"),
                        "execute: strings must not contain U+0000");
    assert_string_equal(parse_n(raw_nul, sizeof(raw_nul) - 1),
                        "execute: strings must not contain U+0000");
    assert_string_equal(parse("{\"execute\": \"x\", \"arguments\": {\"vm\": \"vm0\\u0000junk\"}}"),
                        "arguments.vm: strings must not contain U+0000");
    assert_string_equal(parse("{\"arguments\": {\"vm\\u0000x\": 1}}"),
                        "arguments.vm: keys must not contain U+0000");
    assert_string_equal(parse("{\"id\": [\"a\", {\"b\": [\"c\\u0000\"]}]}"),
                        "id[1].b[0]: strings must not contain U+0000");
}

static void test_duplicate_keys(void **state)
{
    assert_string_equal(parse("{\"execute\": \"query-status\", \"execute\": \"quit\"}"),
                        "execute: duplicate key");
    assert_string_equal(parse("{\"arguments\": {\"ns\": 1, \"ns\": 2}}"),
                        "arguments.ns: duplicate key");
    assert_string_equal(parse("{\"id\": [{\"a\": {\"b\": 1, \"b\": 1}}]}"),
                        "id[0].a.b: duplicate key");
    assert_string_equal(parse("{\"i\\u0064\": 1, \"id\": 2}"), "id: duplicate key");
}

/* The raw text of root's member key, or NULL. */
static char *member(const char *text, const char *key)
{
    cJSON *root, *item;
    char err[256], *out = NULL;

    assert_int_equal(qmp_json_parse(text, strlen(text), &root, err, sizeof(err)), 0);
    item = qmp_json_member_raw(text, strlen(text), root, key);
    if (item) {
        assert_true(cJSON_IsRaw(item));
        out = strdup(item->valuestring);
    }
    cJSON_Delete(item);
    cJSON_Delete(root);
    return out;
}

static void test_id_as_written(void **state)
{
    static const char *const cases[][2] = {
        { "{\"execute\": \"x\", \"id\": 1e400}", "1e400" },
        { "{\"id\": 12345678901234567890123, \"execute\": \"x\"}", "12345678901234567890123" },
        { "{\"execute\":\"x\" , \"id\" :\n -0.0 }", "-0.0" },
        { "{\"id\": {\"a\" : [ 1.50 , \"x, }y\" ] }, \"b\": 2}", "{\"a\":[1.50,\"x, }y\"]}" },
        { "{\"a\": {\"id\": 1}, \"i\\u0064\": \"\\\"q\\\"\"}", "\"\\\"q\\\"\"" },
    };
    char *s;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = member(cases[i][0], "id");
        assert_non_null(s);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
    assert_null(member("{\"execute\": \"x\", \"a\": {\"id\": 1}}", "id"));
}

static void test_utf8_repair(void **state)
{
    char s[] = "ok \xc3\xa9 \xe2\x82 \xff \xf0\x9f\x98\x80 \xe2";

    qmp_json_utf8_repair(s, strlen(s));
    assert_string_equal(s, "ok \xc3\xa9 ?? ? \xf0\x9f\x98\x80 ?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_messages),
        cmocka_unit_test(test_bad_text),
        cmocka_unit_test(test_nul_named),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_id_as_written),
        cmocka_unit_test(test_utf8_repair),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
