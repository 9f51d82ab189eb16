/* Unit tests for introspection's pure parts: policy parsing and
 * decisions (globs, SHA-256, allowlists), the rate limiter, the system
 * call table, the "introspect" spec object, kernel profiles. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "introspect/audit.h"
#include "introspect/config.h"
#include "introspect/measure.h"
#include "introspect/policy.h"
#include "introspect/profile.h"
#include "introspect/sysno.h"

#define EXECVE 59
#define OPENAT 257
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char err[512];

static struct isp_policy *policy(const char *json)
{
    struct isp_policy *p = NULL;

    err[0] = '\0';
    if (isp_policy_parse_string(json, &p, err, sizeof(err)))
        fail_msg("policy %s: %s", json, err);
    return p;
}

static void policy_fails(const char *json, const char *want)
{
    struct isp_policy *p = NULL;

    assert_int_equal(isp_policy_parse_string(json, &p, err, sizeof(err)), -EINVAL);
    assert_null(p);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_syscall_table(void **state)
{
    (void)state;
    assert_string_equal(syscall_name(0), "read");
    assert_string_equal(syscall_name(EXECVE), "execve");
    assert_string_equal(syscall_name(OPENAT), "openat");
    assert_int_equal(syscall_number("execveat"), 322);
    assert_int_equal(syscall_number("finit_module"), 313);
    assert_int_equal(syscall_number("no_such_call"), -1);
    assert_null(syscall_name(100000));
    assert_null(syscall_name((uint64_t)-1));
    assert_true(syscall_limit() > 400);
}

static void test_policy_defaults(void **state)
{
    struct isp_policy *p = policy("{}");

    (void)state;
    assert_true(isp_policy_audits(p, EXECVE));
    assert_true(isp_policy_audits(p, 313));
    assert_false(isp_policy_audits(p, OPENAT));
    assert_false(isp_policy_audits(p, (uint64_t)-1));
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/ls", NULL), ISP_LOG);
    isp_policy_free(p);
    p = policy("{\"audit\": \"all\", \"default\": \"allow\"}");
    assert_true(isp_policy_audits(p, OPENAT));
    assert_true(isp_policy_audits(p, 0));
    assert_int_equal(isp_policy_decide(p, OPENAT, NULL, NULL), ISP_ALLOW);
    isp_policy_free(p);
}

static void test_policy_globs(void **state)
{
    struct isp_policy *p = policy(
        "{\"rules\": ["
        " {\"path\": \"/tmp/*\", \"action\": \"deny\"},"
        " {\"syscalls\": [\"execveat\"], \"path\": \"/usr/bin/*\", \"action\": \"pause\"},"
        " {\"path\": \"/usr/*/ssh?\", \"action\": \"allow\"}"
        "], \"default\": \"log\"}");

    (void)state;
    assert_int_equal(isp_policy_decide(p, EXECVE, "/tmp/x", NULL), ISP_DENY);
    /* FNM_PATHNAME: '*' does not cross '/' */
    assert_int_equal(isp_policy_decide(p, EXECVE, "/tmp/a/b", NULL), ISP_LOG);
    assert_int_equal(isp_policy_decide(p, 322, "/usr/bin/id", NULL), ISP_PAUSE);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/usr/bin/id", NULL), ISP_LOG);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/usr/bin/sshd", NULL), ISP_ALLOW);
    /* unknown path: rules with a path never match */
    assert_int_equal(isp_policy_decide(p, EXECVE, NULL, NULL), ISP_LOG);
    isp_policy_free(p);
}

static void test_policy_hashes(void **state)
{
    uint8_t a[32], b[32];
    struct isp_policy *p = policy("{\"rules\": [{\"sha256\": \"" SHA_A "\", \"action\": "
                                  "\"deny\"}, {\"path\": \"/bin/*\", \"sha256\": \"" SHA_B
                                  "\", \"action\": \"allow\"}]}");

    (void)state;
    assert_int_equal(isp_hex_to_sha256(SHA_A, a), 0);
    assert_int_equal(isp_hex_to_sha256(SHA_B, b), 0);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/x", a), ISP_DENY);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/ls", b), ISP_ALLOW);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/sbin/ls", b), ISP_LOG);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/ls", NULL), ISP_LOG);
    isp_policy_free(p);
}

