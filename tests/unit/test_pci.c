/* Unit tests for PCI configuration space over plain buses, without KVM:
 * config access through ECAM and ports 0xCF8/0xCFC, BAR sizing, the
 * capability list, device-served capabilities, and MSI-X table, PBA,
 * masking and pending delivery (irqfds are plain eventfds here). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "devices/pci.h"

#define BAR0_SIZE   0x4000
#define NVEC        3
#define MSIX_CAP    0x40        /* the first capability */
#define PBA_OFF     0x800

static struct bus pio, mmio;
static struct pci_bus *pb;
static struct pci_dev *dev;
static unsigned slot;

/* A BAR and a served capability that remember the last access. */
struct recorder {
    uint64_t off;
    unsigned len, reads, writes;
    uint8_t last[8];
};

static struct recorder bar_rec, cap_rec;

static void rec_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct recorder *r = opaque;

    r->reads++;
    r->off = off;
    r->len = len;
    for (unsigned i = 0; i < len; i++)
        data[i] = (uint8_t)(0xc0 + off + i);
}

static void rec_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct recorder *r = opaque;

    r->writes++;
    r->off = off;
    r->len = len;
    memcpy(r->last, data, len < sizeof(r->last) ? len : sizeof(r->last));
}

static const struct bus_ops rec_ops = { .read = rec_read, .write = rec_write };

/* ---- config and MMIO access helpers --------------------------------------- */

