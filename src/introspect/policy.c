#include "introspect/policy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "introspect/jsonutil.h"
#include "introspect/sysno.h"

static const char *const action_names[] = {
    [ISP_ALLOW] = "allow", [ISP_LOG] = "log", [ISP_DENY] = "deny", [ISP_PAUSE] = "pause",
};

const char *isp_action_name(enum isp_action a)
{
    return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "?";
}

int isp_action_parse(const char *s, enum isp_action *out)
{
    for (unsigned i = 0; i < ARRAY_SIZE(action_names); i++) {
        if (!strcmp(s, action_names[i])) {
            *out = (enum isp_action)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int isp_hex_to_sha256(const char *hex, uint8_t out[ISP_SHA256_LEN])
{
    if (strlen(hex) != 2 * ISP_SHA256_LEN)
        return -EINVAL;
    for (unsigned i = 0; i < ISP_SHA256_LEN; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void isp_sha256_to_hex(const uint8_t sha[ISP_SHA256_LEN], char out[2 * ISP_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";

    for (unsigned i = 0; i < ISP_SHA256_LEN; i++) {
        out[2 * i] = digits[sha[i] >> 4];
        out[2 * i + 1] = digits[sha[i] & 15];
    }
    out[2 * ISP_SHA256_LEN] = '\0';
}

static void bit_set(uint64_t *map, unsigned nr)
{
    map[nr / 64] |= 1ULL << (nr % 64);
}

static bool bit_test(const uint64_t *map, uint64_t nr)
{
    return nr < ISP_SYSCALL_MAX && (map[nr / 64] >> (nr % 64) & 1);
}

bool isp_policy_audits(const struct isp_policy *p, uint64_t nr)
{
    return bit_test(p->audit, nr);
}

static int sha_cmp(const void *a, const void *b)
{
    return memcmp(a, b, ISP_SHA256_LEN);
}

bool isp_allowlist_has(const struct isp_policy *p, const uint8_t sha256[ISP_SHA256_LEN])
{
    return p->allow && bsearch(sha256, p->allow, p->nallow, ISP_SHA256_LEN, sha_cmp);
}

static bool rule_matches(const struct isp_rule *r, uint64_t nr, const char *path,
                         const uint8_t *sha256)
{
    if (!r->any_syscall && !bit_test(r->syscalls, nr))
        return false;
    if (r->path && (!path || fnmatch(r->path, path, FNM_PATHNAME)))
        return false;
    if (r->has_sha256 && (!sha256 || memcmp(r->sha256, sha256, ISP_SHA256_LEN)))
        return false;
    return true;
}

enum isp_action isp_policy_decide(const struct isp_policy *p, uint64_t nr, const char *path,
                                  const uint8_t *sha256)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (rule_matches(&p->rules[i], nr, path, sha256))
            return p->rules[i].action;
    if (p->allow && (!sha256 || !isp_allowlist_has(p, sha256)))
        return p->unlisted;
    return p->def;
}

void isp_policy_free(struct isp_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        free(p->rules[i].path);
    free(p->rules);
    free(p->allow);
    free(p);
}

/* ---- parsing ------------------------------------------------------------ */

/* A list of syscall names into map; "all" (a string) sets every number. */
static int syscall_list_parse(const cJSON *v, const char *label, uint64_t *map, char *err,
                              size_t errlen)
{
    const cJSON *it;
    unsigned i = 0;

    if (cJSON_IsString(v) && !strcmp(v->valuestring, "all")) {
        for (unsigned nr = 0; nr < syscall_limit() && nr < ISP_SYSCALL_MAX; nr++)
            if (syscall_name(nr))
                bit_set(map, nr);
        return 0;
    }
    if (!cJSON_IsArray(v))
        return js_fail_expected(err, errlen, label, "\"all\" or an array of system call names", v);
    cJSON_ArrayForEach(it, v) {
        char sub[JS_LABEL_MAX];
        int nr;

        snprintf(sub, sizeof(sub), "%.100s[%u]", label, i++);
        if (!cJSON_IsString(it))
            return js_fail_expected(err, errlen, sub, "a system call name", it);
        nr = syscall_number(it->valuestring);
        if (nr < 0 || nr >= ISP_SYSCALL_MAX)
            return js_fail(err, errlen, sub, "unknown system call \"%.40s\"", it->valuestring);
        bit_set(map, (unsigned)nr);
    }
    return 0;
}

static int action_member(const cJSON *v, const char *label, enum isp_action *out, char *err,
                         size_t errlen)
{
    if (!cJSON_IsString(v) || isp_action_parse(v->valuestring, out))
        return js_fail_expected(err, errlen, label,
                                "\"allow\", \"log\", \"deny\" or \"pause\"", v);
    return 0;
}

static int rule_member(struct isp_rule *r, const cJSON *v, const char *label, char *err,
                       size_t errlen)
{
    if (!strcmp(v->string, "syscalls")) {
        r->any_syscall = false;
        return syscall_list_parse(v, label, r->syscalls, err, errlen);
    }
    if (!strcmp(v->string, "path")) {
        if (!cJSON_IsString(v) || !*v->valuestring)
            return js_fail_expected(err, errlen, label, "a non-empty glob", v);
        r->path = strdup(v->valuestring);
        return r->path ? 0 : -ENOMEM;
    }
    if (!strcmp(v->string, "sha256")) {
        if (!cJSON_IsString(v) || isp_hex_to_sha256(v->valuestring, r->sha256))
            return js_fail_expected(err, errlen, label, "64 hex digits", v);
        r->has_sha256 = true;
        return 0;
    }
    if (!strcmp(v->string, "action"))
        return action_member(v, label, &r->action, err, errlen);
    return js_fail(err, errlen, label,
                   "unknown key (expected one of: syscalls, path, sha256, action)");
}

static int rule_parse(struct isp_rule *r, const cJSON *obj, const char *label, char *err,
                      size_t errlen)
{
    const cJSON *v;
    bool has_action = false;

    r->any_syscall = true;
    if (!cJSON_IsObject(obj))
        return js_fail_expected(err, errlen, label, "a rule object", obj);
    cJSON_ArrayForEach(v, obj) {
        char sub[JS_LABEL_MAX];
        int ret;

        js_label(sub, sizeof(sub), label, v->string);
        if (js_key_repeated(obj, v))
            return js_fail(err, errlen, sub, "duplicate key");
        ret = rule_member(r, v, sub, err, errlen);
        if (ret)
            return ret;
        has_action |= !strcmp(v->string, "action");
    }
    if (!has_action)
        return js_fail(err, errlen, label, "missing required key \"action\"");
    return 0;
}

static int rules_parse(struct isp_policy *p, const cJSON *v, const char *label, char *err,
                       size_t errlen)
{
    const cJSON *it;
    int n = cJSON_GetArraySize(v);

    if (!cJSON_IsArray(v))
        return js_fail_expected(err, errlen, label, "an array of rules", v);
    p->rules = calloc(n ? (size_t)n : 1, sizeof(*p->rules));
    if (!p->rules)
        return -ENOMEM;
    cJSON_ArrayForEach(it, v) {
        char sub[JS_LABEL_MAX];
        int ret;

        snprintf(sub, sizeof(sub), "%.100s[%zu]", label, p->nrules);
        ret = rule_parse(&p->rules[p->nrules++], it, sub, err, errlen);
        if (ret)
            return ret;
    }
    return 0;
}

static int policy_member(struct isp_policy *p, const cJSON *v, const char *label,
                         bool *has_unlisted, char *err, size_t errlen)
{
    if (!strcmp(v->string, "audit")) {
        memset(p->audit, 0, sizeof(p->audit));
        return syscall_list_parse(v, label, p->audit, err, errlen);
    }
    if (!strcmp(v->string, "default"))
        return action_member(v, label, &p->def, err, errlen);
    if (!strcmp(v->string, "unlisted")) {
        *has_unlisted = true;
        return action_member(v, label, &p->unlisted, err, errlen);
    }
    if (!strcmp(v->string, "rules"))
        return rules_parse(p, v, label, err, errlen);
    if (!strcmp(v->string, "allowlist")) {
        if (!cJSON_IsString(v) || !*v->valuestring)
            return js_fail_expected(err, errlen, label, "a non-empty path", v);
        return isp_allowlist_load(p, v->valuestring, err, errlen);
    }
    return js_fail(err, errlen, label,
                   "unknown key (expected one of: audit, default, rules, allowlist, unlisted)");
}

static void policy_defaults(struct isp_policy *p)
{
    static const char *const audited[] = { "execve", "execveat", "init_module", "finit_module" };

    for (unsigned i = 0; i < ARRAY_SIZE(audited); i++) {
        int nr = syscall_number(audited[i]);

        if (nr >= 0 && nr < ISP_SYSCALL_MAX)
            bit_set(p->audit, (unsigned)nr);
    }
    p->def = ISP_LOG;
    p->unlisted = ISP_DENY;
}

int isp_policy_parse(const cJSON *obj, const char *label, struct isp_policy **out, char *err,
                     size_t errlen)
{
    struct isp_policy *p = calloc(1, sizeof(*p));
    bool has_unlisted = false;
    const cJSON *v;
    int ret = 0;

    if (!p)
        return -ENOMEM;
    policy_defaults(p);
    if (!cJSON_IsObject(obj)) {
        ret = js_fail_expected(err, errlen, label, "a policy object", obj);
        goto out_free;
    }
    cJSON_ArrayForEach(v, obj) {
        char sub[JS_LABEL_MAX];

        js_label(sub, sizeof(sub), label, v->string);
        if (js_key_repeated(obj, v)) {
            ret = js_fail(err, errlen, sub, "duplicate key");
            goto out_free;
        }
        ret = policy_member(p, v, sub, &has_unlisted, err, errlen);
        if (ret)
            goto out_free;
    }
    if (has_unlisted && !p->allow) {
        ret = js_fail(err, errlen, label, "\"unlisted\" needs an \"allowlist\"");
        goto out_free;
    }
    *out = p;
    return 0;

out_free:
    if (ret == -ENOMEM)
        js_fail(err, errlen, label, "out of memory");
    isp_policy_free(p);
    return ret;
}

int isp_policy_parse_string(const char *json, struct isp_policy **out, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    int ret;

    if (!root)
        return js_fail(err, errlen, "policy", "not valid JSON");
    ret = isp_policy_parse(root, "policy", out, err, errlen);
    cJSON_Delete(root);
    return ret;
}

/* ---- allowlist files ---------------------------------------------------- */

static int allowlist_add(struct isp_policy *p, const cJSON *files, const char *path,
                         char *err, size_t errlen)
{
    const cJSON *it;
    size_t n = 0;

    p->allow = calloc((size_t)cJSON_GetArraySize(files) + 1, ISP_SHA256_LEN);
    if (!p->allow)
        return -ENOMEM;
    cJSON_ArrayForEach(it, files) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "sha256");

        if (!cJSON_IsString(h) || isp_hex_to_sha256(h->valuestring, p->allow[n]))
            return js_fail(err, errlen, path, "files[%zu].sha256: expected 64 hex digits", n);
        n++;
    }
    qsort(p->allow, n, ISP_SHA256_LEN, sha_cmp);
    p->nallow = n;
    return 0;
}

int isp_allowlist_load(struct isp_policy *p, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    cJSON *root;
    const cJSON *files;
    int ret = js_file_read(path, &text, 64 << 20);

    if (ret)
        return js_fail(err, errlen, path, "cannot read allowlist: %s", strerror(-ret));
    root = cJSON_Parse(text);
    free(text);
    if (!root)
        return js_fail(err, errlen, path, "allowlist is not valid JSON");
    files = cJSON_GetObjectItemCaseSensitive(root, "files");
    free(p->allow);
    p->allow = NULL;
    if (!cJSON_IsArray(files))
        ret = js_fail(err, errlen, path, "allowlist lacks a \"files\" array");
    else
        ret = allowlist_add(p, files, path, err, errlen);
    cJSON_Delete(root);
    return ret;
}
