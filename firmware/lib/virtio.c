/* See virtio.h. */
#include "fw.h"
#include "virtio.h"

#define PCI_VENDOR_VIRTIO   0x1af4
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_BAR0            0x10
#define PCI_CAP_PTR         0x34
#define PCI_CAP_ID_VNDR     0x09
#define PCI_CAP_ID_MSIX     0x11

#define CAP_COMMON  1
#define CAP_NOTIFY  2
#define CAP_ISR     3
#define CAP_DEVICE  4
#define CAP_PCI_CFG 5

#define PM_TMR_HZ   3579545ULL
#define PM_TMR_MASK 0xffffff

void fw_deadline_start(struct fw_deadline *d, unsigned seconds)
{
    d->last = inl(PORT_ACPI_PM_TMR) & PM_TMR_MASK;
    d->ticks = 0;
    d->limit = seconds * PM_TMR_HZ;
}

bool fw_deadline_passed(struct fw_deadline *d)
{
    uint32_t now = inl(PORT_ACPI_PM_TMR) & PM_TMR_MASK;

    d->ticks += (now - d->last) & PM_TMR_MASK;
    d->last = now;
    return d->ticks > d->limit;
}

static uint64_t ecam_base(void)
{
    uint32_t len;
    const uint8_t *reg = fw_fdt_prop(fw_fdt_path("/pci"), "reg", &len);
    uint64_t base = 0;

    CHECK(reg && len == 16);        /* <base size>, two cells each */
    for (unsigned i = 0; i < 8; i++)
        base = base << 8 | reg[i];
    return base;
}

uint64_t fw_pci_bar(const struct fw_virtio *v, unsigned bar)
{
    CHECK(bar < 6);
    return mmio_read32(v->cfg + PCI_BAR0 + 4 * bar) & ~0xfULL;
}

static void read_vndr_cap(struct fw_virtio *v, unsigned off)
{
    uint8_t type = mmio_read8(v->cfg + off + 3);
    uint64_t at = fw_pci_bar(v, mmio_read8(v->cfg + off + 4)) + mmio_read32(v->cfg + off + 8);

    if (type == CAP_COMMON) {
        v->common = at;
    } else if (type == CAP_NOTIFY && !v->notify) {
        /* The first one, as Linux takes it: kvmm lists its port area first. */
        v->notify = at;
        v->notify_mult = mmio_read32(v->cfg + off + 16);
        v->notify_io = mmio_read32(v->cfg + PCI_BAR0 + 4 * mmio_read8(v->cfg + off + 4)) & 1;
    } else if (type == CAP_ISR) {
        v->isr = at;
    } else if (type == CAP_DEVICE) {
        v->device = at;
    } else if (type == CAP_PCI_CFG) {
        v->pcicfg = off;
    }
}

static void read_caps(struct fw_virtio *v)
{
    unsigned off = mmio_read8(v->cfg + PCI_CAP_PTR), n = 0;

    CHECK(mmio_read16(v->cfg + PCI_STATUS) & 0x10);
    while (off) {
        uint8_t id = mmio_read8(v->cfg + off);

        CHECK(off >= 0x40 && off < 0x100 && ++n < 48);
        if (id == PCI_CAP_ID_VNDR)
            read_vndr_cap(v, off);
        else if (id == PCI_CAP_ID_MSIX)
            v->msix = off;
        off = mmio_read8(v->cfg + off + 1);
    }
    CHECK(v->common && v->notify && v->isr);
}

bool fw_virtio_find(struct fw_virtio *v, uint16_t device)
{
    uint64_t base = ecam_base();

    memset(v, 0, sizeof(*v));
    for (unsigned slot = 0; slot < 32; slot++) {
        uint64_t a = base + ((uint64_t)slot << 15);

        if (mmio_read16(a) == PCI_VENDOR_VIRTIO && mmio_read16(a + 2) == device) {
            v->cfg = a;
            mmio_write16(a + PCI_COMMAND, 0x7);     /* I/O and memory space, bus master */
            read_caps(v);
            return true;
        }
    }
    return false;
}

uint8_t fw_virtio_status(const struct fw_virtio *v)
{
    return mmio_read8(v->common + VIRTIO_COMMON_STATUS);
}

