/* Unit tests for the ACPI tables: framing, checksums, contents, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/acpi.h"
#include "boot/layout.h"

#define BUF_SIZE LAYOUT_ACPI_MAX

static uint8_t buf[BUF_SIZE];
static gpa_t rsdp;

static void build(unsigned ncpus, bool ecam)
{
    struct acpi_config cfg = { .ncpus = ncpus, .ecam = ecam };

    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI, &rsdp), 0);
    assert_int_equal(rsdp, LAYOUT_ACPI);
}

static const uint8_t *find(const char *sig)
{
    return acpi_find_table(buf, sizeof(buf), LAYOUT_ACPI, rsdp, sig);
}

static uint32_t table_len(const uint8_t *t)
{
    uint32_t len;

    memcpy(&len, t + offsetof(struct acpi_header, length), sizeof(len));
    return len;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    while (len--)
        s += *p++;
    return s;
}

static gpa_t gpa_of(const uint8_t *t)
{
    return LAYOUT_ACPI + (gpa_t)(t - buf);
}

/* Bytes used by the tables: the end of the furthest one. */
static size_t used_size(void)
{
    static const char *const sigs[] = { "XSDT", "FACP", "APIC", "DSDT", "FACS", "MCFG" };
    size_t end = sizeof(struct acpi_rsdp);

    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        const uint8_t *t = find(sigs[i]);

        if (t && (size_t)(t - buf) + table_len(t) > end)
            end = (size_t)(t - buf) + table_len(t);
    }
    return end;
}

static void test_rsdp(void **state)
{
    struct acpi_rsdp r;

    (void)state;
    build(2, false);
    memcpy(&r, buf, sizeof(r));
    assert_memory_equal(r.signature, "RSD PTR ", 8);
    assert_memory_equal(r.oem_id, "KVMM  ", 6);
    assert_int_equal(r.revision, 2);
    assert_int_equal(r.length, sizeof(r));
    assert_int_equal(sum(buf, 20), 0);
    assert_int_equal(sum(buf, sizeof(r)), 0);
    assert_int_equal(r.xsdt_address, gpa_of(find("XSDT")));
    assert_int_equal(rsdp % 16, 0);
}

static void check_table(const char *sig, uint8_t revision)
{
    const uint8_t *t = find(sig);
    struct acpi_header h;

    assert_non_null(t);
    memcpy(&h, t, sizeof(h));
    assert_memory_equal(h.signature, sig, 4);
    assert_int_equal(h.revision, revision);
    assert_memory_equal(h.oem_id, "KVMM  ", 6);
    assert_int_equal(sum(t, h.length), 0);
    assert_int_equal(gpa_of(t) % 16, 0);
}

static void test_checksums(void **state)
{
    (void)state;
    for (int ecam = 0; ecam <= 1; ecam++) {
        build(4, ecam);
        check_table("XSDT", 1);
        check_table("FACP", 6);
        check_table("APIC", 4);
        check_table("DSDT", 2);
        if (ecam)
            check_table("MCFG", 1);
        else
            assert_null(find("MCFG"));
    }
}

static void check_xsdt(const char *const *sigs, unsigned n)
{
    const uint8_t *x = find("XSDT");

    assert_non_null(x);
    assert_int_equal(table_len(x), sizeof(struct acpi_header) + 8 * n);
    for (unsigned i = 0; i < n; i++) {
        uint64_t addr;

        memcpy(&addr, x + sizeof(struct acpi_header) + 8 * i, 8);
        assert_true(addr >= LAYOUT_ACPI && addr < LAYOUT_ACPI + BUF_SIZE);
        assert_memory_equal(buf + (addr - LAYOUT_ACPI), sigs[i], 4);
    }
}

static void test_xsdt(void **state)
{
    static const char *const plain[] = { "FACP", "APIC" };
    static const char *const with_ecam[] = { "FACP", "APIC", "MCFG" };

    (void)state;
    build(1, false);
    check_xsdt(plain, 2);
    build(1, true);
    check_xsdt(with_ecam, 3);
}

static void check_gas_io(const struct acpi_gas *g, uint16_t port, unsigned bits)
{
    assert_int_equal(g->space_id, ACPI_GAS_IO);
    assert_int_equal(g->bit_width, bits);
    assert_int_equal(g->address, port);
}