static void test_hex(void **state)
{
    uint8_t sha[32];
    char hex[65];

    (void)state;
    assert_int_equal(isp_hex_to_sha256(SHA_A, sha), 0);
    assert_int_equal(sha[0], 0xaa);
    isp_sha256_to_hex(sha, hex);
    assert_string_equal(hex, SHA_A);
    assert_int_equal(isp_hex_to_sha256("abc", sha), -EINVAL);
    assert_int_equal(isp_hex_to_sha256(SHA_A "a", sha), -EINVAL);
    hex[10] = 'g';
    assert_int_equal(isp_hex_to_sha256(hex, sha), -EINVAL);
    /* SHA-256 of "abc" (FIPS 180-2 example) */
    assert_int_equal(isp_sha256("abc", 3, sha), 0);
    isp_sha256_to_hex(sha, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_allowlist(void **state)
{
    char path[] = "/tmp/kvmm-allow-XXXXXX", json[256];
    uint8_t a[32], b[32];
    struct isp_policy *p;
    FILE *f;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fprintf(f, "{\"image\": \"x.img\", \"files\": [{\"path\": \"/bin/a\", \"sha256\": \"%s\"}]}",
            SHA_A);
    fclose(f);
    snprintf(json, sizeof(json), "{\"allowlist\": \"%s\", \"default\": \"allow\"}", path);
    p = policy(json);
    assert_int_equal(isp_hex_to_sha256(SHA_A, a), 0);
    assert_int_equal(isp_hex_to_sha256(SHA_B, b), 0);
    assert_true(isp_allowlist_has(p, a));
    assert_false(isp_allowlist_has(p, b));
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/a", a), ISP_ALLOW);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/b", b), ISP_DENY);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/c", NULL), ISP_DENY);
    isp_policy_free(p);
    snprintf(json, sizeof(json), "{\"allowlist\": \"%s\", \"unlisted\": \"log\"}", path);
    p = policy(json);
    assert_int_equal(isp_policy_decide(p, EXECVE, "/bin/b", b), ISP_LOG);
    isp_policy_free(p);
    unlink(path);
    policy_fails("{\"allowlist\": \"/nonexistent/allow.json\"}", "cannot read allowlist");
}

static void test_policy_errors(void **state)
{
    (void)state;
    policy_fails("[]", "policy: expected a policy object, got an array");
    policy_fails("{\"audit\": [\"execve\", \"nosuch\"]}",
                 "policy.audit[1]: unknown system call \"nosuch\"");
    policy_fails("{\"audit\": 3}", "policy.audit: expected \"all\" or an array");
    policy_fails("{\"default\": \"kill\"}", "policy.default: expected \"allow\", \"log\"");
    policy_fails("{\"rules\": [{\"path\": \"/x\"}]}",
                 "policy.rules[0]: missing required key \"action\"");
    policy_fails("{\"rules\": [{\"action\": \"deny\", \"size\": 1}]}",
                 "policy.rules[0].size: unknown key");
    policy_fails("{\"rules\": [{\"action\": \"deny\", \"sha256\": \"xyz\"}]}",
                 "policy.rules[0].sha256: expected 64 hex digits");
    policy_fails("{\"default\": \"log\", \"default\": \"deny\"}", "policy.default: duplicate key");
    policy_fails("{\"unlisted\": \"deny\"}", "needs an \"allowlist\"");
    policy_fails("{\"colour\": 1}", "policy.colour: unknown key");
    policy_fails("{", "not valid JSON");
}

static void test_ratelimit(void **state)
{
    struct ratelimit rl;
    const uint64_t s = 1000000000ULL;
    unsigned ok = 0;

    (void)state;
    ratelimit_init(&rl, 10, 5, 0);
    for (unsigned i = 0; i < 20; i++)
        ok += ratelimit_take(&rl, 0);
    assert_int_equal(ok, 5);            /* the burst */
    assert_int_equal(rl.dropped, 15);
    assert_false(ratelimit_take(&rl, s / 20));     /* half a token */
    assert_true(ratelimit_take(&rl, s / 10));      /* one token after 100 ms */
    /* a long pause refills to the burst, no more */
    ok = 0;
    for (unsigned i = 0; i < 20; i++)
        ok += ratelimit_take(&rl, 1000 * s);
    assert_int_equal(ok, 5);
    /* rate 0: no limit */
    ratelimit_init(&rl, 0, 0, 0);
    for (unsigned i = 0; i < 1000; i++)
        assert_true(ratelimit_take(&rl, 0));
    assert_int_equal(rl.dropped, 0);
}

