/* x-introspect-* control commands: thin JSON wrappers over the engine's
 * run-time API (introspect/introspect.h). */
#include "ctl/cmd_introspect.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "introspect/introspect.h"
#include "vm.h"

static cJSON *no_engine(char *err, size_t errlen)
{
    snprintf(err, errlen, "introspection is off for this VM (spec key \"introspect\")");
    return NULL;
}

static void add_hex(cJSON *o, const char *name, uint64_t v)
{
    char hex[24];

    snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)v);
    cJSON_AddStringToObject(o, name, hex);
}

cJSON *ctl_isp_set_policy(struct vm *vm, const cJSON *args, char *err, size_t errlen)
{
    const cJSON *policy = cJSON_GetObjectItemCaseSensitive(args, "policy");
    char *json = cJSON_PrintUnformatted(policy);
    int ret;

    if (!json) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ret = introspect_set_policy(vm, json, err, errlen);
    free(json);
    return ret ? NULL : cJSON_CreateObject();
}

cJSON *ctl_isp_mode(struct vm *vm, const cJSON *args, char *err, size_t errlen)
{
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(args, "mode");
    struct introspect_stats st;
    cJSON *o;

    if (mode && introspect_set_mode(vm, mode->valuestring, err, errlen))
        return NULL;
    if (introspect_stats_get(vm, &st))
        return no_engine(err, errlen);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", st.mode);
    return o;
}

cJSON *ctl_isp_check_text(struct vm *vm, const cJSON *args, char *err, size_t errlen)
{
    struct introspect_stats st;
    int ret = introspect_check_text(vm);
    cJSON *o;

    if (ret == -ENODEV)
        return no_engine(err, errlen);
    if (ret < 0 && ret != -EAGAIN) {
        snprintf(err, errlen, "cannot hash the kernel text: %s", strerror(-ret));
        return NULL;
    }
    if (introspect_stats_get(vm, &st))
        return no_engine(err, errlen);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "measured", st.text_measured);
    cJSON_AddBoolToObject(o, "changed", ret == 1);
    if (st.text_measured) {
        add_hex(o, "start", st.text_start);
        cJSON_AddNumberToObject(o, "len", (double)st.text_len);
        cJSON_AddStringToObject(o, "sha256", st.text_sha256);
    }
    return o;
}

cJSON *ctl_isp_stats(struct vm *vm, const cJSON *args, char *err, size_t errlen)
{
    struct introspect_stats st;
    cJSON *o;

    if (introspect_stats_get(vm, &st))
        return no_engine(err, errlen);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", st.mode);
    cJSON_AddNumberToObject(o, "traps", (double)st.traps);
    cJSON_AddNumberToObject(o, "syscalls", (double)st.syscalls);
    cJSON_AddNumberToObject(o, "probe_hits", (double)st.probe_hits);
    cJSON_AddNumberToObject(o, "audited", (double)st.audited);
    cJSON_AddNumberToObject(o, "denied", (double)st.denied);
    cJSON_AddNumberToObject(o, "paused", (double)st.paused);
    cJSON_AddNumberToObject(o, "tamper", (double)st.tamper);
    cJSON_AddNumberToObject(o, "msr_writes", (double)st.msr_writes);
    cJSON_AddNumberToObject(o, "records", (double)st.records);
    cJSON_AddNumberToObject(o, "dropped", (double)st.dropped);
    cJSON_AddNumberToObject(o, "probes", st.probes);
    if (st.slide_known)
        cJSON_AddNumberToObject(o, "slide", (double)st.slide);
    else
        cJSON_AddNullToObject(o, "slide");
    cJSON_AddBoolToObject(o, "text_measured", st.text_measured);
    return o;
}
