/* Virtio 1.x over modern PCI.  The transport (virtio_pci.c) owns the
 * registers, feature negotiation, reset, the queues' ioeventfds and the
 * MSI-X vectors; a device supplies only its queues' work and its config
 * space through `struct virtio_dev_ops`.
 *
 * Threads: register accesses come from vCPU threads; queue kicks run on
 * the VM's I/O thread.  Both hold the device lock while calling into the
 * device; a device's own I/O-thread callbacks take it with
 * virtio_dev_lock(). */
#ifndef KVMM_DEVICES_VIRTIO_VIRTIO_H
#define KVMM_DEVICES_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct vm;
struct virtq;
struct virtio_dev;

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_RNG     4

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev_ops {
    const char *name;           /* "blk", "rng" */
    uint16_t device_id;         /* VIRTIO_ID_* */
    uint32_t class_code;        /* PCI class */
    unsigned nqueues;
    uint16_t queue_size;        /* maximum; the driver may choose less */
    uint64_t features;          /* device-specific bits offered */
    size_t config_size;
    /* Device config space reads and writes, within config_size. */
    void (*config_read)(void *dev, uint64_t off, uint8_t *data, unsigned len);
    void (*config_write)(void *dev, uint64_t off, const uint8_t *data, unsigned len);
    /* The driver kicked queue q, or it became ready; I/O thread, lock held. */
    void (*queue_kick)(void *dev, unsigned q);
    /* The driver reset the device: drop every in-flight request; lock held. */
    void (*reset)(void *dev);
};

/* Put a virtio device on the VM's PCI bus. */
int virtio_pci_create(struct vm *vm, const struct virtio_dev_ops *ops, void *dev,
                      struct virtio_dev **out) WUR;
void virtio_pci_destroy(struct virtio_dev *vdev);

struct virtq *virtio_queue(struct virtio_dev *vdev, unsigned q);
bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit);
/* Signal "used buffers" for queue q through its MSI-X vector. */
void virtio_queue_interrupt(struct virtio_dev *vdev, unsigned q);
/* The APIC ID (= vCPU index) queue q's interrupt goes to, or -1. */
int virtio_queue_dest(const struct virtio_dev *vdev, unsigned q);
/* The driver broke the device ABI: set NEEDS_RESET, raise the config
 * interrupt and ignore the queues until the driver resets the device. */
void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool virtio_dev_broken(const struct virtio_dev *vdev);
void virtio_dev_lock(struct virtio_dev *vdev);
void virtio_dev_unlock(struct virtio_dev *vdev);
struct vm *virtio_dev_vm(const struct virtio_dev *vdev);
/* Guest notifications received and interrupts raised, for counters. */
void virtio_dev_transport_counters(const struct virtio_dev *vdev, uint64_t *kicks,
                                   uint64_t *interrupts);

#endif