static void test_fadt(void **state)
{
    const uint8_t *dsdt, *facs;
    struct acpi_fadt f;

    (void)state;
    build(2, false);
    memcpy(&f, find("FACP"), sizeof(f));
    dsdt = find("DSDT");
    facs = find("FACS");
    assert_non_null(dsdt);
    assert_non_null(facs);
    assert_int_equal(f.header.length, sizeof(f));
    assert_int_equal(f.dsdt, gpa_of(dsdt));
    assert_int_equal(f.x_dsdt, gpa_of(dsdt));
    assert_int_equal(f.firmware_ctrl, gpa_of(facs));
    assert_int_equal(gpa_of(facs) % 64, 0);
    assert_int_equal(table_len(facs), 64);
    assert_int_equal(f.sci_int, ACPI_SCI_IRQ);
    assert_int_equal(f.smi_cmd, 0);
    assert_int_equal(f.pm1a_evt_blk, PORT_ACPI_PM1A_EVT);
    assert_int_equal(f.pm1_evt_len, 4);
    assert_int_equal(f.pm1a_cnt_blk, PORT_ACPI_PM1A_CNT);
    assert_int_equal(f.pm1_cnt_len, 2);
    assert_int_equal(f.pm_tmr_blk, PORT_ACPI_PM_TMR);
    assert_int_equal(f.pm_tmr_len, 4);
    check_gas_io(&f.x_pm1a_evt_blk, PORT_ACPI_PM1A_EVT, 32);
    check_gas_io(&f.x_pm1a_cnt_blk, PORT_ACPI_PM1A_CNT, 16);
    check_gas_io(&f.x_pm_tmr_blk, PORT_ACPI_PM_TMR, 32);
    check_gas_io(&f.reset_reg, PORT_ACPI_RESET, 8);
    assert_int_equal(f.reset_value, ACPI_RESET_VALUE);
    assert_int_equal(f.flags, FADT_F_WBINVD | FADT_F_PROC_C1 |
                                  FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
    assert_false(f.flags & FADT_F_HW_REDUCED);
    assert_false(f.flags & FADT_F_PWR_BUTTON);
    assert_int_equal(f.iapc_boot_arch, FADT_BOOT_LEGACY);
}

struct madt_count {
    unsigned lapics, ioapics, overrides, nmis;
};

static void check_madt_entry(const uint8_t *e, unsigned ncpus, struct madt_count *c)
{
    struct madt_lapic l;
    struct madt_ioapic io;
    struct madt_int_override iso;
    struct madt_lapic_nmi nmi;

    switch (e[0]) {
    case MADT_LAPIC:
        memcpy(&l, e, sizeof(l));
        assert_int_equal(l.length, sizeof(l));
        assert_int_equal(l.apic_id, c->lapics);     /* ids 0..n-1 in order */
        assert_int_equal(l.processor_uid, c->lapics);
        assert_int_equal(l.flags, 1);
        c->lapics++;
        break;
    case MADT_IOAPIC:
        memcpy(&io, e, sizeof(io));
        assert_int_equal(io.length, sizeof(io));
        assert_int_equal(io.address, LAYOUT_IOAPIC);
        assert_int_equal(io.gsi_base, 0);
        c->ioapics++;
        break;
    case MADT_INT_OVERRIDE:
        memcpy(&iso, e, sizeof(iso));
        assert_int_equal(iso.length, sizeof(iso));
        assert_int_equal(iso.bus, 0);
        if (iso.source == 0) {
            assert_int_equal(iso.gsi, 2);
            assert_int_equal(iso.flags, 0);
        } else {
            assert_int_equal(iso.source, ACPI_SCI_IRQ);
            assert_int_equal(iso.gsi, ACPI_SCI_IRQ);
            assert_int_equal(iso.flags, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
        }
        c->overrides++;
        break;
    case MADT_LAPIC_NMI:
        memcpy(&nmi, e, sizeof(nmi));
        assert_int_equal(nmi.length, sizeof(nmi));
        assert_int_equal(nmi.processor_uid, 0xFF);
        assert_int_equal(nmi.lint, 1);
        c->nmis++;
        break;
    default:
        fail_msg("unexpected MADT entry type %u", e[0]);
    }
    assert_true(c->lapics <= ncpus);
}

static void check_madt(unsigned ncpus)
{
    struct madt_count c = { 0 };
    const uint8_t *t;
    struct acpi_madt m;
    size_t off;

    build(ncpus, false);
    t = find("APIC");
    assert_non_null(t);
    memcpy(&m, t, sizeof(m));
    assert_int_equal(m.lapic_address, LAYOUT_LAPIC);
    assert_int_equal(m.flags, MADT_PCAT_COMPAT);
    assert_int_equal(sum(t, m.header.length), 0);
    for (off = sizeof(m); off < m.header.length; off += t[off + 1]) {
        assert_true(off + 2 <= m.header.length);
        assert_true(t[off + 1] >= 2 && off + t[off + 1] <= m.header.length);
        check_madt_entry(t + off, ncpus, &c);
    }
    assert_int_equal(off, m.header.length);
    assert_int_equal(c.lapics, ncpus);
    assert_int_equal(c.ioapics, 1);
    assert_int_equal(c.overrides, 2);
    assert_int_equal(c.nmis, 1);
}

static void test_madt(void **state)
{
    static const unsigned counts[] = { 1, 2, 64, 255 };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
        check_madt(counts[i]);
}

static const uint8_t *memfind(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(hay + i, needle, n))
            return hay + i;
    return NULL;
}

/* Decode an AML PkgLength at p; returns its value, sets *size to its bytes. */
static size_t pkglen(const uint8_t *p, unsigned *size)
{
    unsigned n = (p[0] >> 6) + 1;
    size_t v;

    if (n == 1) {
        *size = 1;
        return p[0] & 0x3F;
    }
    v = p[0] & 0x0F;
    for (unsigned i = 1; i < n; i++)
        v |= (size_t)p[i] << (4 + 8 * (i - 1));
    *size = n;
    return v;
}

static void test_dsdt_s5(void **state)
{
    /* Name(\_S5_, Package(4) {5, 5, 0, 0}) */
    static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                                  0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00 };
    const uint8_t *t;

    (void)state;
    build(1, false);
    t = find("DSDT");
    assert_non_null(t);
    assert_non_null(memfind(t, table_len(t), "_S5_", 4));
    assert_non_null(memfind(t, table_len(t), s5, sizeof(s5)));
    assert_int_equal(ACPI_S5_SLP_TYP, 5);
}

