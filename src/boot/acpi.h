/*
 * ACPI tables for the guest: RSDP, XSDT, FADT (+FACS), DSDT, MADT and,
 * when PCI ECAM is in use, MCFG.  The DSDT is emitted as AML bytes here,
 * so it follows the configuration without a table compiler.
 *
 * The platform they describe (see boot/layout.h): full (not hardware-
 * reduced) ACPI with PM1a event/control blocks and the PM timer at
 * PORT_ACPI_*, SCI on ACPI_SCI_IRQ (level, active high), fixed-feature
 * power button, no sleep button, reset register at PORT_ACPI_RESET, ACPI
 * mode always on (SMI_CMD 0).  \_S5 is {5, 5, 0, 0}: writing SLP_TYP 5
 * with SLP_EN to PM1a_CNT means "soft off".
 */
#ifndef KVMM_BOOT_ACPI_H
#define KVMM_BOOT_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define ACPI_MAX_CPUS   255  /* one xAPIC id (0..254) per vCPU */
#define ACPI_S5_SLP_TYP 5    /* SLP_TYP value of \_S5 */

/* Table layouts (ACPI 6.0).  Plain data, shared with the guest. */
struct acpi_rsdp {
    char signature[8];          /* "RSD PTR " */
    uint8_t checksum;           /* over the first 20 bytes */
    char oem_id[6];
    uint8_t revision;           /* 2: XSDT present */
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t ext_checksum;       /* over all `length` bytes */
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header layout");

/* Generic Address Structure */
struct acpi_gas {
    uint8_t space_id;           /* ACPI_GAS_* */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;        /* 0 undefined, 1 byte, 2 word, 3 dword */
    uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS layout");

#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO     1

struct acpi_fadt {
    struct acpi_header header;
    uint32_t firmware_ctrl;
    uint32_t dsdt;
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    uint8_t acpi_disable;
    uint8_t s4bios_req;
    uint8_t pstate_cnt;
    uint32_t pm1a_evt_blk;
    uint32_t pm1b_evt_blk;
    uint32_t pm1a_cnt_blk;
    uint32_t pm1b_cnt_blk;
    uint32_t pm2_cnt_blk;
    uint32_t pm_tmr_blk;
    uint32_t gpe0_blk;
    uint32_t gpe1_blk;
    uint8_t pm1_evt_len;
    uint8_t pm1_cnt_len;
    uint8_t pm2_cnt_len;
    uint8_t pm_tmr_len;
    uint8_t gpe0_blk_len;
    uint8_t gpe1_blk_len;
    uint8_t gpe1_base;
    uint8_t cst_cnt;
    uint16_t p_lvl2_lat;
    uint16_t p_lvl3_lat;
    uint16_t flush_size;
    uint16_t flush_stride;
    uint8_t duty_offset;
    uint8_t duty_width;
    uint8_t day_alrm;
    uint8_t mon_alrm;
    uint8_t century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_revision;
    uint64_t x_firmware_ctrl;
    uint64_t x_dsdt;
    struct acpi_gas x_pm1a_evt_blk;
    struct acpi_gas x_pm1b_evt_blk;
    struct acpi_gas x_pm1a_cnt_blk;
    struct acpi_gas x_pm1b_cnt_blk;
    struct acpi_gas x_pm2_cnt_blk;
    struct acpi_gas x_pm_tmr_blk;
    struct acpi_gas x_gpe0_blk;
    struct acpi_gas x_gpe1_blk;
    struct acpi_gas sleep_control_reg;
    struct acpi_gas sleep_status_reg;
    uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");

#define FADT_F_WBINVD        (1u << 0)
#define FADT_F_PROC_C1       (1u << 2)
#define FADT_F_PWR_BUTTON    (1u << 4)   /* set = no fixed power button */
#define FADT_F_SLP_BUTTON    (1u << 5)   /* set = no fixed sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED    (1u << 20)
#define FADT_BOOT_LEGACY     (1u << 0)
#define FADT_BOOT_8042       (1u << 1)

struct acpi_facs {
    char signature[4];          /* "FACS"; no checksum */
    uint32_t length;
    uint32_t hardware_signature;
    uint32_t waking_vector;
    uint32_t global_lock;
    uint32_t flags;
    uint64_t x_waking_vector;
    uint8_t version;
    uint8_t reserved0[3];
    uint32_t ospm_flags;
    uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS layout");

struct acpi_madt {
    struct acpi_header header;
    uint32_t lapic_address;
    uint32_t flags;             /* MADT_PCAT_COMPAT */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT layout");

#define MADT_PCAT_COMPAT 1u

enum madt_type {
    MADT_LAPIC = 0,
    MADT_IOAPIC = 1,
    MADT_INT_OVERRIDE = 2,
    MADT_LAPIC_NMI = 4,
};

struct madt_lapic {
    uint8_t type, length;
    uint8_t processor_uid;
    uint8_t apic_id;
    uint32_t flags;             /* bit 0: enabled */
} __attribute__((packed));
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT LAPIC layout");

struct madt_ioapic {
    uint8_t type, length;
    uint8_t ioapic_id;
    uint8_t reserved;
    uint32_t address;
    uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT IOAPIC layout");

struct madt_int_override {
    uint8_t type, length;
    uint8_t bus;                /* 0: ISA */
    uint8_t source;             /* ISA IRQ */
    uint32_t gsi;
    uint16_t flags;             /* MPS INTI flags */
} __attribute__((packed));
_Static_assert(sizeof(struct madt_int_override) == 10, "MADT ISO layout");

#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL       0xC

struct madt_lapic_nmi {
    uint8_t type, length;
    uint8_t processor_uid;      /* 0xFF: all processors */
    uint16_t flags;
    uint8_t lint;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT NMI layout");

struct acpi_mcfg {
    struct acpi_header header;
    uint8_t reserved[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG layout");

struct mcfg_allocation {
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus;
    uint8_t end_bus;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mcfg_allocation) == 16, "MCFG entry layout");

struct acpi_config {
    unsigned ncpus;   /* 1..ACPI_MAX_CPUS; LAPIC ids 0..ncpus-1 */
    bool ecam;        /* describe LAYOUT_ECAM in an MCFG table */
};

/*
 * Build all tables into buf[0..buflen), zeroing what they do not use.  The
 * caller copies buf to guest physical address `base` (16-byte aligned,
 * normally LAYOUT_ACPI); every pointer between tables is base + offset.
 * The RSDP comes first, at `base`; its address is stored in *rsdp_out.
 * Returns 0, -EINVAL for a bad config or base, or -ENOSPC if buf is too
 * small (nothing is written past buflen).
 */
int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t buflen,
               gpa_t base, gpa_t *rsdp_out) WUR;

/*
 * Find the table with signature `sig` by walking RSDP -> XSDT in a buffer
 * built by acpi_build() for `base`.  "FACS" and "DSDT" are found through
 * the FADT.  Every pointer and length is bounds-checked against buf;
 * returns NULL if the table is absent or anything on the way is malformed.
 */
const void *acpi_find_table(const uint8_t *buf, size_t len, gpa_t base,
                            gpa_t rsdp, const char sig[4]);

#endif
