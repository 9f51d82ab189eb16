/* KVM's binary statistics for one vCPU (KVM_GET_STATS_FD): a header, one
 * descriptor per counter, then the values.  The fd was opened when the
 * vCPU was created; pread() on it never waits for KVM_RUN. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vcpu/vcpu.h"

#define STATS_MAX_BYTES (1u << 20)

static const char *const state_names[] = {
    [VCPU_CREATED] = "created", [VCPU_RUNNING] = "running",
    [VCPU_PAUSED] = "paused", [VCPU_STOPPING] = "stopping",
    [VCPU_STOPPED] = "stopped",
};

const char *vcpu_state_name(enum vcpu_state state)
{
    if ((unsigned)state >= ARRAY_SIZE(state_names))
        return "unknown";
    return state_names[state];
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = pread(fd, buf, len, off);

    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

/* Only plain counters (one u64, cumulative or instant); histograms are
 * left out. */
static bool stat_is_scalar(const struct kvm_stats_desc *d)
{
    unsigned type = d->flags & KVM_STATS_TYPE_MASK;

    return d->size == 1 && (type == KVM_STATS_TYPE_CUMULATIVE ||
                            type == KVM_STATS_TYPE_INSTANT ||
                            type == KVM_STATS_TYPE_PEAK);
}

static int stats_walk(int fd, const struct kvm_stats_header *h, const char *descs,
                      vcpu_stat_fn fn, void *ctx)
{
    size_t dsize = sizeof(struct kvm_stats_desc) + h->name_size;

    for (uint32_t i = 0; i < h->num_desc; i++) {
        const struct kvm_stats_desc *d = (const void *)(descs + i * dsize);
        char name[256];
        uint64_t v;
        int ret;

        if (!stat_is_scalar(d))
            continue;
        ret = pread_all(fd, &v, sizeof(v), h->data_offset + d->offset);
        if (ret)
            return ret;
        snprintf(name, sizeof(name), "%.*s", (int)h->name_size, d->name);
        fn(ctx, name, v);
    }
    return 0;
}

/* The header and every descriptor; *descs is the caller's to free. */
static int stats_descs_read(const struct vcpu *vcpu, struct kvm_stats_header *h, char **descs)
{
    size_t dsize, total;
    int ret;

    if (vcpu->stats_fd < 0)
        return -ENOTSUP;
    ret = pread_all(vcpu->stats_fd, h, sizeof(*h), 0);
    if (ret)
        return ret;
    dsize = sizeof(struct kvm_stats_desc) + h->name_size;
    if (h->name_size == 0 || h->name_size > 255 || h->num_desc > STATS_MAX_BYTES / dsize)
        return -EIO;
    total = dsize * h->num_desc;
    *descs = malloc(total);
    if (!*descs)
        return -ENOMEM;
    ret = pread_all(vcpu->stats_fd, *descs, total, h->desc_offset);
    if (ret) {
        free(*descs);
        *descs = NULL;
    }
    return ret;
}

int vcpu_kvm_stats_read(struct vcpu *vcpu, vcpu_stat_fn fn, void *ctx)
{
    struct kvm_stats_header h;
    char *descs;
    int ret = stats_descs_read(vcpu, &h, &descs);

    if (ret)
        return ret;
    ret = stats_walk(vcpu->stats_fd, &h, descs, fn, ctx);
    free(descs);
    return ret;
}

int vcpu_kvm_stat_find(struct vcpu *vcpu, const char *name, off_t *off)
{
    struct kvm_stats_header h;
    size_t dsize, len = strlen(name);
    char *descs;
    int ret = stats_descs_read(vcpu, &h, &descs);

    if (ret)
        return ret;
    dsize = sizeof(struct kvm_stats_desc) + h.name_size;
    ret = -ENOENT;
    for (uint32_t i = 0; i < h.num_desc; i++) {
        const struct kvm_stats_desc *d = (const void *)(descs + i * dsize);

        if (stat_is_scalar(d) && len < h.name_size && !memcmp(d->name, name, len + 1)) {
            *off = (off_t)h.data_offset + d->offset;
            ret = 0;
            break;
        }
    }
    free(descs);
    return ret;
}

int vcpu_halt_count(struct vcpu *vcpu, uint64_t *value)
{
    if (vcpu->stats_fd < 0 || vcpu->halt_stat < 0)
        return -ENOTSUP;
    return pread_all(vcpu->stats_fd, value, sizeof(*value), vcpu->halt_stat);
}
