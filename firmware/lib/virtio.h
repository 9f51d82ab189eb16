/* A minimal modern virtio-PCI driver for payloads: find a device on bus 0
 * through ECAM, read its virtio capabilities, bring it up with queue 0 in
 * guest RAM, offer chains and notify.  No interrupts: callers poll. */
#ifndef FW_VIRTIO_H
#define FW_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_S_ACKNOWLEDGE 0x01
#define VIRTIO_S_DRIVER      0x02
#define VIRTIO_S_DRIVER_OK   0x04
#define VIRTIO_S_FEATURES_OK 0x08
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED      0x80

#define VIRTQ_F_NEXT  1
#define VIRTQ_F_WRITE 2

/* Common configuration registers (virtio 1.2, 4.1.4.3) */
#define VIRTIO_COMMON_DFSELECT  0x00
#define VIRTIO_COMMON_DF        0x04
#define VIRTIO_COMMON_GFSELECT  0x08
#define VIRTIO_COMMON_GF        0x0c
#define VIRTIO_COMMON_MSIX      0x10
#define VIRTIO_COMMON_NUMQ      0x12
#define VIRTIO_COMMON_STATUS    0x14
#define VIRTIO_COMMON_CFGGEN    0x15
#define VIRTIO_COMMON_Q_SELECT  0x16
#define VIRTIO_COMMON_Q_SIZE    0x18
#define VIRTIO_COMMON_Q_MSIX    0x1a
#define VIRTIO_COMMON_Q_ENABLE  0x1c
#define VIRTIO_COMMON_Q_NOFF    0x1e
#define VIRTIO_COMMON_Q_DESC    0x20
#define VIRTIO_COMMON_Q_DRIVER  0x28
#define VIRTIO_COMMON_Q_DEVICE  0x30

struct fw_virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct fw_virtio {
    uint64_t cfg;                   /* ECAM address of the function */
    uint64_t common, notify, isr, device;
    uint32_t notify_mult;
    bool notify_io;             /* notify is a port (I/O BAR), else an address */
    unsigned pcicfg;                /* PCI_CFG capability offset, 0 if none */
    unsigned msix;                  /* MSI-X capability offset, 0 if none */
    /* queue 0, set by fw_virtio_init */
    uint16_t qsize;
    uint64_t desc, avail, used;
};

/* Find PCI device id `device` of the virtio vendor on bus 0 (ECAM base
 * from the device tree's /pci reg), enable memory decoding and read the
 * capabilities.  False when there is no such device. */
bool fw_virtio_find(struct fw_virtio *v, uint16_t device);
uint64_t fw_pci_bar(const struct fw_virtio *v, unsigned bar);
/* Reset, negotiate VERSION_1 only, set up queue 0 with qsize entries at
 * ring (three pages: descriptors, driver area, device area), DRIVER_OK.
 * FAILs the payload when a step does not take. */
void fw_virtio_init(struct fw_virtio *v, uint16_t qsize, uint64_t ring);
uint8_t fw_virtio_status(const struct fw_virtio *v);
volatile struct fw_virtq_desc *fw_virtq_desc(const struct fw_virtio *v, unsigned i);
/* Put heads in the avail ring with one index update, then notify. */
void fw_virtq_offer(const struct fw_virtio *v, const uint16_t *heads, unsigned n);
void fw_virtq_notify(const struct fw_virtio *v);
uint16_t fw_virtq_used_idx(const struct fw_virtio *v);
/* Element i of the used ring: id and written length. */
void fw_virtq_used_elem(const struct fw_virtio *v, unsigned i, uint32_t *id, uint32_t *len);

/* Bounded waits on the ACPI PM timer (no interrupts in payloads). */
struct fw_deadline {
    uint32_t last;
    uint64_t ticks, limit;
};
void fw_deadline_start(struct fw_deadline *d, unsigned seconds);
bool fw_deadline_passed(struct fw_deadline *d);

#endif