/* The \_SB scope's PkgLength must reach exactly to the end of the table. */
static void check_dsdt_scope(bool ecam)
{
    static const uint8_t scope[] = { '\\', '_', 'S', 'B', '_' };
    static const uint8_t pnp0a08[] = { 0x0C, 0x41, 0xD0, 0x0A, 0x08 };
    static const uint8_t pnp0a03[] = { 0x0C, 0x41, 0xD0, 0x0A, 0x03 };
    static const uint8_t pnp0501[] = { 0x0C, 0x41, 0xD0, 0x05, 0x01 };
    static const uint8_t com1_io[] = { 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08 };
    static const uint8_t com1_irq[] = { 0x22, 0x10, 0x00 };
    static const uint8_t cf8_io[] = { 0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08 };
    const uint8_t *t, *s;
    unsigned n;
    size_t len;

    build(1, ecam);
    t = find("DSDT");
    len = table_len(t);
    s = memfind(t, len, scope, sizeof(scope));
    assert_non_null(s);
    assert_int_equal(s[-3], 0x10);                     /* ScopeOp */
    assert_int_equal(pkglen(s - 2, &n), len - (size_t)(s - 2 - t));
    assert_int_equal(n, 2);
    assert_non_null(memfind(t, len, "PCI0", 4));
    assert_non_null(memfind(t, len, "COM1", 4));
    assert_non_null(memfind(t, len, pnp0a08, sizeof(pnp0a08)));
    assert_non_null(memfind(t, len, pnp0a03, sizeof(pnp0a03)));
    assert_non_null(memfind(t, len, pnp0501, sizeof(pnp0501)));
    assert_non_null(memfind(t, len, com1_io, sizeof(com1_io)));
    assert_non_null(memfind(t, len, com1_irq, sizeof(com1_irq)));
    assert_non_null(memfind(t, len, cf8_io, sizeof(cf8_io)));
    assert_int_equal(memfind(t, len, "MRES", 4) != NULL, ecam);
}

