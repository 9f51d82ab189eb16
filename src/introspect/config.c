#include "introspect/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "introspect/jsonutil.h"
#include "introspect/policy.h"

#define ISP_KEYS "mode, trap, msr_guard, on_tamper, profile, audit_log, audit_rate, " \
                 "audit_burst, measure_text, image, policy"

static int enum_member(const cJSON *v, const char *label, const char *const *names,
                       unsigned n, const char *expected, int *out, char *err, size_t errlen)
{
    for (unsigned i = 0; cJSON_IsString(v) && i < n; i++) {
        if (!strcmp(v->valuestring, names[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return js_fail_expected(err, errlen, label, expected, v);
}

static int count_member(const cJSON *v, const char *label, uint64_t *out, char *err,
                        size_t errlen)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return js_fail_expected(err, errlen, label, "an integer 0..1000000000", v);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int string_member(const cJSON *v, const char *label, char **out, char *err,
                         size_t errlen)
{
    if (!cJSON_IsString(v) || !*v->valuestring)
        return js_fail_expected(err, errlen, label, "a non-empty path", v);
    free(*out);
    *out = strdup(v->valuestring);
    return *out ? 0 : -ENOMEM;
}

static int switch_member(const cJSON *v, const char *label, enum isp_switch *out, char *err,
                         size_t errlen)
{
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v) ? ISP_ON : ISP_OFF;
        return 0;
    }
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "auto")) {
        *out = ISP_AUTO;
        return 0;
    }
    return js_fail_expected(err, errlen, label, "true, false or \"auto\"", v);
}

static int config_member(struct isp_config *c, const cJSON *v, const char *label, char *err,
                         size_t errlen)
{
    static const char *const modes[] = { "targeted", "full" };
    static const char *const traps[] = { "auto", "breakpoint", "probe" };
    static const char *const tampers[] = { "log", "block", "pause" };
    const char *k = v->string;
    char *path = NULL;
    int ret;

    if (!strcmp(k, "mode"))
        return enum_member(v, label, modes, 2, "\"targeted\" or \"full\"", (int *)&c->mode,
                           err, errlen);
    if (!strcmp(k, "trap"))
        return enum_member(v, label, traps, 3, "\"auto\", \"breakpoint\" or \"probe\"",
                           (int *)&c->trap, err, errlen);
    if (!strcmp(k, "on_tamper"))
        return enum_member(v, label, tampers, 3, "\"log\", \"block\" or \"pause\"",
                           (int *)&c->tamper, err, errlen);
    if (!strcmp(k, "msr_guard"))
        return switch_member(v, label, &c->msr_guard, err, errlen);
    if (!strcmp(k, "measure_text")) {
        if (!cJSON_IsBool(v))
            return js_fail_expected(err, errlen, label, "true or false", v);
        c->measure_text = cJSON_IsTrue(v);
        return 0;
    }
    if (!strcmp(k, "audit_log"))
        return string_member(v, label, &c->audit_log, err, errlen);
    if (!strcmp(k, "image"))
        return string_member(v, label, &c->image, err, errlen);
    if (!strcmp(k, "audit_rate"))
        return count_member(v, label, &c->audit_rate, err, errlen);
    if (!strcmp(k, "audit_burst"))
        return count_member(v, label, &c->audit_burst, err, errlen);
    if (!strcmp(k, "policy")) {
        isp_policy_free(c->policy);
        c->policy = NULL;
        return isp_policy_parse(v, label, &c->policy, err, errlen);
    }
    if (!strcmp(k, "profile")) {
        ret = string_member(v, label, &path, err, errlen);
        if (!ret)
            ret = isp_profile_load(path, &c->profile, err, errlen);
        free(path);
        c->has_profile = !ret;
        return ret;
    }
    return js_fail(err, errlen, label, "unknown key (expected one of: " ISP_KEYS ")");
}

static int config_finish(struct isp_config *c, const char *label, char *err, size_t errlen)
{
    uint64_t addr;

    if (!c->policy) {
        int ret = isp_policy_parse_string("{}", &c->policy, err, errlen);

        if (ret)
            return ret;
    }
    if (c->mode == ISP_MODE_FULL && c->trap == ISP_TRAP_PROBE)
        return js_fail(err, errlen, label,
                       "mode \"full\" traps the syscall entry with a breakpoint, not a probe");
    if (c->mode == ISP_MODE_TARGETED && !c->has_profile)
        return js_fail(err, errlen, label, "mode \"targeted\" needs a \"profile\"");
    if (c->has_profile && !isp_profile_lookup(&c->profile, ISP_SYM_ENTRY, &addr))
        return js_fail(err, errlen, label, "the profile lacks " ISP_SYM_ENTRY);
    if (c->msr_guard == ISP_OFF)
        return js_fail(err, errlen, label, "msr_guard cannot be off: kvmm learns the "
                       "system call entry and the KASLR slide from the LSTAR write");
    return 0;
}

int isp_config_parse(const cJSON *obj, const char *label, struct isp_config *c, char *err,
                     size_t errlen)
{
    const cJSON *v;
    int ret = 0;

    memset(c, 0, sizeof(*c));
    c->audit_rate = 1000;
    c->measure_text = true;
    if (!cJSON_IsObject(obj))
        return js_fail_expected(err, errlen, label, "an object", obj);
    cJSON_ArrayForEach(v, obj) {
        char sub[JS_LABEL_MAX];

        js_label(sub, sizeof(sub), label, v->string);
        ret = js_key_repeated(obj, v) ? js_fail(err, errlen, sub, "duplicate key") :
              config_member(c, v, sub, err, errlen);
        if (ret)
            break;
    }
    if (!ret)
        ret = config_finish(c, label, err, errlen);
    if (ret == -ENOMEM)
        js_fail(err, errlen, label, "out of memory");
    if (ret)
        isp_config_free(c);
    return ret;
}

int isp_config_parse_string(const char *json, const char *label, struct isp_config *c,
                            char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    int ret;

    memset(c, 0, sizeof(*c));
    if (!root)
        return js_fail(err, errlen, label, "not valid JSON");
    ret = isp_config_parse(root, label, c, err, errlen);
    cJSON_Delete(root);
    return ret;
}

int isp_config_check(const char *json, const char *label, char *err, size_t errlen)
{
    struct isp_config c;
    int ret = isp_config_parse_string(json, label, &c, err, errlen);

    if (!ret)
        isp_config_free(&c);
    return ret;
}

void isp_config_free(struct isp_config *c)
{
    free(c->audit_log);
    free(c->image);
    isp_policy_free(c->policy);
    memset(c, 0, sizeof(*c));
}
