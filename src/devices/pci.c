#include "devices/pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "kvm.h"
#include "util/log.h"
#include "vm.h"

#define PCI_CFG_SIZE        256
#define PCI_PORT_ADDR       0xCF8
#define PCI_PORT_DATA       0xCFC

#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION        0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CACHE_LINE      0x0C
#define PCI_LATENCY         0x0D
#define PCI_HEADER_TYPE     0x0E
#define PCI_BAR0            0x10
#define PCI_SUBSYS_VENDOR   0x2C
#define PCI_SUBSYS_ID       0x2E
#define PCI_CAP_PTR         0x34
#define PCI_INT_LINE        0x3C
#define PCI_CAP_START       0x40
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_CMD_WMASK       0x0407   /* I/O, memory, bus master, INTx disable */

#define PCI_CAP_ID_MSIX     0x11
#define MSIX_CTRL_ENABLE    0x8000
#define MSIX_CTRL_FMASK     0x4000
#define MSIX_ENTRY_SIZE     16
#define MSIX_ENTRY_MASKED   0x1
#define MSIX_BAR_SIZE       4096
#define MSIX_PBA_OFF        0x800
#define MSI_FIRST_GSI       24       /* 0..23 belong to the PIC and IOAPIC */
#define MSI_MAX_ROUTES      (PCI_MAX_DEVICES * PCI_MSIX_MAX_VECS)

/* Host bridge identity: Red Hat's generic PCIe host bridge id, which
 * Linux treats as a plain host bridge (class 06/00). */
#define HOST_BRIDGE_VENDOR  0x1b36
#define HOST_BRIDGE_DEVICE  0x0008

struct msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_dev {
    struct pci_bus *bus;
    char name[32];
    unsigned slot;
    pthread_mutex_t lock;            /* config space and MSI-X state */
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];     /* bits the guest may change */
    uint32_t bar_size[PCI_NUM_BARS];
    gpa_t bar_addr[PCI_NUM_BARS];
    unsigned cap_end, cap_last;      /* where the next capability goes */
    unsigned served_off, served_len; /* the capability the device serves */
    const struct bus_ops *served_ops;
    void *served_opaque;
    bool warned_bar_move;
    uint8_t bar_io;                  /* mask of BARs in I/O space */
    /* MSI-X */
    unsigned msix_nvec, msix_cap, msix_bar;
    struct msix_entry msix[PCI_MSIX_MAX_VECS];
    uint64_t msix_pba;
    uint64_t msix_dirty;             /* entries whose route is not committed */
    unsigned gsi_base;
    int irqfd[PCI_MSIX_MAX_VECS];
};

struct msi_route {
    uint32_t addr_lo, addr_hi, data;
    bool used;
};

struct pci_bus {
    struct bus *pio, *mmio;
    int vm_fd;                       /* < 0: no KVM (unit tests) */
    pthread_mutex_t lock;            /* config address latch, device table */
    uint32_t cf8;
    struct pci_dev *devs[PCI_MAX_DEVICES];
    gpa_t mmio_next;
    gpa_t pio_next;
    pthread_mutex_t route_lock;      /* GSI routing table */
    struct msi_route routes[MSI_MAX_ROUTES];
    unsigned next_gsi;
};