static void test_dsdt_structure(void **state)
{
    (void)state;
    check_dsdt_scope(false);
    check_dsdt_scope(true);
}

static void test_mcfg(void **state)
{
    struct mcfg_allocation a;
    const uint8_t *t;

    (void)state;
    build(2, true);
    t = find("MCFG");
    assert_non_null(t);
    assert_int_equal(table_len(t), sizeof(struct acpi_mcfg) + sizeof(a));
    memcpy(&a, t + sizeof(struct acpi_mcfg), sizeof(a));
    assert_int_equal(a.base, LAYOUT_ECAM);
    assert_int_equal(a.segment, 0);
    assert_int_equal(a.start_bus, 0);
    assert_int_equal(a.end_bus, 255);
}

/* Every buffer shorter than the tables fails cleanly; exact-size heap
 * buffers let the sanitizer catch any write past the end. */
static void test_too_small(void **state)
{
    struct acpi_config cfg = { .ncpus = 64, .ecam = true };
    size_t need;
    gpa_t r = 0;

    (void)state;
    build(cfg.ncpus, cfg.ecam);
    need = used_size();
    for (size_t len = 0; len < need; len++) {
        uint8_t *b = malloc(len ? len : 1);

        assert_non_null(b);
        assert_int_equal(acpi_build(&cfg, b, len, LAYOUT_ACPI, &r), -ENOSPC);
        free(b);
    }
    memset(buf, 0xA5, sizeof(buf));
    assert_int_equal(acpi_build(&cfg, buf, need - 1, LAYOUT_ACPI, &r), -ENOSPC);
    for (size_t i = need - 1; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xA5);
    assert_int_equal(acpi_build(&cfg, buf, need, LAYOUT_ACPI, &r), 0);
}

static void test_bad_config(void **state)
{
    struct acpi_config cfg = { .ncpus = 0 };
    gpa_t r;

    (void)state;
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI, &r), -EINVAL);
    cfg.ncpus = ACPI_MAX_CPUS + 1;
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI, &r), -EINVAL);
    cfg.ncpus = 1;
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), LAYOUT_ACPI + 8, &r), -EINVAL);
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), 0x100000000ULL, &r), -EINVAL);
}

/* Tables at another base still point at themselves correctly. */
static void test_other_base(void **state)
{
    struct acpi_config cfg = { .ncpus = 3, .ecam = true };
    const gpa_t base = 0x40000;
    const uint8_t *madt;

    (void)state;
    assert_int_equal(acpi_build(&cfg, buf, sizeof(buf), base, &rsdp), 0);
    assert_int_equal(rsdp, base);
    madt = acpi_find_table(buf, sizeof(buf), base, rsdp, "APIC");
    assert_non_null(madt);
    assert_non_null(acpi_find_table(buf, sizeof(buf), base, rsdp, "DSDT"));
    assert_null(acpi_find_table(buf, sizeof(buf), LAYOUT_ACPI, rsdp, "APIC"));
}

static void test_find_corrupt(void **state)
{
    uint8_t *x;
    uint32_t huge = 0xFFFFFFF0;
    uint64_t wild = 0xFFFFFFFFFFFFFFF0ULL;

    (void)state;
    build(2, true);
    /* the walk stops at the end of a short buffer */
    assert_null(acpi_find_table(buf, 40, LAYOUT_ACPI, rsdp, "APIC"));
    assert_null(acpi_find_table(buf, sizeof(buf), LAYOUT_ACPI, rsdp + 8, "APIC"));
    assert_null(acpi_find_table(buf, sizeof(buf), LAYOUT_ACPI, rsdp, "SSDT"));
    /* a wild XSDT entry is skipped, a huge XSDT length rejected */
    x = (uint8_t *)find("XSDT");
    memcpy(x + sizeof(struct acpi_header), &wild, sizeof(wild));
    assert_null(find("FACP"));
    assert_non_null(find("APIC"));
    memcpy(x + offsetof(struct acpi_header, length), &huge, sizeof(huge));
    assert_null(find("APIC"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsdp),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_xsdt),
        cmocka_unit_test(test_fadt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_dsdt_s5),
        cmocka_unit_test(test_dsdt_structure),
        cmocka_unit_test(test_mcfg),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_other_base),
        cmocka_unit_test(test_find_corrupt),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
