#include "boot/acpi.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/layout.h"

#define ACPI_OEM_ID        "KVMM  "
#define ACPI_OEM_TABLE_ID  "KVMMVIRT"
#define ACPI_CREATOR_ID    "KVMM"
#define ACPI_TABLE_ALIGN   16
#define ACPI_FACS_ALIGN    64
#define ACPI_MAX_XSDT      3     /* FADT, MADT, MCFG */

/*
 * Output cursor over the caller's buffer.  The first failure sticks in
 * `err` and every later write is dropped, so the emitters below can be
 * written straight through and checked once at the end.
 */
struct acpi_out {
    uint8_t *buf;
    size_t cap;
    size_t off;
    gpa_t base;     /* guest address of buf[0] */
    int err;
};

static bool out_reserve(struct acpi_out *o, size_t len)
{
    if (o->err)
        return false;
    if (len > o->cap - o->off) {
        o->err = -ENOSPC;
        return false;
    }
    return true;
}

static void out_bytes(struct acpi_out *o, const void *p, size_t len)
{
    if (!out_reserve(o, len))
        return;
    memcpy(o->buf + o->off, p, len);
    o->off += len;
}

/* Leave `len` bytes as they are (zero) for later filling. */
static void out_skip(struct acpi_out *o, size_t len)
{
    if (out_reserve(o, len))
        o->off += len;
}

static void out_u8(struct acpi_out *o, uint8_t v)
{
    out_bytes(o, &v, 1);
}

/* Little-endian integer of `n` bytes. */
static void out_le(struct acpi_out *o, uint64_t v, unsigned n)
{
    uint8_t b[8];

    assert(n <= sizeof(b));
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    out_bytes(o, b, n);
}

/* Skip (zeroed) bytes until the guest address of the cursor is aligned. */
static void out_align(struct acpi_out *o, size_t align)
{
    size_t pad = (size_t)(-(o->base + o->off) & (align - 1));

    if (!out_reserve(o, pad))
        return;
    memset(o->buf + o->off, 0, pad);
    o->off += pad;
}

static gpa_t out_gpa(const struct acpi_out *o, size_t off)
{
    return o->base + off;
}

static uint8_t acpi_sum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    while (len--)
        sum += *p++;
    return sum;
}

/* ---- System description table framing ---- */

static size_t table_begin(struct acpi_out *o, const char sig[4], uint8_t rev)
{
    struct acpi_header h;
    size_t start;

    memset(&h, 0, sizeof(h));
    memcpy(h.signature, sig, 4);
    h.revision = rev;
    memcpy(h.oem_id, ACPI_OEM_ID, sizeof(h.oem_id));
    memcpy(h.oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h.oem_table_id));
    h.oem_revision = 1;
    memcpy(h.creator_id, ACPI_CREATOR_ID, sizeof(h.creator_id));
    h.creator_revision = 1;

    out_align(o, ACPI_TABLE_ALIGN);
    start = o->off;
    out_bytes(o, &h, sizeof(h));
    return start;
}

/* Set the length and checksum of the table that starts at `start`. */
static void table_end(struct acpi_out *o, size_t start)
{
    uint8_t *t = o->buf + start;
    uint32_t len;

    if (o->err)
        return;
    len = (uint32_t)(o->off - start);
    memcpy(t + offsetof(struct acpi_header, length), &len, sizeof(len));
    t[offsetof(struct acpi_header, checksum)] = 0;
    t[offsetof(struct acpi_header, checksum)] = (uint8_t)-acpi_sum(t, len);
}

/* Emit the part of a fixed-size table that follows its header. */
static void table_body(struct acpi_out *o, const void *table, size_t size)
{
    const uint8_t *p = table;

    out_bytes(o, p + sizeof(struct acpi_header), size - sizeof(struct acpi_header));
}

/* ---- AML ---- */

enum {
    AML_ZERO = 0x00,
    AML_ONE = 0x01,
    AML_NAME = 0x08,
    AML_BYTE = 0x0A,
    AML_WORD = 0x0B,
    AML_DWORD = 0x0C,
    AML_QWORD = 0x0E,
    AML_SCOPE = 0x10,
    AML_BUFFER = 0x11,
    AML_PACKAGE = 0x12,
    AML_EXT = 0x5B,
    AML_ROOT = 0x5C,
    AML_EXT_DEVICE = 0x82,
};