static void set_status(const struct fw_virtio *v, uint8_t s)
{
    mmio_write8(v->common + VIRTIO_COMMON_STATUS, s);
}

static void write64(uint64_t reg, uint64_t val)
{
    mmio_write32(reg, (uint32_t)val);
    mmio_write32(reg + 4, (uint32_t)(val >> 32));
}

static void negotiate(const struct fw_virtio *v)
{
    set_status(v, 0);
    CHECK(fw_virtio_status(v) == 0);
    set_status(v, VIRTIO_S_ACKNOWLEDGE);
    set_status(v, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    mmio_write32(v->common + VIRTIO_COMMON_DFSELECT, 1);
    CHECK(mmio_read32(v->common + VIRTIO_COMMON_DF) & 1);     /* VERSION_1 */
    mmio_write32(v->common + VIRTIO_COMMON_GFSELECT, 0);
    mmio_write32(v->common + VIRTIO_COMMON_GF, 0);
    mmio_write32(v->common + VIRTIO_COMMON_GFSELECT, 1);
    mmio_write32(v->common + VIRTIO_COMMON_GF, 1);
    set_status(v, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    CHECK(fw_virtio_status(v) & VIRTIO_S_FEATURES_OK);
}

void fw_virtio_init(struct fw_virtio *v, uint16_t qsize, uint64_t ring)
{
    const uint8_t all = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK |
                        VIRTIO_S_DRIVER_OK;

    negotiate(v);
    v->qsize = qsize;
    v->desc = ring;
    v->avail = ring + 0x1000;
    v->used = ring + 0x2000;
    CHECK(16u * qsize <= 0x1000 && 6 + 8u * qsize <= 0x1000);
    memset((void *)ring, 0, 0x3000);
    mmio_write16(v->common + VIRTIO_COMMON_Q_SELECT, 0);
    CHECK(mmio_read16(v->common + VIRTIO_COMMON_Q_SIZE) >= qsize);
    mmio_write16(v->common + VIRTIO_COMMON_Q_SIZE, qsize);
    write64(v->common + VIRTIO_COMMON_Q_DESC, v->desc);
    write64(v->common + VIRTIO_COMMON_Q_DRIVER, v->avail);
    write64(v->common + VIRTIO_COMMON_Q_DEVICE, v->used);
    mmio_write16(v->common + VIRTIO_COMMON_Q_ENABLE, 1);
    CHECK(mmio_read16(v->common + VIRTIO_COMMON_Q_ENABLE) == 1);
    set_status(v, all);
    CHECK(fw_virtio_status(v) == all);
}

volatile struct fw_virtq_desc *fw_virtq_desc(const struct fw_virtio *v, unsigned i)
{
    CHECK(i < v->qsize);
    return (volatile struct fw_virtq_desc *)v->desc + i;
}

void fw_virtq_notify(const struct fw_virtio *v)
{
    uint16_t off = mmio_read16(v->common + VIRTIO_COMMON_Q_NOFF);

    if (v->notify_io)
        outw((uint16_t)(v->notify + (uint64_t)off * v->notify_mult), 0);
    else
        mmio_write16(v->notify + (uint64_t)off * v->notify_mult, 0);
}

void fw_virtq_offer(const struct fw_virtio *v, const uint16_t *heads, unsigned n)
{
    volatile uint16_t *idx = (volatile uint16_t *)(v->avail + 2);
    volatile uint16_t *ring = (volatile uint16_t *)(v->avail + 4);
    uint16_t i = *idx;

    for (unsigned k = 0; k < n; k++)
        ring[(uint16_t)(i + k) % v->qsize] = heads[k];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *idx = (uint16_t)(i + n);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    fw_virtq_notify(v);
}

uint16_t fw_virtq_used_idx(const struct fw_virtio *v)
{
    return *(volatile uint16_t *)(v->used + 2);
}

void fw_virtq_used_elem(const struct fw_virtio *v, unsigned i, uint32_t *id, uint32_t *len)
{
    volatile uint32_t *e = (volatile uint32_t *)(v->used + 4) + 2 * (i % v->qsize);

    *id = e[0];
    *len = e[1];
}