static uint32_t le_get(const uint8_t *p, unsigned len)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void le_put(uint8_t *p, unsigned len, uint64_t v)
{
    for (unsigned i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void cfg_put(struct pci_dev *d, unsigned off, unsigned len, uint32_t v)
{
    le_put(&d->cfg[off], len, v);
}

/* ---- GSI routing ---------------------------------------------------- */

/* KVM's default routes for the legacy GSIs: IOAPIC pins 0..23, and the
 * PICs for 0..15.  A routing table we install replaces them, so it must
 * carry them again. */
static unsigned route_add_defaults(struct kvm_irq_routing_entry *e)
{
    unsigned n = 0;

    for (unsigned gsi = 0; gsi < MSI_FIRST_GSI; gsi++) {
        e[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
        };
        if (gsi < 16)
            e[n++] = (struct kvm_irq_routing_entry){
                .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = {
                    .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                    .pin = gsi % 8,
                },
            };
    }
    return n;
}

/* Install the whole table; call with route_lock held. */
static int route_commit_locked(struct pci_bus *bus)
{
    unsigned nmsi = bus->next_gsi - MSI_FIRST_GSI, n;
    struct kvm_irq_routing *t;
    int ret;

    t = calloc(1, sizeof(*t) + (40 + nmsi) * sizeof(t->entries[0]));
    if (!t)
        return -ENOMEM;
    n = route_add_defaults(t->entries);
    for (unsigned i = 0; i < nmsi; i++) {
        const struct msi_route *r = &bus->routes[i];

        if (!r->used)
            continue;
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = MSI_FIRST_GSI + i, .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = { .address_lo = r->addr_lo, .address_hi = r->addr_hi, .data = r->data },
        };
    }
    t->nr = n;
    ret = bus->vm_fd < 0 ? 0 : kvm_ioctl(bus->vm_fd, KVM_SET_GSI_ROUTING, t);
    free(t);
    return ret < 0 ? ret : 0;
}

/* Copy the device's changed MSI-X entries into the routing table. */
static int msix_commit(struct pci_dev *d)
{
    struct pci_bus *bus = d->bus;
    int ret;

    if (!d->msix_dirty)
        return 0;
    pthread_mutex_lock(&bus->route_lock);
    for (unsigned v = 0; v < d->msix_nvec; v++) {
        struct msi_route *r = &bus->routes[d->gsi_base + v - MSI_FIRST_GSI];

        r->addr_lo = d->msix[v].addr_lo;
        r->addr_hi = d->msix[v].addr_hi;
        r->data = d->msix[v].data;
        r->used = true;
    }
    ret = route_commit_locked(bus);
    pthread_mutex_unlock(&bus->route_lock);
    if (ret)
        log_warn("%s: KVM_SET_GSI_ROUTING: %s", d->name, strerror(-ret));
    else
        d->msix_dirty = 0;
    return ret;
}

/* ---- MSI-X ------------------------------------------------------------- */

static bool msix_on(const struct pci_dev *d)
{
    uint16_t ctrl = (uint16_t)le_get(&d->cfg[d->msix_cap + 2], 2);

    return d->msix_nvec && (ctrl & MSIX_CTRL_ENABLE);
}

static bool msix_masked(const struct pci_dev *d, unsigned v)
{
    uint16_t ctrl = (uint16_t)le_get(&d->cfg[d->msix_cap + 2], 2);

    return (ctrl & MSIX_CTRL_FMASK) || (d->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

static void msix_signal(struct pci_dev *d, unsigned v)
{
    uint64_t one = 1;

    if (msix_commit(d))
        return;
    if (write(d->irqfd[v], &one, sizeof(one)) != sizeof(one))
        log_debug("%s: irqfd write failed", d->name);
}

/* Raise what became deliverable; dev lock held. */
static void msix_flush_pending(struct pci_dev *d)
{
    if (!msix_on(d))
        return;
    for (unsigned v = 0; v < d->msix_nvec; v++) {
        if ((d->msix_pba & (1ULL << v)) && !msix_masked(d, v)) {
            d->msix_pba &= ~(1ULL << v);
            msix_signal(d, v);
        }
    }
}

int pci_msix_notify(struct pci_dev *d, unsigned v)
{
    int ret = 0;

    pthread_mutex_lock(&d->lock);
    if (!msix_on(d) || v >= d->msix_nvec)
        ret = -ENOENT;
    else if (msix_masked(d, v))
        d->msix_pba |= 1ULL << v;
    else
        msix_signal(d, v);
    pthread_mutex_unlock(&d->lock);
    return ret;
}

bool pci_msix_enabled(struct pci_dev *d)
{
    bool on;

    pthread_mutex_lock(&d->lock);
    on = msix_on(d);
    pthread_mutex_unlock(&d->lock);
    return on;
}

int pci_msix_dest(const struct pci_dev *d, unsigned v)
{
    uint32_t lo;

    if (v >= d->msix_nvec || !msix_on(d))
        return -1;
    lo = __atomic_load_n(&d->msix[v].addr_lo, __ATOMIC_RELAXED);
    if ((lo >> 20) != 0xfee)
        return -1;          /* not an interrupt message */
    return (int)((lo >> 12) & 0xff);
}

int pci_msix_irqfd(const struct pci_dev *d, unsigned v)
{
    return v < d->msix_nvec ? d->irqfd[v] : -1;
}

static void msix_bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct pci_dev *d = opaque;
    unsigned v = (unsigned)(off / MSIX_ENTRY_SIZE);

    memset(data, 0, len);
    pthread_mutex_lock(&d->lock);
    if (off < (uint64_t)d->msix_nvec * MSIX_ENTRY_SIZE && (len == 4 || len == 8) && !(off & 3)) {
        const uint32_t *w = &d->msix[v].addr_lo;
        unsigned i = (unsigned)(off % MSIX_ENTRY_SIZE) / 4;

        le_put(data, 4, w[i]);
        if (len == 8 && i < 3)
            le_put(data + 4, 4, w[i + 1]);
    } else if (off >= MSIX_PBA_OFF && off + len <= MSIX_PBA_OFF + 8) {
        le_put(data, len, d->msix_pba >> (8 * (off - MSIX_PBA_OFF)));
    }
    pthread_mutex_unlock(&d->lock);
}

static void msix_entry_write(struct pci_dev *d, unsigned v, unsigned word, uint32_t val)
{
    uint32_t *w = &d->msix[v].addr_lo;
    bool was_masked = msix_masked(d, v);

    if (word == 3) {
        w[3] = val & MSIX_ENTRY_MASKED;
        if (was_masked && !msix_masked(d, v))
            msix_flush_pending(d);
        return;
    }
    w[word] = val;
    d->msix_dirty |= 1ULL << v;
}

static void msix_bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct pci_dev *d = opaque;
    unsigned v = (unsigned)(off / MSIX_ENTRY_SIZE), i;

    if (off >= (uint64_t)d->msix_nvec * MSIX_ENTRY_SIZE || (len != 4 && len != 8) || (off & 3))
        return;     /* the PBA is read-only; odd accesses are undefined */
    i = (unsigned)(off % MSIX_ENTRY_SIZE) / 4;
    pthread_mutex_lock(&d->lock);
    msix_entry_write(d, v, i, le_get(data, 4));
    if (len == 8 && i < 3)
        msix_entry_write(d, v, i + 1, le_get(data + 4, 4));
    pthread_mutex_unlock(&d->lock);
}

static const struct bus_ops msix_bar_ops = { .read = msix_bar_read, .write = msix_bar_write };

static int msix_setup(struct pci_dev *d, unsigned nvec)
{
    struct pci_bus *bus = d->bus;
    uint8_t cap[12] = { PCI_CAP_ID_MSIX };
    int off;

    if (nvec > PCI_MSIX_MAX_VECS)
        return -EINVAL;
    for (d->msix_bar = 0; d->msix_bar < PCI_NUM_BARS; d->msix_bar++)
        if (!d->bar_size[d->msix_bar])
            break;
    if (d->msix_bar == PCI_NUM_BARS)
        return -ENOSPC;
    le_put(&cap[2], 2, nvec - 1);
    le_put(&cap[4], 4, 0 | d->msix_bar);
    le_put(&cap[8], 4, MSIX_PBA_OFF | d->msix_bar);
    off = pci_cap_add(d, cap, sizeof(cap));
    if (off < 0)
        return off;
    d->msix_cap = (unsigned)off;
    d->wmask[off + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK) >> 8;
    d->msix_nvec = nvec;
    for (unsigned v = 0; v < nvec; v++)
        d->msix[v].ctrl = MSIX_ENTRY_MASKED;
    pthread_mutex_lock(&bus->route_lock);
    d->gsi_base = bus->next_gsi;
    bus->next_gsi += nvec;
    pthread_mutex_unlock(&bus->route_lock);
    d->msix_dirty = (nvec == 64) ? ~0ULL : (1ULL << nvec) - 1;
    return 0;
}

/* An eventfd bound to each vector's GSI (KVM_IRQFD). */
static int msix_irqfds_setup(struct pci_dev *d)
{
    int ret = msix_commit(d);

    for (unsigned v = 0; !ret && v < d->msix_nvec; v++) {
        struct kvm_irqfd irqfd = { .gsi = d->gsi_base + v };

        d->irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->irqfd[v] < 0)
            return -errno;
        irqfd.fd = (uint32_t)d->irqfd[v];
        if (d->bus->vm_fd >= 0)
            ret = kvm_ioctl(d->bus->vm_fd, KVM_IRQFD, &irqfd);
    }
    return ret;
}

