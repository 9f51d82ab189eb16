/* SHA-256 (nettle) of host buffers and of guest virtual ranges. */
#ifndef KVMM_INTROSPECT_MEASURE_H
#define KVMM_INTROSPECT_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include "introspect/policy.h"
#include "types.h"

struct ptw;

int isp_sha256(const void *buf, size_t len, uint8_t out[ISP_SHA256_LEN]) WUR;

/* A byte range to hash as `bytes` instead of what guest memory holds
 * (kvmm's own probe patches). */
struct isp_patch {
    uint64_t gva;
    const uint8_t *bytes;
    size_t len;
};

/* Hash [gva, gva+len) through the guest page tables (len at most 256 MiB),
 * with patches undone.  0 or -errno. */
int isp_sha256_guest(const struct ptw *w, uint64_t gva, uint64_t len,
                     const struct isp_patch *patches, size_t npatches,
                     uint8_t out[ISP_SHA256_LEN]) WUR;

#endif