static uint32_t get_le(const uint8_t *p, unsigned len)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, unsigned len, uint64_t v)
{
    for (unsigned i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t cfg_rd(unsigned s, unsigned off, unsigned len)
{
    uint8_t b[4];

    assert_true(bus_access(&mmio, LAYOUT_ECAM + ((uint64_t)s << 15) + off, b, len, false));
    return get_le(b, len);
}

static void cfg_wr(unsigned s, unsigned off, unsigned len, uint32_t v)
{
    uint8_t b[4];

    put_le(b, len, v);
    assert_true(bus_access(&mmio, LAYOUT_ECAM + ((uint64_t)s << 15) + off, b, len, true));
}

static uint32_t mmio_rd(uint64_t addr, unsigned len)
{
    uint8_t b[8] = { 0 };

    assert_true(bus_access(&mmio, addr, b, len, false));
    return get_le(b, len < 4 ? len : 4);
}

static void mmio_wr(uint64_t addr, unsigned len, uint64_t v)
{
    uint8_t b[8];

    put_le(b, len, v);
    assert_true(bus_access(&mmio, addr, b, len, true));
}

/* Interrupts raised on vector v since the last call. */
static uint64_t irqs(unsigned v)
{
    uint64_t n = 0;

    if (read(pci_msix_irqfd(dev, v), &n, sizeof(n)) != sizeof(n))
        return 0;
    return n;
}

static uint64_t entry(unsigned v, unsigned word)
{
    return pci_bar_addr(dev, 1) + 16 * v + 4 * word;
}

static void msix_ctrl(uint16_t v)
{
    cfg_wr(slot, MSIX_CAP + 2, 2, v);
}

static int setup(void **state)
{
    static const uint8_t vndr[8] = { 0x09, 0, 8, 0x5a, 1, 2, 3, 4 };
    static const uint8_t served[12] = { 0x09, 0, 12, 0x77 };
    struct pci_dev_desc desc = {
        .name = "test", .vendor = 0x1234, .device = 0x5678, .subsys_vendor = 0x1234,
        .subsys_id = 0x9abc, .class_code = 0xff0000, .revision = 2,
        .bars[0] = { .size = BAR0_SIZE, .ops = &rec_ops, .opaque = &bar_rec },
        .msix_vectors = NVEC,
    };

    memset(&bar_rec, 0, sizeof(bar_rec));
    memset(&cap_rec, 0, sizeof(cap_rec));
    bus_init(&pio, "pio");
    bus_init(&mmio, "mmio");
    assert_int_equal(pci_bus_create_on(&pio, &mmio, -1, &pb), 0);
    assert_int_equal(pci_dev_add(pb, &desc, &dev), 0);
    slot = pci_dev_slot(dev);
    assert_int_equal(slot, 1);     /* after the host bridge */
    assert_int_equal(pci_cap_add(dev, vndr, sizeof(vndr)), 0x4c);
    assert_int_equal(pci_cap_add_served(dev, served, sizeof(served), &rec_ops, &cap_rec), 0x54);
    assert_int_equal(pci_cap_add_served(dev, served, sizeof(served), &rec_ops, &cap_rec),
                     -EINVAL);     /* one per device */
    return 0;
}

static int teardown(void **state)
{
    pci_bus_destroy(pb);
    bus_destroy(&pio);
    bus_destroy(&mmio);
    return 0;
}

/* ---- header ----------------------------------------------------------------- */

static void test_header(void **state)
{
    assert_int_equal(cfg_rd(0, 0x00, 2), 0x1b36);             /* host bridge */
    assert_int_equal(cfg_rd(0, 0x08, 4) >> 8, 0x060000);
    assert_int_equal(cfg_rd(slot, 0x00, 4), 0x56781234);
    assert_int_equal(cfg_rd(slot, 0x08, 4), 0xff000002);      /* class, revision */
    assert_int_equal(cfg_rd(slot, 0x2c, 4), 0x9abc1234);
    assert_int_equal(cfg_rd(2, 0x00, 4), 0xffffffff);         /* empty slot */
    assert_int_equal(cfg_rd(slot, 0x100, 4), 0);              /* extended space */

    /* Read-only fields stay; the command register keeps its writable bits. */
    cfg_wr(slot, 0x00, 4, 0);
    assert_int_equal(cfg_rd(slot, 0x00, 4), 0x56781234);
    cfg_wr(slot, 0x04, 2, 0xffff);
    assert_int_equal(cfg_rd(slot, 0x04, 2), 0x0407);
    cfg_wr(slot, 0x04, 2, 0);
    assert_int_equal(cfg_rd(slot, 0x04, 2), 0);
}

/* The same space through the legacy port pair. */
static void test_cf8(void **state)
{
    uint8_t b[4];

    put_le(b, 4, 0x80000000u | slot << 11 | 0x00);
    assert_true(bus_access(&pio, 0xcf8, b, 4, true));
    assert_true(bus_access(&pio, 0xcfc, b, 4, false));
    assert_int_equal(get_le(b, 4), 0x56781234);
    assert_true(bus_access(&pio, 0xcfe, b, 2, false));
    assert_int_equal(get_le(b, 2), 0x5678);
    put_le(b, 4, slot << 11);                                 /* enable bit clear */
    assert_true(bus_access(&pio, 0xcf8, b, 4, true));
    assert_true(bus_access(&pio, 0xcfc, b, 4, false));
    assert_int_equal(get_le(b, 4), 0xffffffff);
}

/* ---- BARs ------------------------------------------------------------------- */

static void test_bar_sizing(void **state)
{
    uint32_t addr0 = cfg_rd(slot, 0x10, 4), addr1 = cfg_rd(slot, 0x14, 4);

    assert_int_equal(addr0, pci_bar_addr(dev, 0));
    assert_int_equal(addr0 % BAR0_SIZE, 0);
    assert_true(addr0 >= LAYOUT_PCI_MMIO && addr0 < LAYOUT_PCI_MMIO + LAYOUT_PCI_MMIO_SIZE);
    assert_int_equal(addr1, pci_bar_addr(dev, 1));           /* the MSI-X BAR */

    cfg_wr(slot, 0x10, 4, 0xffffffff);
    assert_int_equal(cfg_rd(slot, 0x10, 4), (uint32_t)~(BAR0_SIZE - 1));
    cfg_wr(slot, 0x10, 4, addr0);
    assert_int_equal(cfg_rd(slot, 0x10, 4), addr0);
    cfg_wr(slot, 0x14, 4, 0xffffffff);
    assert_int_equal(cfg_rd(slot, 0x14, 4), 0xfffff000);
    cfg_wr(slot, 0x14, 4, addr1);
    assert_int_equal(cfg_rd(slot, 0x14, 4), addr1);
    for (unsigned b = 2; b < 6; b++) {                        /* unused BARs */
        cfg_wr(slot, 0x10 + 4 * b, 4, 0xffffffff);
        assert_int_equal(cfg_rd(slot, 0x10 + 4 * b, 4), 0);
    }

    /* BAR 0's handlers see offsets inside the BAR. */
    assert_int_equal(mmio_rd(addr0 + 0x123, 1), 0xc0 + 0x23);
    assert_int_equal(bar_rec.off, 0x123);
    mmio_wr(addr0 + 0x3ffc, 4, 0xdeadbeef);
    assert_int_equal(bar_rec.off, 0x3ffc);
    assert_int_equal(get_le(bar_rec.last, 4), 0xdeadbeef);
}

/* An I/O BAR: placed in the port window, bit 0 set, sized like any BAR,
 * its handlers reached through the port bus with offsets in the BAR. */
static void test_io_bar(void **state)
{
    static struct recorder io_rec;
    struct pci_dev_desc desc = {
        .name = "io", .vendor = 0x1234, .device = 0x0001, .class_code = 0xff0000,
        .bars[2] = { .size = 16, .io = true, .ops = &rec_ops, .opaque = &io_rec },
    };
    struct pci_dev_desc bad = { .name = "bad", .bars[0] = { .size = 512, .io = true, .ops = &rec_ops } };
    struct pci_dev *d2, *d3;
    unsigned s2;
    uint32_t port;
    uint8_t b[2];

    memset(&io_rec, 0, sizeof(io_rec));
    assert_int_equal(pci_dev_add(pb, &desc, &d2), 0);
    s2 = pci_dev_slot(d2);
    port = cfg_rd(s2, 0x18, 4);
    assert_int_equal(port & 1, 1);                           /* I/O space */
    assert_int_equal(port & ~1u, pci_bar_addr(d2, 2));
    assert_true(pci_bar_addr(d2, 2) >= LAYOUT_PCI_PIO &&
                pci_bar_addr(d2, 2) + 16 <= LAYOUT_PCI_PIO + LAYOUT_PCI_PIO_SIZE);
    assert_int_equal(pci_bar_addr(d2, 2) % 16, 0);

    cfg_wr(s2, 0x18, 4, 0xffffffff);
    assert_int_equal(cfg_rd(s2, 0x18, 4), 0xfffffff1);       /* size 16, I/O */
    cfg_wr(s2, 0x18, 4, port);
    assert_int_equal(cfg_rd(s2, 0x18, 4), port);

    put_le(b, 2, 0x0005);
    assert_true(bus_access(&pio, pci_bar_addr(d2, 2) + 6, b, 2, true));
    assert_int_equal(io_rec.writes, 1);
    assert_int_equal(io_rec.off, 6);
    assert_int_equal(get_le(io_rec.last, 2), 5);
    assert_false(bus_access(&mmio, pci_bar_addr(d2, 2) + 6, b, 2, true));

    assert_int_equal(pci_dev_add(pb, &bad, &d3), -EINVAL);   /* over 256 ports */
}

/* ---- capabilities ------------------------------------------------------------ */

static void test_cap_walk(void **state)
{
    static const uint8_t want_id[] = { 0x11, 0x09, 0x09 };
    static const unsigned want_off[] = { MSIX_CAP, 0x4c, 0x54 };
    unsigned off, n = 0;

    assert_true(cfg_rd(slot, 0x06, 2) & 0x10);                /* capability list */
    for (off = cfg_rd(slot, 0x34, 1); off; off = cfg_rd(slot, off + 1, 1)) {
        assert_true(n < 3);
        assert_int_equal(off, want_off[n]);
        assert_int_equal(cfg_rd(slot, off, 1), want_id[n]);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(cfg_rd(slot, 0x4c, 4), 0x5a080009 | 0x54 << 8);
    assert_int_equal(cfg_rd(slot, 0x50, 4), 0x04030201);
    cfg_wr(slot, 0x50, 4, 0);                                 /* read-only */
    assert_int_equal(cfg_rd(slot, 0x50, 4), 0x04030201);
    cfg_wr(slot, 0x4d, 1, 0);                                 /* next pointer too */
    assert_int_equal(cfg_rd(slot, 0x4d, 1), 0x54);

    /* MSI-X capability: table size - 1, table and PBA in BAR 1. */
    assert_int_equal(cfg_rd(slot, MSIX_CAP + 2, 2), NVEC - 1);
    assert_int_equal(cfg_rd(slot, MSIX_CAP + 4, 4), 1);
    assert_int_equal(cfg_rd(slot, MSIX_CAP + 8, 4), PBA_OFF | 1);
}

/* The body of a served capability goes to the device; its header stays. */
static void test_cap_served(void **state)
{
    assert_int_equal(cfg_rd(slot, 0x54, 2), 0x0009);          /* id, next: no call */
    assert_int_equal(cap_rec.reads, 0);
    assert_int_equal(cfg_rd(slot, 0x54, 4), 0x0009 | (uint32_t)(0xc2 | 0xc3 << 8) << 16);
    assert_int_equal(cap_rec.reads, 1);
    assert_int_equal(cap_rec.off, 2);
    assert_int_equal(cap_rec.len, 2);
    assert_int_equal(cfg_rd(slot, 0x5c, 4), 0xcbcac9c8);
    assert_int_equal(cap_rec.off, 8);
    cfg_wr(slot, 0x58, 4, 0x11223344);
    assert_int_equal(cap_rec.writes, 1);
    assert_int_equal(cap_rec.off, 4);
    assert_int_equal(get_le(cap_rec.last, 4), 0x11223344);
    cfg_wr(slot, 0x60, 4, 0);                                 /* past its end */
    assert_int_equal(cap_rec.writes, 1);
    cfg_wr(slot, 0x54, 2, 0xffff);                            /* header only */
    assert_int_equal(cap_rec.writes, 1);
    assert_int_equal(cfg_rd(slot, 0x54, 2), 0x0009);
}

/* ---- MSI-X ---------------------------------------------------------------------- */

static void test_msix_table(void **state)
{
    uint64_t pba = pci_bar_addr(dev, 1) + PBA_OFF;

    for (unsigned v = 0; v < NVEC; v++)
        assert_int_equal(mmio_rd(entry(v, 3), 4), 1);         /* masked at reset */
    mmio_wr(entry(1, 0), 4, 0xfee00000);
    mmio_wr(entry(1, 1), 4, 0);
    mmio_wr(entry(1, 2), 4, 0x4041);
    assert_int_equal(mmio_rd(entry(1, 0), 4), 0xfee00000);
    assert_int_equal(mmio_rd(entry(1, 2), 4), 0x4041);
    mmio_wr(entry(2, 0), 8, 0x00000001fee01000ULL);           /* one 64-bit store */
    assert_int_equal(mmio_rd(entry(2, 0), 4), 0xfee01000);
    assert_int_equal(mmio_rd(entry(2, 1), 4), 1);
    mmio_wr(entry(1, 3), 4, 0xfffffffe);                      /* reserved bits drop */
    assert_int_equal(mmio_rd(entry(1, 3), 4), 0);

    assert_int_equal(mmio_rd(entry(NVEC, 0), 4), 0);          /* past the table */
    mmio_wr(entry(NVEC, 0), 4, 0x12345678);
    assert_int_equal(mmio_rd(entry(NVEC, 0), 4), 0);
    assert_int_equal(mmio_rd(entry(0, 0) + 2, 4), 0);         /* misaligned */
    assert_int_equal(mmio_rd(pba, 4), 0);
    mmio_wr(pba, 4, 0xffffffff);                              /* read-only */
    assert_int_equal(mmio_rd(pba, 4), 0);
}

/* The destination APIC ID of a vector: only with MSI-X on, only for an
 * interrupt message address. */
static void test_msix_dest(void **state)
{
    mmio_wr(entry(1, 0), 4, 0xfee01000);                      /* APIC ID 1 */
    mmio_wr(entry(2, 0), 4, 0xfee3f00c);                      /* 0x3f, other bits set */
    mmio_wr(entry(0, 0), 4, 0x12345000);                      /* not an interrupt */
    assert_int_equal(pci_msix_dest(dev, 1), -1);              /* MSI-X off */
    msix_ctrl(0x8000);
    assert_int_equal(pci_msix_dest(dev, 1), 1);
    assert_int_equal(pci_msix_dest(dev, 2), 0x3f);
    assert_int_equal(pci_msix_dest(dev, 0), -1);
    assert_int_equal(pci_msix_dest(dev, NVEC), -1);           /* no such vector */
    msix_ctrl(0);
}

static void test_msix_pending(void **state)
{
    uint64_t pba = pci_bar_addr(dev, 1) + PBA_OFF;

    assert_false(pci_msix_enabled(dev));
    assert_int_equal(pci_msix_notify(dev, 0), -ENOENT);       /* MSI-X off */
    msix_ctrl(0x8000);
    assert_true(pci_msix_enabled(dev));
    assert_int_equal(pci_msix_notify(dev, NVEC), -ENOENT);

    /* A masked vector stays pending until it is unmasked. */
    assert_int_equal(pci_msix_notify(dev, 0), 0);
    assert_int_equal(irqs(0), 0);
    assert_int_equal(mmio_rd(pba, 4), 1);
    mmio_wr(entry(0, 3), 4, 0);
    assert_int_equal(irqs(0), 1);
    assert_int_equal(mmio_rd(pba, 4), 0);
    assert_int_equal(pci_msix_notify(dev, 0), 0);              /* unmasked: at once */
    assert_int_equal(irqs(0), 1);

    /* The function mask holds every vector; clearing it delivers. */
    mmio_wr(entry(2, 3), 4, 0);
    msix_ctrl(0xc000);
    assert_int_equal(pci_msix_notify(dev, 0), 0);
    assert_int_equal(pci_msix_notify(dev, 2), 0);
    assert_int_equal(pci_msix_notify(dev, 2), 0);             /* one pending bit */
    assert_int_equal(mmio_rd(pba, 4), 0x5);
    assert_int_equal(irqs(0) + irqs(2), 0);
    msix_ctrl(0x8000);
    assert_int_equal(mmio_rd(pba, 4), 0);
    assert_int_equal(irqs(0), 1);
    assert_int_equal(irqs(2), 1);

    /* Pending survives disabling MSI-X and fires when re-enabled. */
    mmio_wr(entry(1, 3), 4, 1);
    assert_int_equal(pci_msix_notify(dev, 1), 0);
    msix_ctrl(0);
    assert_int_equal(pci_msix_notify(dev, 1), -ENOENT);
    mmio_wr(entry(1, 3), 4, 0);
    assert_int_equal(irqs(1), 0);                             /* MSI-X off */
    msix_ctrl(0x8000);
    assert_int_equal(irqs(1), 1);
    assert_int_equal(mmio_rd(pba, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_bar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_dest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_pending, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