/* ---- configuration space ------------------------------------------------ */

static void cfg_bar_fixup(struct pci_dev *d, unsigned bar)
{
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t v = le_get(&d->cfg[off], 4);

    if (!d->bar_size[bar]) {
        cfg_put(d, off, 4, 0);
        return;
    }
    /* Memory BARs are 32-bit, non-prefetchable; I/O BARs have bit 0 set. */
    v &= ~(d->bar_size[bar] - 1);
    cfg_put(d, off, 4, v | (d->bar_io >> bar & 1));
    /* Sizing writes all ones; anything else that is not our address
     * would move the BAR, which we do not support. */
    if (v != (uint32_t)~(d->bar_size[bar] - 1) && v != d->bar_addr[bar] && !d->warned_bar_move) {
        d->warned_bar_move = true;
        log_warn("%s: guest moved BAR%u to 0x%x; it stays at 0x%llx",
                 d->name, bar, v, (unsigned long long)d->bar_addr[bar]);
    }
}

/* Hand the part of an access that falls in the served capability's body
 * to the device; called without the device lock (the device's handler
 * may take its own lock, which is held around pci_msix_notify()). */
static void cfg_served(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len,
                       bool is_write)
{
    unsigned lo = d->served_off + 2, hi = d->served_off + d->served_len;
    unsigned a = off > lo ? off : lo, b = off + len < hi ? off + len : hi;

    if (!d->served_ops || a >= b)
        return;
    if (is_write)
        d->served_ops->write(d->served_opaque, a - d->served_off, data + (a - off), b - a);
    else
        d->served_ops->read(d->served_opaque, a - d->served_off, data + (a - off), b - a);
}