static void test_audit_log(void **state)
{
    char path[] = "/tmp/kvmm-audit-XXXXXX", line[512];
    struct audit *a;
    FILE *f;
    int fd = mkstemp(path), n = 0;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(audit_open(&a, path, 1, 2), 0);
    for (int i = 0; i < 4; i++) {
        cJSON *rec = cJSON_CreateObject();

        cJSON_AddStringToObject(rec, "event", "syscall");
        cJSON_AddStringToObject(rec, "path", "/bin/\"q\"");
        audit_write(a, "vm0", rec);
    }
    assert_int_equal(audit_written(a), 2);
    assert_int_equal(audit_dropped(a), 2);
    audit_close(a);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        assert_true(!strncmp(line, "{\"time\":\"", 9));
        assert_non_null(strstr(line, "\"vm\":\"vm0\",\"event\":\"syscall\",\"path\":\"/bin/\\\"q\\\"\"}"));
        n++;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(n, 2);
}

static void test_config(void **state)
{
    struct isp_config c;
    char prof[] = "/tmp/kvmm-prof-XXXXXX", json[512];
    uint64_t addr;
    FILE *f;
    int fd = mkstemp(prof);

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("{\"symbols\": {\"entry_SYSCALL_64\": \"0xffffffff81e00000\", "
          "\"__x64_sys_execve\": \"0xffffffff81400120\"}}", f);
    fclose(f);
    snprintf(json, sizeof(json), "{\"profile\": \"%s\", \"audit_rate\": 5, "
             "\"policy\": {\"default\": \"deny\"}}", prof);
    assert_int_equal(isp_config_parse_string(json, "introspect", &c, err, sizeof(err)), 0);
    assert_int_equal(c.mode, ISP_MODE_TARGETED);
    assert_int_equal(c.audit_rate, 5);
    assert_true(isp_profile_lookup(&c.profile, "__x64_sys_execve", &addr));
    assert_int_equal(addr, 0xffffffff81400120ULL);
    assert_int_equal(isp_policy_decide(c.policy, EXECVE, "/x", NULL), ISP_DENY);
    isp_config_free(&c);
    assert_int_equal(isp_config_check("{\"mode\": \"full\"}", "introspect", err, sizeof(err)),
                     0);
    assert_int_equal(isp_config_check("{}", "vms[0].introspect", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "vms[0].introspect: mode \"targeted\" needs a \"profile\"");
    assert_int_equal(isp_config_check("{\"mode\": \"full\", \"trap\": \"probe\"}", "introspect",
                                      err, sizeof(err)), -EINVAL);
    assert_int_equal(isp_config_check("{\"mode\": \"all\"}", "introspect", err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "introspect.mode: expected \"targeted\" or \"full\", got \"all\"");
    assert_int_equal(isp_config_check("{\"mode\": \"full\", \"x\": 1}", "introspect", err,
                                      sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "introspect.x: unknown key"));
    assert_int_equal(isp_config_check("{\"mode\": \"full\", \"audit_rate\": -1}", "introspect",
                                      err, sizeof(err)), -EINVAL);
    assert_int_equal(isp_config_check("{\"mode\": \"full\", \"policy\": {\"audit\": [1]}}",
                                      "introspect", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "introspect.policy.audit[0]: expected a system call name, got 1");
    unlink(prof);
}

static void test_profile_from_system_map(void **state)
{
    char map[] = "/tmp/kvmm-map-XXXXXX", kern[] = "/tmp/kvmm-kern-XXXXXX";
    char *json = NULL;
    int fd = mkstemp(map), kfd = mkstemp(kern);
    FILE *f;

    (void)state;
    assert_true(fd >= 0 && kfd >= 0);
    f = fdopen(fd, "w");
    fputs("ffffffff81000000 T _stext\nffffffff81e00000 T entry_SYSCALL_64\n"
          "ffffffff81400120 T __x64_sys_execve\nffffffff81400200 T unrelated\n", f);
    fclose(f);
    assert_int_equal(write(kfd, "not a kernel", 12), 12);
    close(kfd);
    assert_int_equal(isp_profile_build(kern, map, &json, err, sizeof(err)), 0);
    assert_non_null(strstr(json, "\"entry_SYSCALL_64\":\t\"0xffffffff81e00000\""));
    assert_non_null(strstr(json, "\"__x64_sys_execve\":\t\"0xffffffff81400120\""));
    assert_null(strstr(json, "unrelated"));
    free(json);
    /* neither ELF nor bzImage, no map */
    assert_int_equal(isp_profile_build(kern, NULL, &json, err, sizeof(err)), -EINVAL);
    unlink(map);
    unlink(kern);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syscall_table),
        cmocka_unit_test(test_policy_defaults),
        cmocka_unit_test(test_policy_globs),
        cmocka_unit_test(test_policy_hashes),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_policy_errors),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_audit_log),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_profile_from_system_map),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