/* A single name segment, optionally rooted: "_HID", "\\_SB_". */
static void aml_name(struct acpi_out *o, const char *path)
{
    if (*path == '\\') {
        out_u8(o, AML_ROOT);
        path++;
    }
    assert(strlen(path) == 4);
    out_bytes(o, path, 4);
}

static void aml_int(struct acpi_out *o, uint64_t v)
{
    if (v == 0) {
        out_u8(o, AML_ZERO);
    } else if (v == 1) {
        out_u8(o, AML_ONE);
    } else if (v <= 0xFF) {
        out_u8(o, AML_BYTE);
        out_le(o, v, 1);
    } else if (v <= 0xFFFF) {
        out_u8(o, AML_WORD);
        out_le(o, v, 2);
    } else if (v <= 0xFFFFFFFF) {
        out_u8(o, AML_DWORD);
        out_le(o, v, 4);
    } else {
        out_u8(o, AML_QWORD);
        out_le(o, v, 8);
    }
}

/*
 * PkgLength counts its own bytes, and its size depends on the length, so
 * the body is emitted first and moved up once the length is known.
 */
static size_t aml_pkg_begin(struct acpi_out *o)
{
    return o->off;
}

static unsigned aml_pkglen_size(size_t body)
{
    if (body + 1 < 0x40)
        return 1;
    if (body + 2 < (1u << 12))
        return 2;
    if (body + 3 < (1u << 20))
        return 3;
    if (body + 4 < (1u << 28))
        return 4;
    return 0;
}

