/* virtio-rng (virtio 1.2, 5.4): fills each writable buffer the driver
 * offers with bytes from getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/device.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtq.h"
#include "spec.h"
#include "util/log.h"
#include "vm.h"

#define RNG_QUEUE_SIZE 64
#define PCI_CLASS_OTHER 0xff0000

struct rng {
    struct virtio_dev *vdev;
    struct iovec iov[RNG_QUEUE_SIZE];
    uint64_t requests, bytes, errors;
};

static uint32_t rng_fill(struct rng *r, const struct virtq_chain *c)
{
    uint32_t done = 0;

    for (unsigned i = c->nread; i < c->n; i++) {
        size_t off = 0;

        while (off < c->iov[i].iov_len) {
            ssize_t n = getrandom((char *)c->iov[i].iov_base + off, c->iov[i].iov_len - off, 0);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
                return done;
            }
            off += (size_t)n;
            done += (uint32_t)n;
        }
    }
    return done;
}

static void rng_kick(void *dev, unsigned q)
{
    struct rng *r = dev;
    struct virtq *vq = virtio_queue(r->vdev, q);
    struct virtq_chain c;
    int ret;

    do {
        while ((ret = virtq_pop(vq, &c, r->iov, RNG_QUEUE_SIZE)) == 1) {
            uint32_t n = rng_fill(r, &c);

            virtq_push(vq, c.head, n);
            __atomic_fetch_add(&r->requests, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&r->bytes, n, __ATOMIC_RELAXED);
        }
        if (ret < 0) {
            virtio_dev_fail(r->vdev, "malformed descriptor chain (%d)", ret);
            return;
        }
    } while (virtq_kick_enable(vq));
    if (virtq_publish(vq))
        virtio_queue_interrupt(r->vdev, q);
}

static const struct virtio_dev_ops rng_ops = {
    .name = "rng", .device_id = VIRTIO_ID_RNG, .class_code = PCI_CLASS_OTHER,
    .nqueues = 1, .queue_size = RNG_QUEUE_SIZE, .queue_kick = rng_kick,
};

static int rng_create(struct vm *vm, void **state)
{
    struct rng *r;
    int ret;

    if (!vm_spec(vm)->rng)
        return 1;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    ret = virtio_pci_create(vm, &rng_ops, r, &r->vdev);
    if (ret) {
        free(r);
        return ret;
    }
    *state = r;
    return 0;
}

static void rng_destroy(void *state)
{
    struct rng *r = state;

    virtio_pci_destroy(r->vdev);
    free(r);
}

static void rng_counters(void *state, device_counter_fn emit, void *ctx)
{
    struct rng *r = state;
    uint64_t kicks, irqs;

    virtio_dev_transport_counters(r->vdev, &kicks, &irqs);
    emit(ctx, "requests", __atomic_load_n(&r->requests, __ATOMIC_RELAXED));
    emit(ctx, "bytes", __atomic_load_n(&r->bytes, __ATOMIC_RELAXED));
    emit(ctx, "errors", __atomic_load_n(&r->errors, __ATOMIC_RELAXED));
    emit(ctx, "kicks", kicks);
    emit(ctx, "interrupts", irqs);
}

static const struct device_desc rng_device = {
    .name = "virtio-rng", .create = rng_create, .destroy = rng_destroy,
    .counters = rng_counters,
};
DEVICE_REGISTER(rng_device);
