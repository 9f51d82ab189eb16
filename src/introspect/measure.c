#include "introspect/measure.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#include "introspect/ptwalk.h"

#define ISP_MEASURE_MAX (256ULL << 20)

_Static_assert(SHA256_DIGEST_SIZE == ISP_SHA256_LEN, "SHA-256 digest size");

int isp_sha256(const void *buf, size_t len, uint8_t out[ISP_SHA256_LEN])
{
    struct sha256_ctx ctx;

    sha256_init(&ctx);
    sha256_update(&ctx, len, buf);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
    return 0;
}

int isp_sha256_guest(const struct ptw *w, uint64_t gva, uint64_t len,
                     const struct isp_patch *patches, size_t npatches,
                     uint8_t out[ISP_SHA256_LEN])
{
    uint8_t *copy;
    int ret;

    if (len > ISP_MEASURE_MAX || gva + len < gva)
        return -E2BIG;
    /* Copy first: the guest keeps running on other vCPUs. */
    copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    ret = ptw_read(w, gva, copy, len);
    for (size_t i = 0; !ret && i < npatches; i++) {
        const struct isp_patch *p = &patches[i];

        for (size_t k = 0; k < p->len; k++)
            if (p->gva + k >= gva && p->gva + k - gva < len)
                copy[p->gva + k - gva] = p->bytes[k];
    }
    if (!ret)
        ret = isp_sha256(copy, len, out);
    free(copy);
    return ret;
}