static void cfg_write(struct pci_dev *d, unsigned off, const uint8_t *data, unsigned len)
{
    bool msix_ctrl = false, was_on, bars = false;

    if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
        return;
    pthread_mutex_lock(&d->lock);
    was_on = msix_on(d);
    for (unsigned i = 0; i < len; i++) {
        unsigned o = off + i;

        d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (data[i] & d->wmask[o]));
        if (o >= PCI_BAR0 && o < PCI_BAR0 + 4 * PCI_NUM_BARS)
            bars = true;
        if (d->msix_nvec && (o == d->msix_cap + 2 || o == d->msix_cap + 3))
            msix_ctrl = true;
    }
    if (bars && len == 4 && !(off & 3))
        cfg_bar_fixup(d, (off - PCI_BAR0) / 4);
    if (msix_ctrl) {
        if (!was_on && msix_on(d))
            msix_commit(d);
        msix_flush_pending(d);
    }
    pthread_mutex_unlock(&d->lock);
    cfg_served(d, off, (uint8_t *)data, len, true);
}

static void cfg_read(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len)
{
    memset(data, 0, len);
    if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
        return;     /* extended space: no capabilities there */
    pthread_mutex_lock(&d->lock);
    memcpy(data, &d->cfg[off], len);
    pthread_mutex_unlock(&d->lock);
    cfg_served(d, off, data, len, false);
}

/* One config access of bus 0: slot, register, data. */
static void bus_cfg_access(struct pci_bus *bus, unsigned bus_nr, unsigned slot, unsigned fn,
                           unsigned reg, uint8_t *data, unsigned len, bool is_write)
{
    struct pci_dev *d = NULL;

    if (bus_nr == 0 && fn == 0 && slot < PCI_MAX_DEVICES)
        d = bus->devs[slot];
    if (!d) {
        if (!is_write)
            memset(data, 0xff, len);    /* no device answers */
        return;
    }
    if (is_write)
        cfg_write(d, reg, data, len);
    else
        cfg_read(d, reg, data, len);
}

static void pio_addr_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct pci_bus *bus = opaque;

    pthread_mutex_lock(&bus->lock);
    le_put(data, len, (uint64_t)bus->cf8 >> (8 * off));
    pthread_mutex_unlock(&bus->lock);
}

static void pio_addr_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct pci_bus *bus = opaque;

    if (off != 0 || len != 4)
        return;     /* only dword accesses latch an address */
    pthread_mutex_lock(&bus->lock);
    bus->cf8 = le_get(data, 4);
    pthread_mutex_unlock(&bus->lock);
}

static void pio_data_access(struct pci_bus *bus, uint64_t off, uint8_t *data, unsigned len,
                            bool is_write)
{
    uint32_t a;

    pthread_mutex_lock(&bus->lock);
    a = bus->cf8;
    pthread_mutex_unlock(&bus->lock);
    if (!(a & 0x80000000u) || off + len > 4) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    bus_cfg_access(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7,
                   (a & 0xfc) + (unsigned)off, data, len, is_write);
}

static void pio_data_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    pio_data_access(opaque, off, data, len, false);
}

static void pio_data_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    pio_data_access(opaque, off, (uint8_t *)data, len, true);
}

