/* Introspection policy: which system calls to audit and what to do with
 * an executable (or module) by path glob and SHA-256.  Parsed strictly
 * from JSON (docs/introspection.md); decisions are pure functions. */
#ifndef KVMM_INTROSPECT_POLICY_H
#define KVMM_INTROSPECT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct cJSON;

#define ISP_SHA256_LEN 32
#define ISP_SYSCALL_MAX 1024     /* bitmap size: numbers 0..1023 */

enum isp_action {
    ISP_ALLOW,      /* let it run, write nothing */
    ISP_LOG,        /* let it run, write an audit record */
    ISP_DENY,       /* make the call fail with -EPERM */
    ISP_PAUSE,      /* audit, then pause the VM */
};

struct isp_rule {
    uint64_t syscalls[ISP_SYSCALL_MAX / 64];  /* which calls; all when none set */
    bool any_syscall;
    char *path;                 /* fnmatch(FNM_PATHNAME) glob, or NULL */
    bool has_sha256;
    uint8_t sha256[ISP_SHA256_LEN];
    enum isp_action action;
};

struct isp_policy {
    uint64_t audit[ISP_SYSCALL_MAX / 64];     /* syscall numbers to audit */
    enum isp_action def;                      /* no rule matched */
    struct isp_rule *rules;
    size_t nrules;
    uint8_t (*allow)[ISP_SHA256_LEN];         /* sorted allowlist, or NULL */
    size_t nallow;
    enum isp_action unlisted;                 /* hash missing from it */
};

/* Parse a policy object; label is the JSON path for messages
 * ("introspect.policy").  Relative allowlist paths are used as given. */
int isp_policy_parse(const struct cJSON *obj, const char *label, struct isp_policy **out,
                     char *err, size_t errlen) WUR;
int isp_policy_parse_string(const char *json, struct isp_policy **out, char *err,
                            size_t errlen) WUR;
void isp_policy_free(struct isp_policy *p);

bool isp_policy_audits(const struct isp_policy *p, uint64_t nr);
/* The verdict for call nr on path (may be NULL) with the SHA-256 of what it
 * runs or loads (NULL when unknown).  First matching rule wins; then the
 * allowlist (when there is one); then the default. */
enum isp_action isp_policy_decide(const struct isp_policy *p, uint64_t nr, const char *path,
                                  const uint8_t *sha256);

const char *isp_action_name(enum isp_action a);
/* 0 or -EINVAL */
int isp_action_parse(const char *s, enum isp_action *out) WUR;

/* 64 hex digits to bytes: 0 or -EINVAL. */
int isp_hex_to_sha256(const char *hex, uint8_t out[ISP_SHA256_LEN]) WUR;
void isp_sha256_to_hex(const uint8_t sha[ISP_SHA256_LEN], char out[2 * ISP_SHA256_LEN + 1]);
bool isp_allowlist_has(const struct isp_policy *p, const uint8_t sha256[ISP_SHA256_LEN]);

/* Load an allowlist file (kvmm allowlist output) into p. */
int isp_allowlist_load(struct isp_policy *p, const char *path, char *err, size_t errlen) WUR;

#endif
