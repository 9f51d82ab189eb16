/* The "introspect" object of a VM spec, parsed strictly into plain data
 * (docs/introspection.md).  spec.c keeps the object as JSON text and
 * calls isp_config_check(); the engine parses it again when the VM is
 * created. */
#ifndef KVMM_INTROSPECT_CONFIG_H
#define KVMM_INTROSPECT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "introspect/profile.h"
#include "types.h"

struct cJSON;
struct isp_policy;

enum isp_mode { ISP_MODE_TARGETED, ISP_MODE_FULL };
enum isp_trap { ISP_TRAP_AUTO, ISP_TRAP_BREAKPOINT, ISP_TRAP_PROBE };
enum isp_switch { ISP_AUTO, ISP_ON, ISP_OFF };
enum isp_tamper { ISP_TAMPER_LOG, ISP_TAMPER_BLOCK, ISP_TAMPER_PAUSE };

struct isp_config {
    enum isp_mode mode;
    enum isp_trap trap;
    enum isp_switch msr_guard;
    enum isp_tamper tamper;
    bool has_profile;
    struct isp_profile profile;
    char *audit_log;            /* NULL: records are only counted */
    char *image;                /* the guest's ext4 root image: exec hashes */
    uint64_t audit_rate, audit_burst;
    bool measure_text;          /* hash kernel text at the first trap */
    struct isp_policy *policy;
};

int isp_config_parse(const struct cJSON *obj, const char *label, struct isp_config *cfg,
                     char *err, size_t errlen) WUR;
int isp_config_parse_string(const char *json, const char *label, struct isp_config *cfg,
                            char *err, size_t errlen) WUR;
/* Parse and throw away: what spec validation calls. */
int isp_config_check(const char *json, const char *label, char *err, size_t errlen) WUR;
void isp_config_free(struct isp_config *cfg);

#endif