static void ecam_access(struct pci_bus *bus, uint64_t off, uint8_t *data, unsigned len,
                        bool is_write)
{
    bus_cfg_access(bus, (unsigned)(off >> 20), (unsigned)(off >> 15) & 0x1f,
                   (unsigned)(off >> 12) & 7, (unsigned)(off & 0xfff), data, len, is_write);
}

static void ecam_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    ecam_access(opaque, off, data, len, false);
}

static void ecam_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    ecam_access(opaque, off, (uint8_t *)data, len, true);
}

static const struct bus_ops pio_addr_ops = { .read = pio_addr_read, .write = pio_addr_write };
static const struct bus_ops pio_data_ops = { .read = pio_data_read, .write = pio_data_write };
static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* ---- devices ------------------------------------------------------------- */

int pci_cap_add(struct pci_dev *d, const void *cap, unsigned len)
{
    unsigned off = (d->cap_end + 3) & ~3u;

    if (len < 2 || off + len > PCI_CFG_SIZE)
        return -ENOSPC;
    memcpy(&d->cfg[off], cap, len);
    d->cfg[off + 1] = 0;
    if (d->cap_last)
        d->cfg[d->cap_last + 1] = (uint8_t)off;
    else
        d->cfg[PCI_CAP_PTR] = (uint8_t)off;
    cfg_put(d, PCI_STATUS, 2, le_get(&d->cfg[PCI_STATUS], 2) | PCI_STATUS_CAP_LIST);
    d->cap_last = off;
    d->cap_end = off + len;
    return (int)off;
}

int pci_cap_add_served(struct pci_dev *d, const void *cap, unsigned len,
                       const struct bus_ops *ops, void *opaque)
{
    int off;

    if (d->served_ops || !ops || !ops->read || !ops->write)
        return -EINVAL;
    off = pci_cap_add(d, cap, len);
    if (off < 0)
        return off;
    d->served_off = (unsigned)off;
    d->served_len = len;
    d->served_ops = ops;
    d->served_opaque = opaque;
    return off;
}

gpa_t pci_bar_addr(const struct pci_dev *d, unsigned bar)
{
    return bar < PCI_NUM_BARS ? d->bar_addr[bar] : 0;
}

unsigned pci_dev_slot(const struct pci_dev *d)
{
    return d->slot;
}

static void pci_dev_header(struct pci_dev *d, const struct pci_dev_desc *desc)
{
    cfg_put(d, PCI_VENDOR_ID, 2, desc->vendor);
    cfg_put(d, PCI_DEVICE_ID, 2, desc->device);
    cfg_put(d, PCI_REVISION, 1, desc->revision);
    cfg_put(d, PCI_CLASS_PROG, 3, desc->class_code);
    cfg_put(d, PCI_HEADER_TYPE, 1, 0);
    cfg_put(d, PCI_SUBSYS_VENDOR, 2, desc->subsys_vendor);
    cfg_put(d, PCI_SUBSYS_ID, 2, desc->subsys_id);
    le_put(&d->wmask[PCI_COMMAND], 2, PCI_CMD_WMASK);
    d->wmask[PCI_CACHE_LINE] = 0xff;
    d->wmask[PCI_LATENCY] = 0xff;
    d->wmask[PCI_INT_LINE] = 0xff;
    d->cap_end = PCI_CAP_START;
}

/* Place one BAR, naturally aligned: memory BARs in the 32-bit window,
 * I/O BARs in the port window (bit 0 set in the register). */
static int pci_bar_place(struct pci_dev *d, unsigned bar, const struct pci_bar_desc *b)
{
    struct pci_bus *bus = d->bus;
    gpa_t *next = b->io ? &bus->pio_next : &bus->mmio_next;
    gpa_t end = b->io ? LAYOUT_PCI_PIO + LAYOUT_PCI_PIO_SIZE : LAYOUT_PCI_MMIO + LAYOUT_PCI_MMIO_SIZE;
    uint32_t size = b->size;
    gpa_t addr = (*next + size - 1) & ~((gpa_t)size - 1);
    int ret;

    if ((b->io ? size < 4 || size > 256 : size < 4096) || (size & (size - 1)))
        return -EINVAL;
    if (addr + size > end)
        return -ENOSPC;
    ret = bus_register(b->io ? bus->pio : bus->mmio, addr, size, b->ops, b->opaque, d->name);
    if (ret)
        return ret;
    *next = addr + size;
    d->bar_io |= (uint8_t)(b->io << bar);
    d->bar_size[bar] = size;
    d->bar_addr[bar] = addr;
    le_put(&d->wmask[PCI_BAR0 + 4 * bar], 4, ~(size - 1));
    cfg_put(d, PCI_BAR0 + 4 * bar, 4, (uint32_t)addr | b->io);
    return 0;
}

