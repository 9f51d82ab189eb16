/* PCI: one root bus (bus 0, function 0 only) behind a host bridge, its
 * configuration space through ports 0xCF8/0xCFC and ECAM, BARs placed by
 * the core in LAYOUT_PCI_MMIO (I/O BARs in LAYOUT_PCI_PIO), and MSI-X
 * with its table and PBA in a BAR owned by this module.  Each MSI-X vector has an irqfd and a GSI routed
 * with KVM_SET_GSI_ROUTING; devices raise a vector with pci_msix_notify(). */
#ifndef KVMM_DEVICES_PCI_H
#define KVMM_DEVICES_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include "types.h"

struct vm;
struct bus;
struct bus_ops;
struct pci_bus;
struct pci_dev;

#define PCI_MAX_DEVICES   32      /* device numbers on bus 0 */
#define PCI_NUM_BARS      6
#define PCI_MSIX_MAX_VECS 64

struct pci_bar_desc {
    uint32_t size;                /* memory: power of two >= 4096; I/O: power of
                                   * two from 4 to 256; 0 = unused */
    bool io;                      /* in I/O space (on the port bus) */
    const struct bus_ops *ops;    /* handlers get the offset in the BAR */
    void *opaque;
};

struct pci_dev_desc {
    const char *name;
    uint16_t vendor, device, subsys_vendor, subsys_id;
    uint32_t class_code;          /* base << 16 | sub << 8 | prog-if */
    uint8_t revision;
    struct pci_bar_desc bars[PCI_NUM_BARS];
    unsigned msix_vectors;        /* 0 = no MSI-X; else its BAR is the first unused */
};

/* The VM's PCI bus and host bridge; registers the config ports and ECAM. */
int pci_bus_create(struct vm *vm, struct pci_bus **out) WUR;
/* The same on given buses.  vm_fd < 0 runs without KVM (unit tests): no
 * GSI routes, and each MSI-X vector's irqfd is a plain eventfd that
 * counts the interrupts raised through it. */
int pci_bus_create_on(struct bus *pio, struct bus *mmio, int vm_fd, struct pci_bus **out) WUR;
void pci_bus_destroy(struct pci_bus *bus);

/* Give the device a slot and place its BARs on the MMIO or port bus. */
int pci_dev_add(struct pci_bus *bus, const struct pci_dev_desc *desc, struct pci_dev **out) WUR;
/* Append a capability (cap[0] = id; cap[1], the next pointer, is filled
 * in); returns its offset in config space or -errno.  Only before start. */
int pci_cap_add(struct pci_dev *dev, const void *cap, unsigned len) WUR;
/* Append a capability whose body the device serves itself: accesses to
 * its bytes after the id and next pointer go to ops, with the offset in
 * the capability and without this module's locks held.  One per device. */
int pci_cap_add_served(struct pci_dev *dev, const void *cap, unsigned len,
                       const struct bus_ops *ops, void *opaque) WUR;
gpa_t pci_bar_addr(const struct pci_dev *dev, unsigned bar);
unsigned pci_dev_slot(const struct pci_dev *dev);

/* Raise MSI-X vector `vec`: through its irqfd when unmasked, else it is
 * left pending in the PBA and raised on unmask.  Safe from any thread.
 * -ENOENT when MSI-X is off or the vector is out of range. */
int pci_msix_notify(struct pci_dev *dev, unsigned vec);
bool pci_msix_enabled(struct pci_dev *dev);
/* The eventfd behind vector vec, or -1 (for tests and diagnostics). */
int pci_msix_irqfd(const struct pci_dev *dev, unsigned vec);
/* The APIC ID vector vec is sent to (the guest's choice in its MSI-X
 * table), or -1 when MSI-X is off or the entry is not an interrupt. */
int pci_msix_dest(const struct pci_dev *dev, unsigned vec);

#endif