static void aml_pkg_end(struct acpi_out *o, size_t start)
{
    size_t body, total;
    unsigned n;
    uint8_t *p;

    if (o->err)
        return;
    body = o->off - start;
    n = aml_pkglen_size(body);
    if (n == 0) {
        o->err = -E2BIG;
        return;
    }
    if (!out_reserve(o, n))
        return;
    p = o->buf + start;
    memmove(p + n, p, body);
    total = body + n;
    if (n == 1) {
        p[0] = (uint8_t)total;
    } else {
        p[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
        for (unsigned i = 1; i < n; i++)
            p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
    o->off += n;
}

static size_t aml_scope_begin(struct acpi_out *o, const char *name)
{
    size_t start;

    out_u8(o, AML_SCOPE);
    start = aml_pkg_begin(o);
    aml_name(o, name);
    return start;
}

static size_t aml_device_begin(struct acpi_out *o, const char *name)
{
    size_t start;

    out_u8(o, AML_EXT);
    out_u8(o, AML_EXT_DEVICE);
    start = aml_pkg_begin(o);
    aml_name(o, name);
    return start;
}

static void aml_name_int(struct acpi_out *o, const char *name, uint64_t v)
{
    out_u8(o, AML_NAME);
    aml_name(o, name);
    aml_int(o, v);
}

static unsigned hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    assert(c >= 'A' && c <= 'F');
    return (unsigned)(c - 'A' + 10);
}

/* Name(name, EisaId("PNP0A03")): three 5-bit letters and four hex
 * digits, stored most significant byte first. */
static void aml_name_eisaid(struct acpi_out *o, const char *name, const char *id)
{
    uint32_t v;

    assert(strlen(id) == 7);
    v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
        (uint32_t)(id[2] - 0x40) << 16 | hex_digit(id[3]) << 12 |
        hex_digit(id[4]) << 8 | hex_digit(id[5]) << 4 | hex_digit(id[6]);
    out_u8(o, AML_NAME);
    aml_name(o, name);
    out_u8(o, AML_DWORD);
    out_le(o, __builtin_bswap32(v), 4);
}

/* ---- Resource templates (the bytes of a _CRS buffer) ---- */

struct res_tmpl {
    uint8_t data[128];
    size_t len;
};

static void res_le(struct res_tmpl *r, uint64_t v, unsigned n)
{
    assert(n <= sizeof(r->data) - r->len);
    for (unsigned i = 0; i < n; i++)
        r->data[r->len++] = (uint8_t)(v >> (8 * i));
}

/* I/O port descriptor, 16-bit decode, fixed base. */
static void res_io(struct res_tmpl *r, uint16_t port, uint8_t len)
{
    res_le(r, 0x47, 1);
    res_le(r, 0x01, 1);
    res_le(r, port, 2);
    res_le(r, port, 2);
    res_le(r, 1, 1);
    res_le(r, len, 1);
}

/* IRQ descriptor without flags: edge triggered, active high. */
static void res_irq(struct res_tmpl *r, unsigned irq)
{
    res_le(r, 0x22, 1);
    res_le(r, 1u << irq, 2);
}

enum { RES_SPACE_MEM = 0, RES_SPACE_IO = 1, RES_SPACE_BUS = 2 };
#define RES_PRODUCER_FIXED 0x0C  /* producer, positive decode, min+max fixed */

/* Word address space descriptor (bus numbers, I/O windows). */
static void res_word_space(struct res_tmpl *r, uint8_t space, uint8_t tflags,
                           uint16_t min, uint16_t max)
{
    res_le(r, 0x88, 1);
    res_le(r, 13, 2);
    res_le(r, space, 1);
    res_le(r, RES_PRODUCER_FIXED, 1);
    res_le(r, tflags, 1);
    res_le(r, 0, 2);                /* granularity */
    res_le(r, min, 2);
    res_le(r, max, 2);
    res_le(r, 0, 2);                /* translation */
    res_le(r, (uint32_t)max - min + 1, 2);
}

/* DWord memory window, read/write, non-cacheable. */
static void res_dword_mem(struct res_tmpl *r, uint32_t base, uint32_t len)
{
    res_le(r, 0x87, 1);
    res_le(r, 23, 2);
    res_le(r, RES_SPACE_MEM, 1);
    res_le(r, RES_PRODUCER_FIXED, 1);
    res_le(r, 0x01, 1);
    res_le(r, 0, 4);
    res_le(r, base, 4);
    res_le(r, base + len - 1, 4);
    res_le(r, 0, 4);
    res_le(r, len, 4);
}

static void res_mem32_fixed(struct res_tmpl *r, uint32_t base, uint32_t len)
{
    res_le(r, 0x86, 1);
    res_le(r, 9, 2);
    res_le(r, 0x01, 1);             /* read/write */
    res_le(r, base, 4);
    res_le(r, len, 4);
}

/* Name(name, ResourceTemplate() {...}), closing the template. */
static void aml_name_crs(struct acpi_out *o, const char *name, struct res_tmpl *r)
{
    size_t start;

    res_le(r, 0x79, 1);             /* end tag; checksum 0 = not checked */
    res_le(r, 0x00, 1);
    out_u8(o, AML_NAME);
    aml_name(o, name);
    out_u8(o, AML_BUFFER);
    start = aml_pkg_begin(o);
    aml_int(o, r->len);
    out_bytes(o, r->data, r->len);
    aml_pkg_end(o, start);
}

/* ---- DSDT ---- */

static void dsdt_emit_s5(struct acpi_out *o)
{
    size_t start;

    out_u8(o, AML_NAME);
    aml_name(o, "\\_S5_");
    out_u8(o, AML_PACKAGE);
    start = aml_pkg_begin(o);
    out_u8(o, 4);
    aml_int(o, ACPI_S5_SLP_TYP);
    aml_int(o, ACPI_S5_SLP_TYP);
    aml_int(o, 0);
    aml_int(o, 0);
    aml_pkg_end(o, start);
}

static void dsdt_emit_pci0(struct acpi_out *o)
{
    struct res_tmpl crs = { .len = 0 };
    size_t dev = aml_device_begin(o, "PCI0");

    aml_name_eisaid(o, "_HID", "PNP0A08");
    aml_name_eisaid(o, "_CID", "PNP0A03");
    aml_name_int(o, "_SEG", 0);
    aml_name_int(o, "_BBN", 0);
    aml_name_int(o, "_UID", 0);
    res_word_space(&crs, RES_SPACE_BUS, 0, 0, 255);
    res_io(&crs, 0xCF8, 8);
    res_word_space(&crs, RES_SPACE_IO, 0x03, 0x0000, 0x0CF7);
    res_word_space(&crs, RES_SPACE_IO, 0x03, 0x0D00, 0xFFFF);
    res_dword_mem(&crs, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE);
    aml_name_crs(o, "_CRS", &crs);
    aml_pkg_end(o, dev);
}

static void dsdt_emit_com1(struct acpi_out *o)
{
    struct res_tmpl crs = { .len = 0 };
    size_t dev = aml_device_begin(o, "COM1");

    aml_name_eisaid(o, "_HID", "PNP0501");
    aml_name_int(o, "_UID", 0);
    res_io(&crs, PORT_COM1, 8);
    res_irq(&crs, IRQ_COM1);
    aml_name_crs(o, "_CRS", &crs);
    aml_pkg_end(o, dev);
}

/* Motherboard resource claiming the ECAM window, so the OS trusts MCFG. */
static void dsdt_emit_ecam_res(struct acpi_out *o)
{
    struct res_tmpl crs = { .len = 0 };
    size_t dev = aml_device_begin(o, "MRES");

    aml_name_eisaid(o, "_HID", "PNP0C02");
    aml_name_int(o, "_UID", 1);
    res_mem32_fixed(&crs, LAYOUT_ECAM, LAYOUT_ECAM_SIZE);
    aml_name_crs(o, "_CRS", &crs);
    aml_pkg_end(o, dev);
}

/* Name(name, "STRING") */
static void aml_name_string(struct acpi_out *o, const char *name, const char *str)
{
    out_u8(o, AML_NAME);
    aml_name(o, name);
    out_u8(o, 0x0D);                /* StringPrefix */
    out_bytes(o, str, strlen(str) + 1);
}

/* pvpanic (QEMU0001): Linux's pvpanic-mmio driver binds to it by _HID. */
static void dsdt_emit_pvpanic(struct acpi_out *o)
{
    struct res_tmpl crs = { .len = 0 };
    size_t dev = aml_device_begin(o, "PEVT");

    aml_name_string(o, "_HID", "QEMU0001");
    res_io(&crs, PORT_PVPANIC, 1);
    aml_name_crs(o, "_CRS", &crs);
    aml_pkg_end(o, dev);
}

static size_t dsdt_emit(struct acpi_out *o, const struct acpi_config *cfg)
{
    size_t start = table_begin(o, "DSDT", 2);
    size_t sb;

    dsdt_emit_s5(o);
    sb = aml_scope_begin(o, "\\_SB_");
    dsdt_emit_pci0(o);
    dsdt_emit_com1(o);
    dsdt_emit_pvpanic(o);
    if (cfg->ecam)
        dsdt_emit_ecam_res(o);
    aml_pkg_end(o, sb);
    table_end(o, start);
    return start;
}

/* ---- Fixed tables ---- */

static size_t facs_emit(struct acpi_out *o)
{
    struct acpi_facs f;
    size_t start;

    memset(&f, 0, sizeof(f));
    memcpy(f.signature, "FACS", 4);
    f.length = sizeof(f);
    f.version = 2;
    out_align(o, ACPI_FACS_ALIGN);
    start = o->off;
    out_bytes(o, &f, sizeof(f));
    return start;
}

static struct acpi_gas gas_io(uint16_t port, unsigned bytes, uint8_t access)
{
    struct acpi_gas g = {
        .space_id = ACPI_GAS_IO,
        .bit_width = (uint8_t)(bytes * 8),
        .access_size = access,
        .address = port,
    };
    return g;
}

static size_t fadt_emit(struct acpi_out *o, gpa_t dsdt, gpa_t facs)
{
    struct acpi_fadt f;
    size_t start;

    memset(&f, 0, sizeof(f));
    f.firmware_ctrl = (uint32_t)facs;
    f.dsdt = (uint32_t)dsdt;
    f.x_dsdt = dsdt;
    f.sci_int = ACPI_SCI_IRQ;
    f.smi_cmd = 0;                  /* no SMM: always in ACPI mode */
    f.pm1a_evt_blk = PORT_ACPI_PM1A_EVT;
    f.pm1_evt_len = 4;
    f.pm1a_cnt_blk = PORT_ACPI_PM1A_CNT;
    f.pm1_cnt_len = 2;
    f.pm_tmr_blk = PORT_ACPI_PM_TMR;
    f.pm_tmr_len = 4;
    f.x_pm1a_evt_blk = gas_io(PORT_ACPI_PM1A_EVT, 4, 0);
    f.x_pm1a_cnt_blk = gas_io(PORT_ACPI_PM1A_CNT, 2, 0);
    f.x_pm_tmr_blk = gas_io(PORT_ACPI_PM_TMR, 4, 0);
    f.p_lvl2_lat = 0x0FFF;          /* > 100: no C2 */
    f.p_lvl3_lat = 0x0FFF;          /* > 1000: no C3 */
    /* No 8042 flag: the guest then skips probing a PS/2 controller that
     * does not exist (seconds of timeouts).  Port 0x64 still takes the
     * 0xFE reset pulse. */
    f.iapc_boot_arch = FADT_BOOT_LEGACY;
    f.flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
              FADT_F_RESET_REG_SUP;
    f.reset_reg = gas_io(PORT_ACPI_RESET, 1, 1);
    f.reset_value = ACPI_RESET_VALUE;
    f.minor_revision = 0;

    start = table_begin(o, "FACP", 6);
    table_body(o, &f, sizeof(f));
    table_end(o, start);
    return start;
}

static void madt_emit_cpus(struct acpi_out *o, unsigned ncpus)
{
    for (unsigned i = 0; i < ncpus; i++) {
        struct madt_lapic l = {
            .type = MADT_LAPIC,
            .length = sizeof(l),
            .processor_uid = (uint8_t)i,
            .apic_id = (uint8_t)i,
            .flags = 1,
        };
        out_bytes(o, &l, sizeof(l));
    }
}

static void madt_emit_override(struct acpi_out *o, uint8_t irq, uint32_t gsi,
                               uint16_t flags)
{
    struct madt_int_override iso = {
        .type = MADT_INT_OVERRIDE,
        .length = sizeof(iso),
        .bus = 0,
        .source = irq,
        .gsi = gsi,
        .flags = flags,
    };
    out_bytes(o, &iso, sizeof(iso));
}

static size_t madt_emit(struct acpi_out *o, const struct acpi_config *cfg)
{
    struct madt_ioapic ioapic = {
        .type = MADT_IOAPIC,
        .length = sizeof(ioapic),
        .ioapic_id = 0,
        .address = LAYOUT_IOAPIC,
        .gsi_base = 0,
    };
    struct madt_lapic_nmi nmi = {
        .type = MADT_LAPIC_NMI,
        .length = sizeof(nmi),
        .processor_uid = 0xFF,
        .flags = 0,
        .lint = 1,
    };
    size_t start = table_begin(o, "APIC", 4);

    out_le(o, LAYOUT_LAPIC, 4);
    out_le(o, MADT_PCAT_COMPAT, 4);
    madt_emit_cpus(o, cfg->ncpus);
    out_bytes(o, &ioapic, sizeof(ioapic));
    madt_emit_override(o, 0, 2, 0);
    madt_emit_override(o, ACPI_SCI_IRQ, ACPI_SCI_IRQ,
                       MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
    out_bytes(o, &nmi, sizeof(nmi));
    table_end(o, start);
    return start;
}

static size_t mcfg_emit(struct acpi_out *o)
{
    struct mcfg_allocation a = {
        .base = LAYOUT_ECAM,
        .segment = 0,
        .start_bus = 0,
        .end_bus = (uint8_t)(LAYOUT_ECAM_SIZE / MiB - 1),
    };
    size_t start = table_begin(o, "MCFG", 1);

    out_le(o, 0, 8);
    out_bytes(o, &a, sizeof(a));
    table_end(o, start);
    return start;
}

static size_t xsdt_emit(struct acpi_out *o, const gpa_t *tables, unsigned n)
{
    size_t start = table_begin(o, "XSDT", 1);

    for (unsigned i = 0; i < n; i++)
        out_le(o, tables[i], 8);
    table_end(o, start);
    return start;
}

static void rsdp_fill(struct acpi_out *o, size_t at, gpa_t xsdt)
{
    struct acpi_rsdp r;

    memset(&r, 0, sizeof(r));
    memcpy(r.signature, "RSD PTR ", sizeof(r.signature));
    memcpy(r.oem_id, ACPI_OEM_ID, sizeof(r.oem_id));
    r.revision = 2;
    r.length = sizeof(r);
    r.xsdt_address = xsdt;
    r.checksum = (uint8_t)-acpi_sum((const uint8_t *)&r, 20);
    r.ext_checksum = (uint8_t)-acpi_sum((const uint8_t *)&r, sizeof(r));
    memcpy(o->buf + at, &r, sizeof(r));
}

_Static_assert(LAYOUT_ECAM_SIZE == 256 * MiB, "MCFG describes buses 0..255");

int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t buflen,
               gpa_t base, gpa_t *rsdp_out)
{
    struct acpi_out o = { .buf = buf, .cap = buflen, .base = base };
    gpa_t tables[ACPI_MAX_XSDT];
    unsigned ntables = 0;
    size_t rsdp, facs, dsdt, fadt, xsdt;

    if (cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS)
        return -EINVAL;
    /* Tables use 32-bit pointers too, and the RSDP must be 16-aligned. */
    if (base % ACPI_TABLE_ALIGN || base > UINT32_MAX ||
        buflen > (uint64_t)UINT32_MAX + 1 - base)
        return -EINVAL;

    memset(buf, 0, buflen);
    rsdp = o.off;
    out_skip(&o, sizeof(struct acpi_rsdp));     /* filled in last */
    facs = facs_emit(&o);
    dsdt = dsdt_emit(&o, cfg);
    fadt = fadt_emit(&o, out_gpa(&o, dsdt), out_gpa(&o, facs));
    tables[ntables++] = out_gpa(&o, fadt);
    tables[ntables++] = out_gpa(&o, madt_emit(&o, cfg));
    if (cfg->ecam)
        tables[ntables++] = out_gpa(&o, mcfg_emit(&o));
    xsdt = xsdt_emit(&o, tables, ntables);
    if (o.err)
        return o.err;
    rsdp_fill(&o, rsdp, out_gpa(&o, xsdt));
    *rsdp_out = out_gpa(&o, rsdp);
    return 0;
}

/* ---- Lookup ---- */

/* buf + offset of guest address `addr` if [addr, addr+min) lies in buf. */
static const uint8_t *acpi_at(const uint8_t *buf, size_t len, gpa_t base,
                              gpa_t addr, uint64_t min)
{
    uint64_t off;

    if (addr < base)
        return NULL;
    off = addr - base;
    if (off > len || min > len - off)
        return NULL;
    return buf + off;
}

/* A table header at `addr` whose whole declared length lies in buf. */
static const uint8_t *acpi_table_at(const uint8_t *buf, size_t len,
                                    gpa_t base, gpa_t addr)
{
    const uint8_t *t = acpi_at(buf, len, base, addr, sizeof(struct acpi_header));
    uint32_t tlen;

    if (!t)
        return NULL;
    memcpy(&tlen, t + offsetof(struct acpi_header, length), sizeof(tlen));
    if (tlen < sizeof(struct acpi_header) || !acpi_at(buf, len, base, addr, tlen))
        return NULL;
    return t;
}

static const void *acpi_find_via_fadt(const uint8_t *buf, size_t len,
                                      gpa_t base, gpa_t rsdp, const char sig[4])
{
    const uint8_t *p = acpi_find_table(buf, len, base, rsdp, "FACP");
    struct acpi_fadt f;
    const uint8_t *t;
    gpa_t addr;

    if (!p)
        return NULL;
    memcpy(&f.header, p, sizeof(f.header));
    if (f.header.length < sizeof(f))
        return NULL;
    memcpy(&f, p, sizeof(f));
    if (!memcmp(sig, "DSDT", 4))
        addr = f.x_dsdt ? f.x_dsdt : f.dsdt;
    else
        addr = f.x_firmware_ctrl ? f.x_firmware_ctrl : f.firmware_ctrl;
    t = acpi_table_at(buf, len, base, addr);
    return t && !memcmp(t, sig, 4) ? t : NULL;
}

const void *acpi_find_table(const uint8_t *buf, size_t len, gpa_t base,
                            gpa_t rsdp, const char sig[4])
{
    const uint8_t *p = acpi_at(buf, len, base, rsdp, sizeof(struct acpi_rsdp));
    const uint8_t *xsdt;
    struct acpi_rsdp r;
    uint32_t xlen;

    if (!p)
        return NULL;
    memcpy(&r, p, sizeof(r));
    if (memcmp(r.signature, "RSD PTR ", 8) || r.revision < 2)
        return NULL;
    xsdt = acpi_table_at(buf, len, base, r.xsdt_address);
    if (!xsdt || memcmp(xsdt, "XSDT", 4))
        return NULL;
    if (!memcmp(sig, "XSDT", 4))
        return xsdt;
    if (!memcmp(sig, "DSDT", 4) || !memcmp(sig, "FACS", 4))
        return acpi_find_via_fadt(buf, len, base, rsdp, sig);

    memcpy(&xlen, xsdt + offsetof(struct acpi_header, length), sizeof(xlen));
    for (size_t off = sizeof(struct acpi_header); off + 8 <= xlen; off += 8) {
        const uint8_t *t;
        uint64_t addr;

        memcpy(&addr, xsdt + off, sizeof(addr));
        t = acpi_table_at(buf, len, base, addr);
        if (t && !memcmp(t, sig, 4))
            return t;
    }
    return NULL;
}