static int pci_dev_setup(struct pci_dev *d, const struct pci_dev_desc *desc)
{
    int ret = 0;

    pci_dev_header(d, desc);
    for (unsigned b = 0; b < PCI_NUM_BARS && !ret; b++)
        if (desc->bars[b].size)
            ret = pci_bar_place(d, b, &desc->bars[b]);
    if (!ret && desc->msix_vectors)
        ret = msix_setup(d, desc->msix_vectors);
    if (!ret && desc->msix_vectors)
        ret = pci_bar_place(d, d->msix_bar, &(struct pci_bar_desc){
                                .size = MSIX_BAR_SIZE, .ops = &msix_bar_ops, .opaque = d });
    if (!ret && desc->msix_vectors)
        ret = msix_irqfds_setup(d);
    return ret;
}

static void pci_dev_free(struct pci_dev *d)
{
    for (unsigned v = 0; v < d->msix_nvec; v++)
        if (d->irqfd[v] >= 0)
            close(d->irqfd[v]);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int pci_dev_add(struct pci_bus *bus, const struct pci_dev_desc *desc, struct pci_dev **out)
{
    struct pci_dev *d;
    unsigned slot;
    int ret;

    for (slot = 0; slot < PCI_MAX_DEVICES && bus->devs[slot]; slot++)
        ;
    if (slot == PCI_MAX_DEVICES)
        return -ENOSPC;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->bus = bus;
    d->slot = slot;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECS; v++)
        d->irqfd[v] = -1;
    snprintf(d->name, sizeof(d->name), "%s", desc->name);
    pthread_mutex_init(&d->lock, NULL);
    ret = pci_dev_setup(d, desc);
    if (ret) {
        pci_dev_free(d);
        return ret;
    }
    bus->devs[slot] = d;
    log_debug("pci 00:%02x.0: %s %04x:%04x", slot, d->name, desc->vendor, desc->device);
    *out = d;
    return 0;
}

int pci_bus_create_on(struct bus *pio, struct bus *mmio, int vm_fd, struct pci_bus **out)
{
    static const struct pci_dev_desc bridge = {
        .name = "host-bridge", .vendor = HOST_BRIDGE_VENDOR, .device = HOST_BRIDGE_DEVICE,
        .subsys_vendor = HOST_BRIDGE_VENDOR, .class_code = 0x060000,
    };
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    struct pci_dev *hb;
    int ret;

    if (!bus)
        return -ENOMEM;
    bus->pio = pio;
    bus->mmio = mmio;
    bus->vm_fd = vm_fd;
    bus->mmio_next = LAYOUT_PCI_MMIO;
    bus->pio_next = LAYOUT_PCI_PIO;
    bus->next_gsi = MSI_FIRST_GSI;
    pthread_mutex_init(&bus->lock, NULL);
    pthread_mutex_init(&bus->route_lock, NULL);
    ret = bus_register(pio, PCI_PORT_ADDR, 4, &pio_addr_ops, bus, "pci-addr");
    if (!ret)
        ret = bus_register(pio, PCI_PORT_DATA, 4, &pio_data_ops, bus, "pci-data");
    if (!ret)
        ret = bus_register(mmio, LAYOUT_ECAM, LAYOUT_ECAM_SIZE, &ecam_ops, bus, "ecam");
    if (!ret)
        ret = pci_dev_add(bus, &bridge, &hb);
    if (ret) {
        pci_bus_destroy(bus);
        return ret;
    }
    *out = bus;
    return 0;
}

int pci_bus_create(struct vm *vm, struct pci_bus **out)
{
    return pci_bus_create_on(vm_pio_bus(vm), vm_mmio_bus(vm), vm_fd(vm), out);
}

void pci_bus_destroy(struct pci_bus *bus)
{
    if (!bus)
        return;
    for (unsigned i = 0; i < PCI_MAX_DEVICES; i++)
        if (bus->devs[i])
            pci_dev_free(bus->devs[i]);
    pthread_mutex_destroy(&bus->lock);
    pthread_mutex_destroy(&bus->route_lock);
    free(bus);
}
